"""Tests for mediaserver.rtc.sdp: parsing, publish/subscribe/WHEP negotiation, aiortc interop and fuzzing."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util

import pytest

from mediaserver.rtc import sdp as S
from mediaserver.rtc.sdp import (
    Codec,
    LocalParams,
    OfferedTrack,
    SdpError,
    answer_publish,
    answer_whep,
    apply_subscribe_answer,
    match_codec,
    offer_subscribe,
    parse,
)

HAVE_AIORTC = importlib.util.find_spec("aiortc") is not None
HAVE_HYPOTHESIS = importlib.util.find_spec("hypothesis") is not None

FP = ":".join(f"{b:02X}" for b in range(0xA0, 0xC0))  # 32 bytes
SERVER_FP = ":".join(f"{b:02X}" for b in range(0x10, 0x30))

# A Chromium (M120-ish) publish offer: audio + video sendonly, BUNDLE, RED/ULPFEC, AV1, H264 variants.
CHROME_OFFER = f"""v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS stream-a
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:Zq4X
a=ice-pwd:m6Xl1xq1VWD0JHsVd2yrW0gS
a=ice-options:trickle
a=fingerprint:sha-256 {FP}
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendonly
a=msid:stream-a audio-track-1
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:1001 cname:cname-abc
a=ssrc:1001 msid:stream-a audio-track-1
m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102 103 104 105 106 107 108 109 127 125 39 40 45 46 112 113 116 117 118
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:Zq4X
a=ice-pwd:m6Xl1xq1VWD0JHsVd2yrW0gS
a=ice-options:trickle
a=fingerprint:sha-256 {FP}
a=setup:actpass
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:9 https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=extmap:12 http://www.webrtc.org/experiments/rtp-hdrext/video-layers-allocation00
a=sendonly
a=msid:stream-a video-track-1
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:98 VP9/90000
a=rtcp-fb:98 goog-remb
a=rtcp-fb:98 transport-cc
a=rtcp-fb:98 ccm fir
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 VP9/90000
a=rtcp-fb:100 goog-remb
a=rtcp-fb:100 transport-cc
a=rtcp-fb:100 ccm fir
a=rtcp-fb:100 nack
a=rtcp-fb:100 nack pli
a=fmtp:100 profile-id=2
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:102 H264/90000
a=rtcp-fb:102 goog-remb
a=rtcp-fb:102 transport-cc
a=rtcp-fb:102 ccm fir
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=rtcp-fb:104 goog-remb
a=rtcp-fb:104 transport-cc
a=rtcp-fb:104 ccm fir
a=rtcp-fb:104 nack
a=rtcp-fb:104 nack pli
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:105 rtx/90000
a=fmtp:105 apt=104
a=rtpmap:106 H264/90000
a=rtcp-fb:106 goog-remb
a=rtcp-fb:106 transport-cc
a=rtcp-fb:106 ccm fir
a=rtcp-fb:106 nack
a=rtcp-fb:106 nack pli
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=106
a=rtpmap:108 H264/90000
a=rtcp-fb:108 goog-remb
a=rtcp-fb:108 transport-cc
a=rtcp-fb:108 ccm fir
a=rtcp-fb:108 nack
a=rtcp-fb:108 nack pli
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:127 H264/90000
a=rtcp-fb:127 goog-remb
a=rtcp-fb:127 transport-cc
a=rtcp-fb:127 ccm fir
a=rtcp-fb:127 nack
a=rtcp-fb:127 nack pli
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:125 rtx/90000
a=fmtp:125 apt=127
a=rtpmap:39 H264/90000
a=rtcp-fb:39 goog-remb
a=rtcp-fb:39 transport-cc
a=rtcp-fb:39 ccm fir
a=rtcp-fb:39 nack
a=rtcp-fb:39 nack pli
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:45 AV1/90000
a=rtcp-fb:45 goog-remb
a=rtcp-fb:45 transport-cc
a=rtcp-fb:45 ccm fir
a=rtcp-fb:45 nack
a=rtcp-fb:45 nack pli
a=fmtp:45 level-idx=5;profile=0;tier=0
a=rtpmap:46 rtx/90000
a=fmtp:46 apt=45
a=rtpmap:112 H264/90000
a=rtcp-fb:112 goog-remb
a=rtcp-fb:112 transport-cc
a=rtcp-fb:112 ccm fir
a=rtcp-fb:112 nack
a=rtcp-fb:112 nack pli
a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f
a=rtpmap:113 rtx/90000
a=fmtp:113 apt=112
a=rtpmap:116 red/90000
a=rtpmap:117 rtx/90000
a=fmtp:117 apt=116
a=rtpmap:118 ulpfec/90000
a=ssrc-group:FID 2001 2002
a=ssrc:2001 cname:cname-abc
a=ssrc:2001 msid:stream-a video-track-1
a=ssrc:2002 cname:cname-abc
a=ssrc:2002 msid:stream-a video-track-1
""".replace("\n", "\r\n")  # noqa: E501  (a real Chrome offer: SDP lines are not wrapped)

# Chromium simulcast offer (addTransceiver with sendEncodings q/h/f): rids, no a=ssrc lines.
CHROME_SIMULCAST_OFFER = f"""v=0
o=- 1234567890123456789 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0
a=extmap-allow-mixed
a=msid-semantic: WMS stream-s
m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:Sim1
a=ice-pwd:abcdefghijklmnopqrstuvwx
a=ice-options:trickle
a=fingerprint:sha-256 {FP}
a=setup:actpass
a=mid:0
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendonly
a=msid:stream-s video-sim
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:98 H264/90000
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rid:q send
a=rid:h send
a=rid:f send
a=simulcast:send q;h;f
""".replace("\n", "\r\n")

# A Safari 18 (macOS) publish offer, as WebKit's libwebrtc writes it (issue 15): camera as three rid layers
# (sendEncodings q/h/f), H.264 first (High 640c1f, then Constrained Baseline 42e01f, each with packetization
# mode 1 and 0), H.265 without fmtp, VP8, VP9 profiles 0 and 2, red/ulpfec; no a=rtcp-rsize on audio; an
# ice-ufrag with '+' and '/'. Older Safari versions offer the same without the pm=0 and H.265 entries.
SAFARI_OFFER = f"""v=0
o=- 985372420936776446 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS bc57d7ff-a695-4aa3-b860-7de2e4494fed
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:+/pY
a=ice-pwd:svCwcEunmp3xe5js1YGHMWI8
a=ice-options:trickle
a=fingerprint:sha-256 {FP}
a=setup:actpass
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=sendonly
a=msid:bc57d7ff-a695-4aa3-b860-7de2e4494fed 833dba34-201d-4710-b1ce-8273bf20a245
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:3752912407 cname:W9fxFNX3Hbg++rZC
a=ssrc:3752912407 msid:bc57d7ff-a695-4aa3-b860-7de2e4494fed 833dba34-201d-4710-b1ce-8273bf20a245
m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 102 103 104 105 106 107 108 109 127 125 112 113 114
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:+/pY
a=ice-pwd:svCwcEunmp3xe5js1YGHMWI8
a=ice-options:trickle
a=fingerprint:sha-256 {FP}
a=setup:actpass
a=mid:1
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:13 urn:3gpp:video-orientation
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01
a=extmap:12 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay
a=extmap:11 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing
a=extmap:9 http://www.webrtc.org/experiments/rtp-hdrext/color-space
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid
a=extmap:5 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id
a=extmap:6 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id
a=sendonly
a=msid:bc57d7ff-a695-4aa3-b860-7de2e4494fed 5cf4c7de-5b1c-4b7a-a3a6-2b1cbd2c4f0e
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 H264/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:98 H264/90000
a=rtcp-fb:98 goog-remb
a=rtcp-fb:98 transport-cc
a=rtcp-fb:98 ccm fir
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 H264/90000
a=rtcp-fb:100 goog-remb
a=rtcp-fb:100 transport-cc
a=rtcp-fb:100 ccm fir
a=rtcp-fb:100 nack
a=rtcp-fb:100 nack pli
a=fmtp:100 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=640c1f
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:102 H264/90000
a=rtcp-fb:102 goog-remb
a=rtcp-fb:102 transport-cc
a=rtcp-fb:102 ccm fir
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H265/90000
a=rtcp-fb:104 goog-remb
a=rtcp-fb:104 transport-cc
a=rtcp-fb:104 ccm fir
a=rtcp-fb:104 nack
a=rtcp-fb:104 nack pli
a=rtpmap:105 rtx/90000
a=fmtp:105 apt=104
a=rtpmap:106 VP8/90000
a=rtcp-fb:106 goog-remb
a=rtcp-fb:106 transport-cc
a=rtcp-fb:106 ccm fir
a=rtcp-fb:106 nack
a=rtcp-fb:106 nack pli
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=106
a=rtpmap:108 VP9/90000
a=rtcp-fb:108 goog-remb
a=rtcp-fb:108 transport-cc
a=rtcp-fb:108 ccm fir
a=rtcp-fb:108 nack
a=rtcp-fb:108 nack pli
a=fmtp:108 profile-id=0
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:127 VP9/90000
a=rtcp-fb:127 goog-remb
a=rtcp-fb:127 transport-cc
a=rtcp-fb:127 ccm fir
a=rtcp-fb:127 nack
a=rtcp-fb:127 nack pli
a=fmtp:127 profile-id=2
a=rtpmap:125 rtx/90000
a=fmtp:125 apt=127
a=rtpmap:112 red/90000
a=rtpmap:113 rtx/90000
a=fmtp:113 apt=112
a=rtpmap:114 ulpfec/90000
a=rid:q send
a=rid:h send
a=rid:f send
a=simulcast:send q;h;f
""".replace("\n", "\r\n")

LOCAL = LocalParams(
    ice_ufrag="srv1",
    ice_pwd="serverpasswordserverpassword",
    fingerprint=SERVER_FP,
    setup="passive",
    candidates=[("127.0.0.1", 40000, "udp"), ("127.0.0.1", 40001, "tcp")],
)


def lines_of(text: str) -> list[str]:
    return text.replace("\r\n", "\n").split("\n")


def edit(sdp: str, remove: tuple[str, ...] = (), replace: dict[str, str] | None = None) -> str:
    """Drop lines starting with any of ``remove`` and apply textual replacements."""
    out = [line for line in sdp.split("\r\n") if not any(line.startswith(r) for r in remove)]
    text = "\r\n".join(out)
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    return text


def media_block(sdp: str, index: int) -> list[str]:
    """Lines of the index-th m-section of ``sdp``."""
    blocks: list[list[str]] = []
    for line in lines_of(sdp):
        if line.startswith("m="):
            blocks.append([])
        if blocks:
            blocks[-1].append(line)
    return [line for line in blocks[index] if line]


# ------------------------------------------------------------------------------------------------ parse


def test_parse_chrome_offer() -> None:
    desc = parse(CHROME_OFFER)
    assert desc.ice_ufrag == "Zq4X" and desc.ice_pwd == "m6Xl1xq1VWD0JHsVd2yrW0gS"
    assert desc.fingerprint_algorithm == "sha-256"
    assert desc.fingerprint == bytes(range(0xA0, 0xC0))
    assert desc.setup == "actpass" and desc.bundle == ["0", "1"] and not desc.ice_lite
    audio, video = desc.media
    assert (audio.mid, audio.kind, audio.direction, audio.port) == ("0", "audio", "sendonly", 9)
    assert [c.name for c in audio.codecs] == [
        "opus", "red", "G722", "PCMU", "PCMA", "CN", "telephone-event", "telephone-event",
    ]  # fmt: skip
    opus = audio.codecs[0]
    assert (opus.payload_type, opus.clock_rate, opus.channels) == (111, 48000, 2)
    assert opus.fmtp == {"minptime": "10", "useinbandfec": "1"} and opus.rtcp_fb == ["transport-cc"]
    assert opus.rtx_payload_type is None
    assert audio.codecs[1].fmtp == {"111/111": ""}
    assert audio.extensions[S.EXT_AUDIO_LEVEL] == 1 and audio.extensions[S.EXT_MID] == 4
    assert audio.ssrcs == [1001] and audio.rtx_ssrcs == {} and audio.cname == "cname-abc"
    assert audio.msid == "stream-a audio-track-1" and audio.rtcp_mux and audio.rtcp_rsize

    assert video.direction == "sendonly" and video.rids == [] and not video.rejected
    by_pt = {c.payload_type: c for c in video.codecs}
    assert "rtx" not in {c.name for c in video.codecs}
    assert by_pt[96].name == "VP8" and by_pt[96].rtx_payload_type == 97
    assert by_pt[96].rtcp_fb == ["goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"]
    assert by_pt[98].fmtp == {"profile-id": "0"} and by_pt[98].rtx_payload_type == 99
    assert by_pt[106].fmtp["profile-level-id"] == "42e01f" and by_pt[106].rtx_payload_type == 107
    assert by_pt[116].name == "red" and by_pt[116].rtx_payload_type == 117
    assert by_pt[118].name == "ulpfec" and by_pt[118].rtx_payload_type is None
    assert len(video.extensions) == 13 and video.extensions[S.EXT_RID] == 10
    assert video.ssrcs == [2001] and video.rtx_ssrcs == {2001: 2002}
    assert video.msid == "stream-a video-track-1"


def test_parse_lf_and_crlf_are_equivalent() -> None:
    assert parse(CHROME_OFFER.replace("\r\n", "\n")) == parse(CHROME_OFFER)


def test_parse_session_level_transport_attributes() -> None:
    text = edit(
        CHROME_OFFER,
        remove=("a=ice-ufrag", "a=ice-pwd", "a=fingerprint", "a=setup"),
        replace={
            "a=extmap-allow-mixed": (
                f"a=extmap-allow-mixed\r\na=ice-ufrag:sess\r\na=ice-pwd:sessionpasswordsessionpw\r\n"
                f"a=fingerprint:SHA-256 {FP}\r\na=setup:passive"
            )
        },
    )
    desc = parse(text)
    assert (desc.ice_ufrag, desc.ice_pwd, desc.setup) == ("sess", "sessionpasswordsessionpw", "passive")
    assert desc.fingerprint_algorithm == "sha-256"


def test_parse_media_level_wins_and_first_bundled_section_is_used() -> None:
    text = edit(
        CHROME_OFFER,
        replace={
            "a=group:BUNDLE 0 1": "a=group:BUNDLE 1 "
            "0\r\na=ice-ufrag:sess\r\na=ice-pwd:sessionpasswordsessionpw",
            "a=mid:1": "a=mid:1\r\na=ice-ufrag:vid1",
        },
    )
    desc = parse(text)
    assert desc.ice_ufrag == "vid1"  # media level of the BUNDLE-tag section (mid 1)
    assert desc.ice_pwd == "m6Xl1xq1VWD0JHsVd2yrW0gS"


def test_parse_aiortc_style_multiple_fingerprints_prefers_sha256() -> None:
    sha512 = ":".join(["AB"] * 64)
    text = edit(CHROME_OFFER, replace={f"a=fingerprint:sha-256 {FP}": f"a=fingerprint:sha-512 {sha512}"})
    assert parse(text).fingerprint_algorithm == "sha-512"
    text = edit(
        CHROME_OFFER,
        replace={
            f"a=fingerprint:sha-256 {FP}": f"a=fingerprint:sha-512 {sha512}\r\na=fingerprint:sha-256 {FP}"
        },
    )
    assert parse(text).fingerprint_algorithm == "sha-256"
    sha1 = ":".join(["01"] * 20)
    text = edit(CHROME_OFFER, replace={f"a=fingerprint:sha-256 {FP}": f"a=fingerprint:sha-1 {sha1}"})
    desc = parse(text)
    assert desc.fingerprint_algorithm == "sha-1" and desc.fingerprint == b"\x01" * 20


def test_parse_simulcast_offer() -> None:
    desc = parse(CHROME_SIMULCAST_OFFER)
    (video,) = desc.media
    assert video.rids == ["q", "h", "f"] and video.ssrcs == [] and video.rtx_ssrcs == {}
    reordered = edit(CHROME_SIMULCAST_OFFER, replace={"a=simulcast:send q;h;f": "a=simulcast:send f;~h,q"})
    assert parse(reordered).media[0].rids == ["f", "h", "q"]


def test_parse_firefox_style_attributes() -> None:
    text = edit(
        CHROME_SIMULCAST_OFFER,
        remove=("a=fingerprint",),
        replace={
            "a=simulcast:send q;h;f": "a=simulcast: send rid=f;h;q",
            "a=extmap:4 ": "a=extmap:4/sendonly ",
            "a=extmap-allow-mixed": f"a=fingerprint:sha-256 {FP}",
            "a=rtpmap:96 VP8/90000": "a=rtpmap:96 VP8/90000\r\na=fmtp:96 max-fs=12288;max-fr=60",
        },
    )
    (video,) = parse(text).media
    assert video.rids == ["f", "h", "q"] and video.extensions[S.EXT_MID] == 4
    assert video.codecs[0].fmtp == {"max-fs": "12288", "max-fr": "60"}


def test_parse_rejected_and_bundle_only_sections() -> None:
    text = (
        CHROME_OFFER + "m=application 0 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:2\r\n"
    )
    desc = parse(text)
    assert desc.media[2].rejected and desc.media[2].kind == "application" and desc.media[2].port == 0
    # port 0 + bundle-only is not a rejection, and then it must be in the BUNDLE group
    bundled = edit(CHROME_OFFER, replace={"m=video 9 ": "m=video 0 ", "a=mid:1": "a=mid:1\r\na=bundle-only"})
    assert not parse(bundled).media[1].rejected
    # a rejected section needs neither rtcp-mux nor BUNDLE membership
    rejected = edit(
        CHROME_OFFER, replace={"m=video 9 ": "m=video 0 ", "a=group:BUNDLE 0 1": "a=group:BUNDLE 0"}
    )
    desc = parse(edit(rejected, remove=("a=rtcp-mux",), replace={"a=mid:0": "a=mid:0\r\na=rtcp-mux"}))
    assert desc.media[1].rejected and desc.bundle == ["0"]


def test_parse_single_section_without_bundle() -> None:
    text = edit(CHROME_SIMULCAST_OFFER, remove=("a=group:BUNDLE",))
    assert parse(text).bundle == []


def test_parse_candidates_and_ice_lite() -> None:
    text = edit(
        CHROME_OFFER,
        replace={
            "a=mid:0": "a=mid:0\r\na=candidate:1 1 udp 2122260223 192.0.2.1 50000 typ "
            "host\r\na=end-of-candidates",
            "t=0 0": "t=0 0\r\na=ice-lite",
        },
    )
    desc = parse(text)
    assert desc.candidates == ["candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host"] and desc.ice_lite


def _bad(sdp: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        parse(sdp)


def test_error_empty_and_non_sdp() -> None:
    _bad("", "empty SDP")
    _bad("\r\n  \r\n", "empty SDP")
    _bad("hello world", r"line 1: not an SDP line")
    _bad('{"type": "offer", "sdp": "v=0"}', r"line 1: not an SDP line")
    _bad(b"v=0\r\n", "SDP must be text")  # type: ignore[arg-type]
    _bad("v=0\r\n" + "a=x\r\n" * (S.MAX_SDP_LENGTH // 5), "too large")
    _bad("v=0\r\na=foo\x00bar\r\n", r"line 2: control character")
    _bad("v=0\r\n" + "m=audio 0 RTP/AVP 0\r\n" * 1025, r"line 1026: too many m= sections")


def test_error_missing_version() -> None:
    _bad(CHROME_OFFER.split("\r\n", 1)[1], r"line 1: missing v= line")
    _bad("v=1\r\n" + CHROME_OFFER.split("\r\n", 1)[1], r"unsupported SDP version")


def test_error_no_media_sections() -> None:
    _bad(CHROME_OFFER.split("m=audio")[0], "SDP has no m= sections")


def test_error_missing_ice_credentials() -> None:
    _bad(
        edit(CHROME_OFFER, remove=("a=ice-ufrag",)),
        r"missing a=ice-ufrag \(at session level or in m-section 0",
    )
    _bad(edit(CHROME_OFFER, remove=("a=ice-pwd",)), r"missing a=ice-pwd")
    _bad(
        edit(CHROME_OFFER, replace={"a=ice-pwd:m6Xl1xq1VWD0JHsVd2yrW0gS": "a=ice-pwd:"}),
        r"line 12: invalid a=ice-pwd",
    )


def test_error_fingerprint() -> None:
    _bad(edit(CHROME_OFFER, remove=("a=fingerprint",)), r"missing a=fingerprint")
    md5 = ":".join(["AA"] * 16)
    _bad(
        edit(CHROME_OFFER, replace={f"a=fingerprint:sha-256 {FP}": f"a=fingerprint:md5 {md5}"}),
        r"unsupported a=fingerprint algorithm 'md5'",
    )
    _bad(
        edit(CHROME_OFFER, replace={f"sha-256 {FP}": "sha-256 AB:CD"}),
        r"line 14: sha-256 fingerprint has 2 bytes",
    )
    _bad(
        edit(CHROME_OFFER, replace={f"sha-256 {FP}": "sha-256 XY:ZZ"}),
        r"line 14: malformed a=fingerprint value",
    )
    _bad(edit(CHROME_OFFER, replace={f"sha-256 {FP}": "sha-256"}), r"line 14: malformed a=fingerprint")


def test_error_malformed_rtpmap_and_fmtp() -> None:
    _bad(
        edit(CHROME_OFFER, replace={"a=rtpmap:111 opus/48000/2": "a=rtpmap:111 opus"}),
        r"line \d+: malformed a=rtpmap",
    )
    _bad(edit(CHROME_OFFER, replace={"a=rtpmap:96 VP8/90000": "a=rtpmap:x VP8/90000"}), r"malformed a=rtpmap")
    _bad(
        edit(CHROME_OFFER, replace={"a=rtpmap:96 VP8/90000": "a=rtpmap:200 VP8/90000"}), r"malformed a=rtpmap"
    )
    _bad(edit(CHROME_OFFER, replace={"a=rtpmap:96 VP8/90000": "a=rtpmap:96 VP8/90000\r\na=rtpmap:96 "
                                                              "VP9/90000"}),
         r"duplicate a=rtpmap for payload type 96")  # fmt: skip
    _bad(edit(CHROME_OFFER, replace={"a=fmtp:97 apt=96": "a=fmtp:97"}), r"line \d+: malformed a=fmtp")
    _bad(edit(CHROME_OFFER, replace={"a=fmtp:97 apt=96": "a=fmtp:abc apt=96"}), r"malformed a=fmtp")
    _bad(edit(CHROME_OFFER, replace={"a=fmtp:97 apt=96": "a=fmtp:97 =96"}), r"malformed a=fmtp parameter")
    _bad(edit(CHROME_OFFER, replace={"a=extmap:14 ": "a=extmap:0 "}), r"malformed a=extmap")
    _bad(edit(CHROME_OFFER, replace={"a=ssrc:1001 cname": "a=ssrc:x cname"}), r"malformed a=ssrc")
    _bad(edit(CHROME_OFFER, replace={"m=video 9 UDP/TLS/RTP/SAVPF 96": "m=video 9 UDP/TLS/RTP/SAVPF foo"}),
         r"invalid payload type 'foo' in m= line")  # fmt: skip
    _bad(edit(CHROME_OFFER, replace={"m=video 9 ": "m=video 99999 "}), r"invalid port")
    m_video = next(line for line in CHROME_OFFER.split("\r\n") if line.startswith("m=video"))
    _bad(edit(CHROME_OFFER, replace={m_video: "m=video 9 UDP/TLS/RTP/SAVPF"}), r"line 38: malformed m= line")


def test_error_setup() -> None:
    _bad(
        edit(CHROME_OFFER, replace={"a=setup:actpass": "a=setup:holdconn"}),
        r"line 15: unknown a=setup value 'holdconn'",
    )
    _bad(edit(CHROME_OFFER, replace={"a=setup:actpass": "a=setup:"}), r"unknown a=setup value")


def test_error_rtcp_mux_required() -> None:
    text = edit(
        CHROME_OFFER, replace={"a=rtcp-mux\r\na=rtcp-rsize\r\na=rtpmap:96": "a=rtcp-rsize\r\na=rtpmap:96"}
    )
    _bad(text, r"m-section 1 \(mid 1\): a=rtcp-mux is required")


def test_error_bundle() -> None:
    _bad(edit(CHROME_OFFER, remove=("a=group:BUNDLE",)), r"m-section 0 \(mid 0\) is not in a=group:BUNDLE")
    _bad(
        edit(CHROME_OFFER, replace={"BUNDLE 0 1": "BUNDLE 0"}),
        r"m-section 1 \(mid 1\) is not in a=group:BUNDLE",
    )
    _bad(
        edit(CHROME_OFFER, replace={"BUNDLE 0 1": "BUNDLE 0 1 7"}),
        r"a=group:BUNDLE references unknown mid '7'",
    )
    _bad(
        edit(CHROME_OFFER, replace={"BUNDLE 0 1": "BUNDLE 0 1\r\na=group:BUNDLE 0"}),
        r"more than one a=group:BUNDLE",
    )


def test_error_mids_and_simulcast() -> None:
    _bad(edit(CHROME_OFFER, remove=("a=mid:1",)), r"m-section 1 \(line \d+\): missing a=mid")
    _bad(edit(CHROME_OFFER, replace={"a=mid:1": "a=mid:0", "BUNDLE 0 1": "BUNDLE 0"}), r"duplicate mid '0'")
    _bad(
        edit(CHROME_SIMULCAST_OFFER, remove=("a=rid:h",)),
        r"a=simulcast send rid 'h' has no matching 'a=rid:h send'",
    )
    _bad(
        edit(CHROME_SIMULCAST_OFFER, replace={"a=simulcast:send q;h;f": "a=simulcast:send"}),
        r"malformed a=simulcast",
    )
    _bad(edit(CHROME_SIMULCAST_OFFER, replace={"a=rid:q send": "a=rid:q sideways"}), r"malformed a=rid")


def test_parse_is_robust_against_internal_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object) -> None:
        raise KeyError("bug")

    monkeypatch.setattr(S, "_finish", boom)
    _bad(CHROME_OFFER, r"malformed SDP \(KeyError\)")


# ----------------------------------------------------------------------------------------- codecs


def test_match_codec() -> None:
    h264 = Codec(102, "H264", 90000, fmtp={"packetization-mode": "1", "profile-level-id": "42e01f"})
    assert match_codec(
        h264, Codec(7, "h264", 90000, fmtp={"packetization-mode": "1", "profile-level-id": "42E034"})
    )
    assert not match_codec(
        h264, Codec(7, "H264", 90000, fmtp={"packetization-mode": "0", "profile-level-id": "42e01f"})
    )
    assert not match_codec(
        h264, Codec(7, "H264", 90000, fmtp={"packetization-mode": "1", "profile-level-id": "42001f"})
    )
    assert not match_codec(h264, Codec(7, "H264", 90000, fmtp={"packetization-mode": "1"}))  # default 420010
    vp9 = Codec(98, "VP9", 90000)
    assert match_codec(vp9, Codec(1, "vp9", 90000, fmtp={"profile-id": "0"}))
    assert not match_codec(vp9, Codec(1, "VP9", 90000, fmtp={"profile-id": "2"}))
    assert match_codec(Codec(111, "opus", 48000, 2), Codec(96, "OPUS", 48000, 2))
    assert not match_codec(Codec(111, "opus", 48000, 2), Codec(96, "opus", 48000, 1))
    assert not match_codec(Codec(96, "VP8", 90000), Codec(96, "VP8", 48000))
    assert not match_codec(Codec(96, "VP8", 90000), Codec(96, "VP9", 90000))


def test_is_supported_codec() -> None:
    ok = S.is_supported_codec
    assert ok(Codec(111, "opus", 48000, 2), "audio") and not ok(Codec(0, "PCMU", 8000), "audio")
    assert ok(Codec(96, "vp8", 90000), "video") and not ok(Codec(96, "VP8", 90000), "audio")
    assert ok(Codec(98, "VP9", 90000, fmtp={"profile-id": "2"}), "video")
    assert not ok(Codec(98, "VP9", 90000, fmtp={"profile-id": "1"}), "video")
    base = {"packetization-mode": "1", "profile-level-id": "42e01f"}
    assert ok(Codec(1, "H264", 90000, fmtp=base), "video")
    assert not ok(Codec(1, "H264", 90000, fmtp={**base, "packetization-mode": "0"}), "video")
    assert not ok(Codec(1, "H264", 90000, fmtp={**base, "profile-level-id": "4d001f"}), "video")
    assert ok(
        Codec(1, "H264", 90000, fmtp={**base, "profile-level-id": "4d001f", "level-asymmetry-allowed": "1"}),
        "video",
    )
    assert not ok(
        Codec(1, "H264", 90000, fmtp={**base, "profile-level-id": "f4001f", "level-asymmetry-allowed": "1"}),
        "video",
    )
    assert not ok(Codec(45, "AV1", 90000), "video")
    assert [c.name for c in S.default_codecs("video")][:3] == ["VP8", "VP9", "VP9"]
    assert S.default_codecs("audio")[0] is not S.SUPPORTED_CODECS["audio"][0]


# ---------------------------------------------------------------------------------------- publish


def test_answer_publish_chrome() -> None:
    answer, negotiated = answer_publish(parse(CHROME_OFFER), LOCAL)
    lines = lines_of(answer)
    assert lines[:4] == ["v=0", lines[1], "s=-", "t=0 0"] and lines[1].startswith("o=- ")
    assert lines[1].endswith(" 1 IN IP4 0.0.0.0") and "a=ice-lite" in lines and "a=group:BUNDLE 0 1" in lines
    assert answer.endswith("\r\n") and "\n" not in answer.replace("\r\n", "")

    audio = media_block(answer, 0)
    assert audio[0] == "m=audio 9 UDP/TLS/RTP/SAVPF 111" and audio[1] == "c=IN IP4 0.0.0.0"
    for expected in (
        "a=recvonly", "a=mid:0", "a=rtcp-mux", "a=rtcp-rsize", "a=ice-ufrag:srv1", "a=setup:passive",
        f"a=fingerprint:sha-256 {SERVER_FP}", "a=ice-pwd:serverpasswordserverpassword",
        "a=rtpmap:111 opus/48000/2", "a=fmtp:111 minptime=10;useinbandfec=1",
        f"a=extmap:1 {S.EXT_AUDIO_LEVEL}", f"a=extmap:4 {S.EXT_MID}", "a=end-of-candidates",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
        "a=candidate:2 1 tcp 2122317567 127.0.0.1 40001 typ host tcptype passive",
    ):  # fmt: skip
        assert expected in audio, expected
    video = media_block(answer, 1)
    # no operator preference: the publisher's own order of the supported codecs; no pm=0 / AV1 / red
    assert video[0] == "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 106 107 102 103 127 125 112 113"
    assert (
        "a=recvonly" in video
        and "a=rtcp-rsize" in video
        and not any(x.startswith("a=candidate") for x in video)
    )
    assert "a=rtcp-fb:96 nack pli" in video and "a=fmtp:97 apt=96" in video
    assert not any("toffset" in x or "video-orientation" in x or "a=extmap:12" in x for x in video)
    assert f"a=extmap:10 {S.EXT_RID}" in video
    # transport-wide-cc: the core sends its feedback to publishers (issue 5); no REMB toward a publisher
    assert f"a=extmap:3 {S.EXT_TRANSPORT_CC}" in video and "a=rtcp-fb:96 transport-cc" in video
    assert not any("goog-remb" in x for x in answer.splitlines())
    assert not any(x.startswith(("a=ssrc", "a=msid", "a=rid", "a=simulcast")) for x in video)

    na, nv = negotiated
    assert (na.mid, na.kind, na.direction, na.rejected) == ("0", "audio", "recvonly", False)
    assert [c.payload_type for c in na.codecs] == [111] and na.ssrcs == [1001] and na.cname == "cname-abc"
    assert na.msid == "stream-a audio-track-1"
    assert [(c.name, c.payload_type, c.rtx_payload_type) for c in nv.codecs] == [
        ("VP8", 96, 97), ("VP9", 98, 99), ("VP9", 100, 101), ("H264", 106, 107), ("H264", 102, 103),
        ("H264", 127, 125), ("H264", 112, 113),
    ]  # fmt: skip
    assert nv.codecs[0].rtcp_fb == ["transport-cc", "ccm fir", "nack", "nack pli"]  # goog-remb left out
    assert set(nv.extensions) == {
        S.EXT_MID,
        S.EXT_RID,
        S.EXT_REPAIRED_RID,
        S.EXT_ABS_SEND_TIME,
        S.EXT_TRANSPORT_CC,
        S.EXT_PLAYOUT_DELAY,
    }
    assert nv.ssrcs == [2001] and nv.rtx_ssrcs == {2001: 2002}

    # the answer is itself a valid SDP for our parser
    reparsed = parse(answer)
    assert reparsed.ice_lite and reparsed.setup == "passive" and reparsed.bundle == ["0", "1"]
    assert [m.direction for m in reparsed.media] == ["recvonly", "recvonly"]
    assert reparsed.candidates[0] == "candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host"


def test_answer_publish_codec_preference() -> None:
    _, negotiated = answer_publish(parse(CHROME_OFFER), LOCAL, ["h264", "VP8"], session_version=5)
    assert [c.payload_type for c in negotiated[1].codecs] == [106, 102, 127, 112, 96]
    assert [c.name for c in negotiated[0].codecs] == ["opus"]  # audio not mentioned -> default


def test_answer_publish_drops_transport_cc_feedback_without_extension() -> None:
    text = edit(CHROME_OFFER, remove=("a=extmap:3 ",))
    _, negotiated = answer_publish(parse(text), LOCAL)
    assert negotiated[0].codecs[0].rtcp_fb == []
    assert "transport-cc" not in negotiated[1].codecs[0].rtcp_fb


def test_answer_publish_simulcast() -> None:
    answer, negotiated = answer_publish(parse(CHROME_SIMULCAST_OFFER), LOCAL)
    video = media_block(answer, 0)
    assert video[-4:] == ["a=rid:q recv", "a=rid:h recv", "a=rid:f recv", "a=simulcast:recv q;h;f"]
    assert negotiated[0].rids == ["q", "h", "f"] and negotiated[0].ssrcs == []
    assert negotiated[0].extensions[S.EXT_RID] == 10 and negotiated[0].extensions[S.EXT_REPAIRED_RID] == 11


def test_parse_safari_offer() -> None:
    desc = parse(SAFARI_OFFER)
    assert desc.ice_ufrag == "+/pY" and desc.setup == "actpass" and desc.bundle == ["0", "1"]
    audio, video = desc.media
    assert [c.name for c in audio.codecs][:2] == ["opus", "red"] and audio.ssrcs == [3752912407]
    assert video.rids == ["q", "h", "f"] and video.ssrcs == [] and video.direction == "sendonly"
    assert [(c.name, c.payload_type, c.rtx_payload_type) for c in video.codecs][:6] == [
        ("H264", 96, 97), ("H264", 98, 99), ("H264", 100, 101), ("H264", 102, 103), ("H265", 104, 105),
        ("VP8", 106, 107),
    ]  # fmt: skip
    assert video.extensions[S.EXT_RID] == 5 and video.extensions[S.EXT_REPAIRED_RID] == 6


def test_answer_publish_safari_sends_constrained_baseline_h264() -> None:
    """Safari prefers H.264 High (640c1f), which Chromium on Linux cannot decode (its receivers offer 42001f,
    42e01f, 4d001f, f4001f): the answer puts Constrained Baseline 42e01f first, so Safari sends that and every
    viewer decodes it; H.264 with packetization-mode 0 and H.265 are left out; the rid layers are received."""
    answer, negotiated = answer_publish(parse(SAFARI_OFFER), LOCAL)
    na, nv = negotiated
    assert [c.name for c in na.codecs] == ["opus"] and na.rtx_ssrcs == {}
    assert [(c.name, c.payload_type, c.fmtp.get("profile-level-id")) for c in nv.codecs] == [
        ("H264", 98, "42e01f"), ("H264", 96, "640c1f"), ("VP8", 106, None), ("VP9", 108, None),
        ("VP9", 127, None),
    ]  # fmt: skip
    assert S.is_constrained_baseline(nv.codecs[0]) and nv.codecs[0].fmtp["packetization-mode"] == "1"
    assert nv.rids == ["q", "h", "f"] and nv.ssrcs == [] and nv.sim_ssrcs == []
    assert nv.codecs[0].rtcp_fb == ["transport-cc", "ccm fir", "nack", "nack pli"]  # no goog-remb
    assert set(nv.extensions) >= {S.EXT_RID, S.EXT_REPAIRED_RID, S.EXT_TRANSPORT_CC, S.EXT_MID}
    video = media_block(answer, 1)
    assert video[0] == "m=video 9 UDP/TLS/RTP/SAVPF 98 99 96 97 106 107 108 109 127 125"
    assert video[-4:] == ["a=rid:q recv", "a=rid:h recv", "a=rid:f recv", "a=simulcast:recv q;h;f"]
    assert "a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" in video
    assert "a=rtcp-rsize" not in media_block(answer, 0) and "a=rtcp-rsize" in video  # as Safari offered


def test_answer_publish_h264_first_from_chrome_is_constrained_baseline() -> None:
    """Chrome asked to send H.264 first (the SDK's videoCodec: 'H264') lists Baseline 42001f before 42e01f;
    Safari cannot decode 42001f, so the answer puts 42e01f first there too."""
    video = CHROME_OFFER.split("m=video 9 UDP/TLS/RTP/SAVPF ", 1)[1].split("\r\n", 1)[0]
    h264_first = CHROME_OFFER.replace(video, "102 103 104 105 106 107 108 109 127 125 112 113 96 97")
    _, negotiated = answer_publish(parse(h264_first), LOCAL)
    assert [c.payload_type for c in negotiated[1].codecs] == [106, 102, 127, 112, 96]
    assert negotiated[1].codecs[0].fmtp["profile-level-id"] == "42e01f"


def test_answer_publish_safari_without_transport_cc() -> None:
    """A Safari (or any libwebrtc) offer without transport-cc: the answer has none either, and no REMB (the
    core sends publishers no REMB), so the publisher adapts on the receiver reports' loss alone."""
    text = edit(SAFARI_OFFER, remove=("a=extmap:3 ", "a=rtcp-fb:111 transport-cc"))
    text = "\r\n".join(x for x in text.split("\r\n") if not x.endswith(" transport-cc"))
    answer, negotiated = answer_publish(parse(text), LOCAL)
    assert "transport-cc" not in answer and "goog-remb" not in answer
    assert S.EXT_TRANSPORT_CC not in negotiated[1].extensions
    assert negotiated[1].codecs[0].rtcp_fb == ["ccm fir", "nack", "nack pli"]
    assert negotiated[0].codecs[0].rtcp_fb == [] and negotiated[1].rids == ["q", "h", "f"]


def test_safari_receives_h264_with_remb_when_it_has_no_transport_cc() -> None:
    """A Safari subscriber's answer to the server's offer of a Constrained Baseline H.264 track (as a Safari
    publisher now sends it): the codec matches; without transport-cc it keeps goog-remb and abs-send-time, the
    core's fallback estimate for that subscriber."""
    h264 = S.default_codecs("video")[3]
    assert S.is_constrained_baseline(h264) and h264.payload_type == 102
    track = vp8_track("0", 6000)
    track.codecs = [h264]
    offer = offer_subscribe(SUB_LOCAL, [track], 1)
    lines = [
        x
        for x in lines_of(chrome_like_answer(offer))
        if not any(k in x for k in ("transport-cc", "transport-wide-cc", "rrtr"))  # no transport-cc, no XR
    ]
    result = apply_subscribe_answer([track], parse("\r\n".join(lines)))
    assert result[0].direction == "sendonly" and result[0].codecs[0].name == "H264"
    assert result[0].codecs[0].rtcp_fb == ["nack", "nack pli", "ccm fir", "goog-remb"]
    assert S.EXT_TRANSPORT_CC not in result[0].extensions and S.EXT_ABS_SEND_TIME in result[0].extensions


@pytest.mark.parametrize(
    ("offered", "preferred", "expected"),
    [("actpass", "passive", "passive"), ("actpass", "active", "active"), ("actpass", "actpass", "passive"),
     ("active", "active", "passive"), ("passive", "passive", "active")],
)  # fmt: skip
def test_answer_publish_setup(offered: str, preferred: str, expected: str) -> None:
    text = CHROME_OFFER.replace("a=setup:actpass", f"a=setup:{offered}")
    local = LocalParams(LOCAL.ice_ufrag, LOCAL.ice_pwd, LOCAL.fingerprint, preferred, LOCAL.candidates)
    answer, _ = answer_publish(parse(text), local)
    assert answer.count(f"a=setup:{expected}") == 2


def test_answer_publish_rejects_unusable_sections() -> None:
    text = (
        edit(
            CHROME_OFFER,
            replace={"a=sendonly\r\na=msid:stream-a video": "a=recvonly\r\na=msid:stream-a video"},
        )
        + "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 "
        "0.0.0.0\r\na=mid:2\r\na=sctp-port:5000\r\n"
    )
    text = text.replace("BUNDLE 0 1", "BUNDLE 0 1 2")
    answer, negotiated = answer_publish(parse(text), LOCAL)
    assert [n.rejected for n in negotiated] == [False, True, True]
    assert "a=group:BUNDLE 0" in lines_of(answer)
    video, app = media_block(answer, 1), media_block(answer, 2)
    assert video[0] == "m=video 0 UDP/TLS/RTP/SAVPF 96" and "a=mid:1" in video and "a=inactive" in video
    assert "a=rtpmap:96 VP8/90000" in video and not any(x.startswith("a=extmap") for x in video)
    assert app[0] == "m=application 0 UDP/DTLS/SCTP webrtc-datachannel" and "a=mid:2" in app
    assert parse(answer).media[1].rejected


def test_answer_publish_nothing_acceptable() -> None:
    text = edit(
        CHROME_OFFER,
        replace={
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126": "m=audio 9 UDP/TLS/RTP/SAVPF 0 8",
            "a=sendonly\r\na=msid:stream-a video": "a=inactive\r\na=msid:stream-a video",
        },
    )
    with pytest.raises(SdpError, match=r"m-section 0 \(mid 0\): no supported codec \(offered: PCMU, PCMA\); "
                       r"m-section 1 \(mid 1\): direction 'inactive'"):  # fmt: skip
        answer_publish(parse(text), LOCAL)


def test_answer_publish_validates_local_params() -> None:
    bad = LocalParams("srv1", "serverpasswordserverpassword", "AB:CD", "passive")
    with pytest.raises(ValueError, match="fingerprint"):
        answer_publish(parse(CHROME_OFFER), bad)


# -------------------------------------------------------------------------------------- subscribe


def vp8_track(mid: str, ssrc: int, *, rtx: bool = True, active: bool = True) -> OfferedTrack:
    codec = S.default_codecs("video")[0]
    return OfferedTrack(
        mid=mid, kind="video", ssrc=ssrc, rtx_ssrc=ssrc + 1 if rtx else None, cname="pub-cname",
        stream_id="stream-x", track_id=f"video-{mid}", codecs=[codec],
        extensions={S.EXT_MID: 1, S.EXT_ABS_SEND_TIME: 2, S.EXT_TRANSPORT_CC: 3}, active=active,
    )  # fmt: skip


def opus_track(mid: str, ssrc: int, *, active: bool = True) -> OfferedTrack:
    return OfferedTrack(
        mid=mid, kind="audio", ssrc=ssrc, rtx_ssrc=None, cname="pub-cname", stream_id="stream-x",
        track_id=f"audio-{mid}", codecs=S.default_codecs("audio"),
        extensions={S.EXT_MID: 1, S.EXT_AUDIO_LEVEL: 4, S.EXT_TRANSPORT_CC: 3}, active=active,
    )  # fmt: skip


SUB_LOCAL = LocalParams(
    "sub1", "subscriberpasswordsubscriber", SERVER_FP, "actpass", [("127.0.0.1", 40002, "udp")]
)


def test_offer_subscribe() -> None:
    tracks = [opus_track("0", 5000), vp8_track("1", 6000), vp8_track("2", 7000, active=False)]
    offer = offer_subscribe(SUB_LOCAL, tracks, 3)
    lines = lines_of(offer)
    assert lines[1].endswith(" 3 IN IP4 0.0.0.0") and "a=group:BUNDLE 0 1" in lines and "a=ice-lite" in lines
    audio, video, gone = media_block(offer, 0), media_block(offer, 1), media_block(offer, 2)
    assert (
        audio[0] == "m=audio 9 UDP/TLS/RTP/SAVPF 111" and "a=sendonly" in audio and "a=setup:actpass" in audio
    )
    assert "a=msid:stream-x audio-0" in audio and "a=ssrc:5000 cname:pub-cname" in audio
    assert "a=candidate:1 1 udp 2130706431 127.0.0.1 40002 typ host" in audio
    assert video[0] == "m=video 9 UDP/TLS/RTP/SAVPF 96 97" and "a=ssrc-group:FID 6000 6001" in video
    assert "a=ssrc:6001 msid:stream-x video-1" in video and "a=fmtp:97 apt=96" in video
    assert gone[0] == "m=video 0 UDP/TLS/RTP/SAVPF 96" and "a=inactive" in gone and "a=mid:2" in gone
    assert not any(x.startswith(("a=ssrc", "a=msid")) for x in gone)
    desc = parse(offer)
    assert desc.setup == "actpass" and [m.rejected for m in desc.media] == [False, False, True]
    assert desc.media[1].ssrcs == [6000] and desc.media[1].rtx_ssrcs == {6000: 6001}
    assert desc.media[1].msid == "stream-x video-1" and desc.media[1].codecs[0].rtx_payload_type == 97


def test_offer_subscribe_first_mline_inactive_stays_bundled() -> None:
    tracks = [vp8_track("0", 6000, active=False), opus_track("1", 5000)]
    offer = offer_subscribe(SUB_LOCAL, tracks, 4)
    assert "a=group:BUNDLE 0 1" in lines_of(offer)
    first = media_block(offer, 0)
    assert first[0] == "m=video 9 UDP/TLS/RTP/SAVPF 96" and "a=inactive" in first
    assert "a=candidate:1 1 udp 2130706431 127.0.0.1 40002 typ host" in first
    assert not any(x.startswith(("a=ssrc", "a=msid")) for x in first)
    result = apply_subscribe_answer(tracks, parse(chrome_like_answer(offer)))
    assert [(n.direction, n.rejected) for n in result] == [("inactive", False), ("sendonly", False)]
    # every track removed: the transport survives through the first (inactive, bundled) m-line
    gone = [vp8_track("0", 6000, active=False), opus_track("1", 5000, active=False)]
    desc = parse(offer_subscribe(SUB_LOCAL, gone, 5))
    assert desc.bundle == ["0"] and [m.rejected for m in desc.media] == [False, True]


def test_offer_subscribe_errors() -> None:
    with pytest.raises(SdpError, match="nothing to offer"):
        offer_subscribe(SUB_LOCAL, [], 1)
    with pytest.raises(SdpError, match="duplicate mid '1'"):
        offer_subscribe(SUB_LOCAL, [vp8_track("1", 10), vp8_track("1", 20)], 1)
    with pytest.raises(SdpError, match="duplicate ssrc 11"):
        offer_subscribe(SUB_LOCAL, [vp8_track("1", 10), vp8_track("2", 11)], 1)
    clash = vp8_track("2", 20)
    clash.codecs = [Codec(96, "VP9", 90000, fmtp={"profile-id": "0"})]
    with pytest.raises(SdpError, match="payload type 96 means different codecs in mids 1 and 2"):
        offer_subscribe(SUB_LOCAL, [vp8_track("1", 10), clash], 1)
    ext_clash = vp8_track("2", 20)
    ext_clash.extensions = {S.EXT_RID: 1}
    with pytest.raises(SdpError, match="extension id 1 means different URIs"):
        offer_subscribe(SUB_LOCAL, [vp8_track("1", 10), ext_clash], 1)


def chrome_like_answer(offer: str, *, direction: str = "recvonly", drop_rtx: bool = False) -> str:
    """What a browser answers to one of our subscribe offers (client ufrag, setup active)."""
    out = []
    for line in lines_of(offer):
        if line.startswith(("a=ssrc", "a=msid", "a=candidate", "a=end-of", "a=ice-lite")):
            continue
        if drop_rtx and ("rtx/" in line or "apt=" in line):
            continue
        line = {"a=sendonly": f"a={direction}", "a=setup:actpass": "a=setup:active"}.get(line, line)
        line = line.replace("a=ice-ufrag:sub1", "a=ice-ufrag:cli1")
        if drop_rtx and line.startswith("m=video 9"):
            line = line.replace(" 97", "")
        out.append(line)
    return "\r\n".join(out)


def test_apply_subscribe_answer() -> None:
    tracks = [opus_track("0", 5000), vp8_track("1", 6000), vp8_track("2", 7000, active=False)]
    offer = offer_subscribe(SUB_LOCAL, tracks, 1)
    result = apply_subscribe_answer(tracks, parse(chrome_like_answer(offer)))
    assert [(n.mid, n.direction, n.rejected) for n in result] == [
        ("0", "sendonly", False), ("1", "sendonly", False), ("2", "inactive", True),
    ]  # fmt: skip
    assert result[1].codecs[0].rtx_payload_type == 97 and result[1].rtx_ssrcs == {6000: 6001}
    assert result[1].track is tracks[1] and result[1].ssrcs == [6000]
    assert result[0].extensions == {S.EXT_MID: 1, S.EXT_AUDIO_LEVEL: 4, S.EXT_TRANSPORT_CC: 3}

    no_rtx = apply_subscribe_answer(tracks, parse(chrome_like_answer(offer, drop_rtx=True)))
    assert no_rtx[1].codecs[0].rtx_payload_type is None and no_rtx[1].rtx_ssrcs == {}
    inactive = apply_subscribe_answer(tracks, parse(chrome_like_answer(offer, direction="inactive")))
    assert [n.direction for n in inactive] == ["inactive", "inactive", "inactive"]


def test_apply_subscribe_answer_errors() -> None:
    tracks = [opus_track("0", 5000), vp8_track("1", 6000)]
    answer = chrome_like_answer(offer_subscribe(SUB_LOCAL, tracks, 1))
    sendrecv = chrome_like_answer(offer_subscribe(SUB_LOCAL, tracks, 1), direction="sendrecv")
    with pytest.raises(
        SdpError, match=r"m-section 0 \(mid 0\): answered 'sendrecv', expected recvonly or inactive"
    ):
        apply_subscribe_answer(tracks, parse(sendrecv))
    with pytest.raises(SdpError, match=r"a=setup:actpass is not allowed in an answer"):
        apply_subscribe_answer(tracks, parse(answer.replace("a=setup:active", "a=setup:actpass")))
    with pytest.raises(SdpError, match=r"answer has 1 m-sections, the offer had 2"):
        apply_subscribe_answer(tracks, parse(answer.split("m=video")[0].replace("BUNDLE 0 1", "BUNDLE 0")))
    with pytest.raises(SdpError, match=r"payload type 98 \(VP9\) was not offered"):
        apply_subscribe_answer(
            tracks,
            parse(
                answer.replace(
                    "a=rtpmap:96 VP8/90000", "a=rtpmap:96 VP8/90000\r\na=rtpmap:98 VP9/90000"
                ).replace(" 96 97", " 96 97 98")
            ),
        )
    with pytest.raises(SdpError, match=r"payload type 96 answered as H264, offered as VP8"):
        apply_subscribe_answer(
            tracks, parse(answer.replace("a=rtpmap:96 VP8/90000", "a=rtpmap:96 H264/90000"))
        )
    swapped = [tracks[1], tracks[0]]
    with pytest.raises(SdpError, match=r"m-section 0 \(mid 0\): does not match the offered m-line"):
        apply_subscribe_answer(swapped, parse(answer))


# ------------------------------------------------------------------------------------------- WHEP


def whep_offer() -> str:
    """A Chromium WHEP offer: recvonly audio + two recvonly video transceivers, no ssrcs."""
    text = edit(CHROME_OFFER, remove=("a=ssrc", "a=msid:"), replace={"a=sendonly": "a=recvonly"})
    video = "m=video" + text.split("m=video", 1)[1]
    second = video.replace("a=mid:1", "a=mid:2")
    return text.replace("BUNDLE 0 1", "BUNDLE 0 1 2") + "\r\n" + second


def test_answer_whep() -> None:
    offer = parse(whep_offer())
    h264 = S.default_codecs("video")[3]  # H264 42e01f pt 102 / rtx 103 on the producer side
    video_track = vp8_track("x", 6000)
    video_track.codecs = [h264]
    tracks = {"audio": [opus_track("y", 5000)], "video": [video_track]}
    answer, negotiated = answer_whep(offer, LOCAL, tracks)
    assert [(n.mid, n.direction, n.rejected) for n in negotiated] == [
        ("0", "sendonly", False), ("1", "sendonly", False), ("2", "inactive", False),
    ]  # fmt: skip
    nv = negotiated[1]
    # client's payload types: H264 42e01f pm=1 is 106 with rtx 107 in the Chrome offer
    assert [(c.payload_type, c.rtx_payload_type, c.name) for c in nv.codecs] == [(106, 107, "H264")]
    assert nv.track is video_track and nv.ssrcs == [6000] and nv.rtx_ssrcs == {6000: 6001}
    assert nv.extensions == {S.EXT_MID: 4, S.EXT_ABS_SEND_TIME: 2, S.EXT_TRANSPORT_CC: 3}
    video = media_block(answer, 1)
    assert video[0] == "m=video 9 UDP/TLS/RTP/SAVPF 106 107" and "a=sendonly" in video
    assert "a=ssrc-group:FID 6000 6001" in video and "a=msid:stream-x video-x" in video
    assert "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f" in video
    spare = media_block(answer, 2)
    assert spare[0].startswith("m=video 9 ") and "a=inactive" in spare
    assert negotiated[0].codecs[0].payload_type == 111 and negotiated[0].track is tracks["audio"][0]
    assert "a=group:BUNDLE 0 1 2" in lines_of(answer) and "a=setup:passive" in answer
    desc = parse(answer)
    assert [m.direction for m in desc.media] == ["sendonly", "sendonly", "inactive"]


def test_answer_whep_safari_viewer() -> None:
    """A Safari WHEP viewer (recvonly, its H.264 High first): an H.264 Constrained Baseline track binds to
    Safari's 42e01f payload type, a VP8 track to Safari's VP8; its H.265 and pm=0 entries do not matter."""
    offer = edit(SAFARI_OFFER, remove=("a=ssrc", "a=msid:", "a=rid:", "a=simulcast"))
    offer = offer.replace("a=sendonly", "a=recvonly")
    h264 = vp8_track("x", 6000)
    h264.codecs = [S.default_codecs("video")[3]]  # 42e01f pm=1 at the server's 102
    _, negotiated = answer_whep(parse(offer), LOCAL, {"audio": [opus_track("y", 5000)], "video": [h264]})
    assert [
        (c.payload_type, c.rtx_payload_type, c.fmtp["profile-level-id"]) for c in negotiated[1].codecs
    ] == [(98, 99, "42e01f")]
    assert negotiated[1].direction == "sendonly" and negotiated[0].codecs[0].payload_type == 111
    _, negotiated = answer_whep(parse(offer), LOCAL, {"video": [vp8_track("z", 7000)]})
    assert [(c.name, c.payload_type, c.rtx_payload_type) for c in negotiated[1].codecs] == [("VP8", 106, 107)]
    assert negotiated[0].direction == "inactive"  # no audio track to give


def test_answer_whep_no_common_codec_and_no_tracks() -> None:
    offer = parse(whep_offer())
    h265 = vp8_track("x", 6000)
    h265.codecs = [Codec(49, "H265", 90000)]
    _, negotiated = answer_whep(offer, LOCAL, {"video": [h265]})
    assert [n.direction for n in negotiated] == ["inactive"] * 3 and not any(n.rejected for n in negotiated)
    app_only = parse(
        f"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP "
        f"webrtc-datachannel\r\n"
        f"a=mid:0\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 {FP}\r\n"
    )
    with pytest.raises(SdpError, match=r"nothing to answer.*unsupported media kind 'application'"):
        answer_whep(app_only, LOCAL, {})


# ------------------------------------------------------------------------------------------ aiortc


def _skip_without_aiortc() -> None:
    if not HAVE_AIORTC:
        pytest.skip("aiortc not installed")


async def _close(pc: object) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(pc.close(), 10)  # type: ignore[attr-defined]


async def test_aiortc_publish_round_trip() -> None:
    _skip_without_aiortc()
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", direction="sendonly")
        pc.addTransceiver("video", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = parse(pc.localDescription.sdp)
        assert [m.kind for m in offer.media] == ["audio", "video"] and offer.setup == "actpass"
        answer, negotiated = answer_publish(offer, LOCAL)
        assert [n.direction for n in negotiated] == ["recvonly", "recvonly"]
        assert negotiated[1].codecs[0].name == "VP8" and negotiated[1].rtx_ssrcs
        assert negotiated[0].codecs[0].payload_type == offer.media[0].codecs[0].payload_type
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        assert pc.signalingState == "stable"
        assert [t.currentDirection for t in pc.getTransceivers()] == ["sendonly", "sendonly"]
    finally:
        await _close(pc)


async def test_aiortc_subscribe_round_trip_with_renegotiation() -> None:
    _skip_without_aiortc()
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        tracks = [opus_track("0", 5000), vp8_track("1", 6000)]
        await pc.setRemoteDescription(
            RTCSessionDescription(sdp=offer_subscribe(SUB_LOCAL, tracks, 1), type="offer")
        )
        await pc.setLocalDescription(await pc.createAnswer())
        answer = parse(pc.localDescription.sdp)
        assert answer.setup in ("active", "passive")
        result = apply_subscribe_answer(tracks, answer)
        assert [(n.mid, n.direction) for n in result] == [("0", "sendonly"), ("1", "sendonly")]
        assert result[1].codecs[0].name == "VP8" and result[1].codecs[0].payload_type == 96
        received = [t.receiver.track.kind for t in pc.getTransceivers()]
        assert received == ["audio", "video"]

        # renegotiation: a new video consumer gets a fresh mid
        tracks.append(vp8_track("2", 7000))
        offer = offer_subscribe(SUB_LOCAL, tracks, 2)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        result = apply_subscribe_answer(tracks, parse(pc.localDescription.sdp))
        assert [(n.mid, n.direction, n.rejected) for n in result] == [
            ("0", "sendonly", False), ("1", "sendonly", False), ("2", "sendonly", False),
        ]  # fmt: skip

        # then audio (the BUNDLE tag: stays bundled, inactive) and video 1 (port 0) are removed
        tracks = [
            opus_track("0", 5000, active=False),
            vp8_track("1", 6000, active=False),
            vp8_track("2", 7000),
        ]
        offer = offer_subscribe(SUB_LOCAL, tracks, 3)
        assert [m.rejected for m in parse(offer).media] == [False, True, False]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        result = apply_subscribe_answer(tracks, parse(pc.localDescription.sdp))
        assert [(n.mid, n.direction) for n in result] == [
            ("0", "inactive"),
            ("1", "inactive"),
            ("2", "sendonly"),
        ]
        assert result[1].rejected and not result[0].rejected
    finally:
        await _close(pc)


async def test_aiortc_whep_round_trip() -> None:
    _skip_without_aiortc()
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        tracks = {"audio": [opus_track("a", 5000)], "video": [vp8_track("v", 6000)]}
        answer, negotiated = answer_whep(parse(pc.localDescription.sdp), LOCAL, tracks)
        assert [n.direction for n in negotiated] == ["sendonly", "sendonly"]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        assert [t.currentDirection for t in pc.getTransceivers()] == ["recvonly", "recvonly"]
    finally:
        await _close(pc)


# ----------------------------------------------------------------------------------------- fuzzing

if not HAVE_HYPOTHESIS:

    def test_fuzz() -> None:
        pytest.skip("hypothesis not installed")

else:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    CHROME_LINES = CHROME_OFFER.split("\r\n")
    FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))

    def _only_sdp_errors(text: str) -> None:
        for fn in (S._parse, parse):  # _parse has no safety net: any non-SdpError is a real bug
            try:
                assert isinstance(fn(text), S.SessionDescription)
            except SdpError as exc:
                assert str(exc)

    @FUZZ
    @given(st.text(max_size=400))
    def test_fuzz_random_text(text: str) -> None:
        _only_sdp_errors(text)
        _only_sdp_errors("v=0\r\n" + text)

    _TOKENS = st.sampled_from(
        ["", " ", "0", "96", "999", "-1", "x", "/", ":", ";", "=", "*", "~", "rtx/90000", "apt=", "send",
         "recv", "BUNDLE", "sha-256", "AB:CD", "99999999999", "\t", "é", "0/0", ",", "rid="]
    )  # fmt: skip

    @st.composite
    def mutated_chrome_offer(draw: st.DrawFn) -> str:
        lines = list(CHROME_LINES)
        for _ in range(draw(st.integers(0, 8))):
            if not lines:
                break
            i = draw(st.integers(0, len(lines) - 1))
            op = draw(st.sampled_from(["delete", "truncate", "insert", "replace_token", "duplicate", "swap"]))
            if op == "delete":
                del lines[i]
            elif op == "truncate":
                lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
            elif op == "insert":
                pos = draw(st.integers(0, len(lines[i])))
                lines[i] = lines[i][:pos] + draw(_TOKENS) + lines[i][pos:]
            elif op == "replace_token":
                parts = lines[i].replace(":", " : ").split(" ")
                parts[draw(st.integers(0, len(parts) - 1))] = draw(_TOKENS)
                lines[i] = " ".join(parts).replace(" : ", ":")
            elif op == "duplicate":
                lines.insert(draw(st.integers(0, len(lines))), lines[i])
            else:
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
        return draw(st.sampled_from(["\r\n", "\n"])).join(lines)

    @FUZZ
    @given(mutated_chrome_offer())
    def test_fuzz_mutated_chrome_offer(text: str) -> None:
        _only_sdp_errors(text)
        try:
            desc = parse(text)
        except SdpError:
            return
        try:  # whatever parses must also be answerable (or cleanly refused)
            answer, _ = answer_publish(desc, LOCAL)
        except SdpError:
            return
        parse(answer)

    @FUZZ
    @given(mutated_chrome_offer())
    def test_fuzz_whep_answer(text: str) -> None:
        try:
            desc = parse(text.replace("a=sendonly", "a=recvonly"))
            answer, _ = answer_whep(
                desc, LOCAL, {"audio": [opus_track("a", 1)], "video": [vp8_track("v", 2)]}
            )
        except SdpError:
            return
        parse(answer)


def test_ssrc_simulcast_group_is_kept_for_the_producer() -> None:
    """SSRC-based simulcast (a=ssrc-group:SIM, older Chrome / Plan B style encoders): the layers' SSRCs in
    order, each with its RTX SSRC from the FID groups; no rids needed (issue 5)."""
    sim = (
        "a=ssrc-group:FID 2001 2002\r\na=ssrc-group:FID 2003 2004\r\na=ssrc-group:FID 2005 2006\r\n"
        "a=ssrc-group:SIM 2001 2003 2005\r\n"
        + "".join(f"a=ssrc:{x} cname:cname-abc\r\n" for x in (2001, 2002, 2003, 2004, 2005, 2006))
    )
    offer = edit(CHROME_OFFER, replace={"a=ssrc-group:FID 2001 2002\r\n": sim})
    _, negotiated = answer_publish(parse(offer), LOCAL)
    video = negotiated[1]
    assert video.sim_ssrcs == [2001, 2003, 2005]
    assert video.rtx_ssrcs == {2001: 2002, 2003: 2004, 2005: 2006}
    assert negotiated[0].sim_ssrcs == []
