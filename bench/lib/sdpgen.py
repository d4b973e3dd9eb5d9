"""SDP for the native client transports: the publisher's offer and the subscribers' answers.

The native client transport is a controlling ICE agent and a DTLS client, so the publisher offers
``a=setup:actpass`` (the server answers passive) and subscribers answer ``a=setup:active``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from mediaserver.rtc import sdp

from . import media

ABS_SEND_TIME = sdp.EXT_ABS_SEND_TIME


def credentials() -> tuple[str, str]:
    return secrets.token_hex(4), secrets.token_hex(12)


def _transport(ufrag: str, pwd: str, fingerprint: str, setup: str) -> list[str]:
    return [
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        f"a=fingerprint:sha-256 {fingerprint}",
        f"a=setup:{setup}",
    ]


def publisher_offer(
    ufrag: str,
    pwd: str,
    fingerprint: str,
    audio_ssrc: int,
    video_ssrc: int,
    rtx_ssrc: int,
    cname: str = "bench",
) -> str:
    tr = _transport(ufrag, pwd, fingerprint, "actpass")
    ext = [f"a=extmap:{media.EXT_MID_ID} {sdp.EXT_MID}", f"a=extmap:{media.EXT_ABS_ID} {ABS_SEND_TIME}"]
    vp, rp, ap = media.VP8_PT, media.VP8_PT + 1, media.OPUS_PT
    lines = [
        "v=0",
        f"o=- {secrets.randbits(62)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=msid-semantic: WMS bench",
        f"m=audio 9 UDP/TLS/RTP/SAVPF {ap}",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        *tr,
        "a=mid:0",
        *ext,
        "a=sendonly",
        "a=msid:bench audio0",
        "a=rtcp-mux",
        f"a=rtpmap:{ap} opus/48000/2",
        f"a=fmtp:{ap} minptime=10;useinbandfec=1",
        f"a=ssrc:{audio_ssrc} cname:{cname}",
        f"a=ssrc:{audio_ssrc} msid:bench audio0",
        f"m=video 9 UDP/TLS/RTP/SAVPF {vp} {rp}",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        *tr,
        "a=mid:1",
        *ext,
        "a=sendonly",
        "a=msid:bench video0",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        f"a=rtpmap:{vp} VP8/90000",
        f"a=rtcp-fb:{vp} nack",
        f"a=rtcp-fb:{vp} nack pli",
        f"a=rtcp-fb:{vp} ccm fir",
        f"a=rtpmap:{rp} rtx/90000",
        f"a=fmtp:{rp} apt={vp}",
        f"a=ssrc-group:FID {video_ssrc} {rtx_ssrc}",
        f"a=ssrc:{video_ssrc} cname:{cname}",
        f"a=ssrc:{video_ssrc} msid:bench video0",
        f"a=ssrc:{rtx_ssrc} cname:{cname}",
        f"a=ssrc:{rtx_ssrc} msid:bench video0",
    ]
    return "\r\n".join(lines) + "\r\n"


def subscriber_answer(
    offer: sdp.SessionDescription, ufrag: str, pwd: str, fingerprint: str, port: int | None = None
) -> str:
    """recvonly for every m-line of the server's offer, same codecs, payload types and extmaps; with
    ``port``, a host candidate on 127.0.0.1 (for a server that also checks connectivity itself)."""
    tr = _transport(ufrag, pwd, fingerprint, "active")
    if port is not None:
        tr.append(f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host")
    bundle = [m.mid for m in offer.media if not m.rejected]
    lines = ["v=0", f"o=- {secrets.randbits(62)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    if bundle:
        lines.append("a=group:BUNDLE " + " ".join(bundle))
    for m in offer.media:
        fmts = [str(p) for c in m.codecs for p in (c.payload_type, c.rtx_payload_type) if p is not None]
        if m.rejected:
            lines += [f"m={m.kind} 0 {m.protocol} {' '.join(fmts or m.formats)}", "c=IN IP4 0.0.0.0"]
            if m.mid:
                lines.append(f"a=mid:{m.mid}")
            continue
        lines += [
            f"m={m.kind} 9 {m.protocol} {' '.join(fmts)}",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            *tr,
            f"a=mid:{m.mid}",
        ]
        lines += [f"a=extmap:{i} {u}" for u, i in sorted(m.extensions.items(), key=lambda e: e[1])]
        lines += ["a=recvonly" if m.direction in ("sendonly", "sendrecv") else "a=inactive", "a=rtcp-mux"]
        if m.rtcp_rsize:
            lines.append("a=rtcp-rsize")
        for c in m.codecs:
            ch = f"/{c.channels}" if m.kind == "audio" and c.channels != 1 else ""
            lines.append(f"a=rtpmap:{c.payload_type} {c.name}/{c.clock_rate}{ch}")
            lines += [f"a=rtcp-fb:{c.payload_type} {fb}" for fb in c.rtcp_fb]
            if c.fmtp:
                lines.append(
                    f"a=fmtp:{c.payload_type} " + ";".join(f"{k}={v}" if v else k for k, v in c.fmtp.items())
                )
            if c.rtx_payload_type is not None:
                lines += [
                    f"a=rtpmap:{c.rtx_payload_type} rtx/{c.clock_rate}",
                    f"a=fmtp:{c.rtx_payload_type} apt={c.payload_type}",
                ]
    return "\r\n".join(lines) + "\r\n"


@dataclass
class Remote:
    """What a client transport needs from the server's SDP."""

    ip: str
    port: int
    ufrag: str
    pwd: str
    fp_alg: str
    fingerprint: bytes
    abs_ext: int  # abs-send-time id the server uses towards us (0 = none)


def remote_of(desc: sdp.SessionDescription) -> Remote:
    cand = next((c for c in desc.candidates if " udp " in f" {c.lower()} "), None)
    if cand is None:
        raise ValueError("the server SDP has no UDP candidate")
    f = cand.split()
    # candidate:<foundation> <component> <transport> <priority> <ip> <port> typ host
    ip, port = f[4], int(f[5])
    if ip != "127.0.0.1":
        raise ValueError(f"the server announces {ip}; the benchmark only sends to 127.0.0.1")
    abs_ids = {m.extensions.get(ABS_SEND_TIME, 0) for m in desc.media if not m.rejected}
    abs_ids.discard(0)
    if len(abs_ids) > 1:
        raise ValueError(f"abs-send-time has several ids in the server SDP: {abs_ids}")
    return Remote(
        ip,
        port,
        desc.ice_ufrag,
        desc.ice_pwd,
        desc.fingerprint_algorithm,
        desc.fingerprint,
        abs_ids.pop() if abs_ids else 0,
    )
