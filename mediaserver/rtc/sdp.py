"""SDP parsing and generation for the ICE-lite SFU.

One browser PeerConnection maps to one server transport: a single ICE ufrag/pwd, one DTLS association,
BUNDLE over all m-lines and rtcp-mux.  Three flows are supported:

* publish / WHIP: the client offers sendonly (or sendrecv) m-lines, :func:`answer_publish` answers recvonly;
* subscribe: :func:`offer_subscribe` offers one sendonly m-line per consumer and
  :func:`apply_subscribe_answer` checks the client's answer;
* WHEP: the client offers recvonly m-lines, :func:`answer_whep` answers sendonly, binding one track per
  m-line.

Everything here is pure and stdlib-only.  :func:`parse` raises :class:`SdpError` (and nothing else) for
any malformed input; messages name the offending line or m-section and are safe to return to clients.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "DEFAULT_CODEC_PREFERENCE",
    "DEFAULT_EXTENSION_IDS",
    "EXT_ABS_SEND_TIME",
    "EXT_AUDIO_LEVEL",
    "EXT_MID",
    "EXT_REPAIRED_RID",
    "EXT_RID",
    "EXT_TRANSPORT_CC",
    "FINGERPRINT_ALGORITHMS",
    "MAX_MEDIA_SECTIONS",
    "MAX_SDP_LENGTH",
    "SUPPORTED_CODECS",
    "SUPPORTED_EXTENSIONS",
    "SUPPORTED_RTCP_FB",
    "Codec",
    "LocalParams",
    "MediaSection",
    "Negotiated",
    "OfferedTrack",
    "SdpError",
    "SessionDescription",
    "answer_publish",
    "answer_setup",
    "answer_whep",
    "apply_subscribe_answer",
    "default_codecs",
    "is_supported_codec",
    "match_codec",
    "offer_subscribe",
    "parse",
]


class SdpError(ValueError):
    """Precise, client-facing description of what is wrong with an SDP (names the line or m-section)."""


# --------------------------------------------------------------------------------------------- capabilities

EXT_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
EXT_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
EXT_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
EXT_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
EXT_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
EXT_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
EXT_PLAYOUT_DELAY = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

#: Header extensions the server understands, per media kind.
# transport-wide-cc: the core reports arrivals to publishers and estimates each subscriber's bandwidth from
# its feedback (issue 5); abs-send-time lets REMB-only peers (aiortc) estimate on their side.
SUPPORTED_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "audio": (EXT_MID, EXT_RID, EXT_REPAIRED_RID, EXT_ABS_SEND_TIME, EXT_TRANSPORT_CC, EXT_AUDIO_LEVEL),
    "video": (EXT_MID, EXT_RID, EXT_REPAIRED_RID, EXT_ABS_SEND_TIME, EXT_TRANSPORT_CC, EXT_PLAYOUT_DELAY),
}

#: Suggested extension ids for server-generated offers (all fit one-byte headers).
DEFAULT_EXTENSION_IDS: dict[str, int] = {
    EXT_MID: 1,
    EXT_ABS_SEND_TIME: 2,
    EXT_TRANSPORT_CC: 3,
    EXT_AUDIO_LEVEL: 4,
    EXT_RID: 5,
    EXT_REPAIRED_RID: 6,
}

#: RTCP feedback types the server supports, per media kind.
# goog-remb and rrtr only toward subscribers: the core reads REMB as a fallback estimate (it sends none),
# and answers a receiver's XR reference time with DLRR, so that a receive-only peer knows its RTT.
SUPPORTED_RTCP_FB: dict[str, tuple[str, ...]] = {
    "audio": ("transport-cc",),
    "video": ("nack", "nack pli", "ccm fir", "goog-remb", "transport-cc", "rrtr"),
}

#: Default codec order for :func:`answer_publish` (names compared case-insensitively).
DEFAULT_CODEC_PREFERENCE: tuple[str, ...] = ("opus", "VP8", "VP9", "H264")

#: Fingerprint algorithms accepted by :func:`parse`, with their digest sizes (preferred first).
FINGERPRINT_ALGORITHMS: dict[str, int] = {"sha-256": 32, "sha-384": 48, "sha-512": 64, "sha-1": 20}

#: Larger SDPs (or SDPs with more m-sections) are refused outright.
MAX_SDP_LENGTH = 1 << 20
MAX_MEDIA_SECTIONS = 1024

_MAX_ONE_BYTE_EXT_ID = 14  # we never negotiate extmap-allow-mixed / two-byte headers
_H264_PROFILES = ("42", "4d", "64")
_SAVPF_PROTOCOLS = frozenset({"UDP/TLS/RTP/SAVPF", "TCP/TLS/RTP/SAVPF", "TCP/DTLS/RTP/SAVPF", "RTP/SAVPF"})
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_SETUPS = ("actpass", "active", "passive")
_STATIC_PT: dict[int, tuple[str, str, int, int]] = {  # pt -> (kind, name, clock, channels)
    0: ("audio", "PCMU", 8000, 1),
    3: ("audio", "GSM", 8000, 1),
    4: ("audio", "G723", 8000, 1),
    8: ("audio", "PCMA", 8000, 1),
    9: ("audio", "G722", 8000, 1),
    13: ("audio", "CN", 8000, 1),
    18: ("audio", "G729", 8000, 1),
    34: ("video", "H263", 90000, 1),
}


@dataclass
class Codec:
    """One media codec of an m-line; rtx is folded into ``rtx_payload_type`` of the codec it repairs."""

    payload_type: int
    name: str  # as written in the SDP ('opus', 'VP8', 'H264', ...); compare case-insensitively
    clock_rate: int
    channels: int = 1
    fmtp: dict[str, str] = field(default_factory=dict)  # keys lower-cased; value '' for bare parameters
    rtcp_fb: list[str] = field(default_factory=list)  # e.g. ['nack', 'nack pli', 'ccm fir', 'transport-cc']
    rtx_payload_type: int | None = None  # the rtx payload type whose apt= points at this codec

    def copy(self, **changes: Any) -> Codec:
        """Copy with a fresh fmtp dict and rtcp_fb list, and optional field overrides."""
        values: dict[str, Any] = {"fmtp": dict(self.fmtp), "rtcp_fb": list(self.rtcp_fb)}
        values.update(changes)
        return replace(self, **values)


def _default(pt: int, name: str, clock: int, channels: int, fmtp: dict[str, str], rtx: int | None) -> Codec:
    kind = "audio" if clock == 48000 else "video"
    return Codec(pt, name, clock, channels, fmtp, list(SUPPORTED_RTCP_FB[kind]), rtx)


def _h264(pt: int, profile_level_id: str) -> Codec:
    fmtp = {"level-asymmetry-allowed": "1", "packetization-mode": "1", "profile-level-id": profile_level_id}
    return _default(pt, "H264", 90000, 1, fmtp, pt + 1)


#: The server's codec capabilities with default payload types (read-only; use :func:`default_codecs`).
SUPPORTED_CODECS: dict[str, tuple[Codec, ...]] = {
    "audio": (_default(111, "opus", 48000, 2, {"minptime": "10", "useinbandfec": "1"}, None),),
    "video": (
        _default(96, "VP8", 90000, 1, {}, 97),
        _default(98, "VP9", 90000, 1, {"profile-id": "0"}, 99),
        _default(100, "VP9", 90000, 1, {"profile-id": "2"}, 101),
        _h264(102, "42e01f"),
        _h264(104, "4d001f"),
        _h264(106, "64001f"),
    ),
}


def default_codecs(kind: str) -> list[Codec]:
    """Fresh copies of the server's codecs for ``kind`` ('audio'|'video'), with default payload types."""
    return [c.copy() for c in SUPPORTED_CODECS.get(kind, ())]


def _fmtp(codec: Codec, key: str, default: str = "") -> str:
    return codec.fmtp.get(key, default).strip()


def is_supported_codec(codec: Codec, kind: str) -> bool:
    """Whether the server can forward ``codec`` on an m-line of ``kind``."""
    name = codec.name.lower()
    if kind == "audio":
        return name == "opus" and codec.clock_rate == 48000 and codec.channels == 2
    if kind != "video" or codec.clock_rate != 90000:
        return False
    if name == "vp8":
        return True
    if name == "vp9":
        return _fmtp(codec, "profile-id", "0") in ("0", "2")
    if name == "h264":
        plid = _fmtp(codec, "profile-level-id", "420010").lower()
        if _fmtp(codec, "packetization-mode", "0") != "1" or not re.fullmatch(r"[0-9a-f]{6}", plid):
            return False
        return plid[:2] in _H264_PROFILES and (
            plid == "42e01f" or _fmtp(codec, "level-asymmetry-allowed") == "1"
        )
    return False


def match_codec(a: Codec, b: Codec) -> bool:
    """Whether two codec descriptions denote the same format (payload types are ignored).

    Name (case-insensitive), clock rate and channels must be equal; H264 additionally needs the same
    packetization-mode and profile (first 4 hex chars of profile-level-id), VP9 the same profile-id.
    """
    name = a.name.lower()
    if name != b.name.lower() or a.clock_rate != b.clock_rate or a.channels != b.channels:
        return False
    if name == "h264":
        return _fmtp(a, "packetization-mode", "0") == _fmtp(b, "packetization-mode", "0") and (
            _fmtp(a, "profile-level-id", "420010")[:4].lower()
            == _fmtp(b, "profile-level-id", "420010")[:4].lower()
        )
    if name == "vp9":
        return _fmtp(a, "profile-id", "0") == _fmtp(b, "profile-id", "0")
    return True


# ------------------------------------------------------------------------------------------- parsed model


@dataclass
class MediaSection:
    """One parsed m-section."""

    mid: str
    kind: str  # 'audio' | 'video' (or e.g. 'application', never negotiated)
    direction: str = "sendrecv"
    codecs: list[Codec] = field(default_factory=list)  # media codecs only; rtx linked via rtx_payload_type
    extensions: dict[str, int] = field(default_factory=dict)  # uri -> id
    ssrcs: list[int] = field(default_factory=list)  # media ssrcs (rtx/FEC ssrcs excluded), in SDP order
    rtx_ssrcs: dict[int, int] = field(default_factory=dict)  # media ssrc -> rtx ssrc (a=ssrc-group:FID)
    cname: str | None = None
    msid: str | None = None  # "<stream id> <track id>" as given
    rids: list[str] = field(default_factory=list)  # send rids in simulcast order
    sim_ssrcs: list[int] = field(default_factory=list)  # SSRC-based simulcast (a=ssrc-group:SIM), in order
    port: int = 9
    rejected: bool = False  # port 0 (and not bundle-only)
    protocol: str = "UDP/TLS/RTP/SAVPF"
    formats: list[str] = field(default_factory=list)  # the raw format list of the m= line
    rtcp_mux: bool = False
    rtcp_rsize: bool = False


@dataclass
class SessionDescription:
    """A parsed SDP; transport attributes are those of the first bundled (BUNDLE-tag) section."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint_algorithm: str  # lower case, e.g. 'sha-256'
    fingerprint: bytes  # raw digest
    setup: str  # 'actpass' | 'active' | 'passive'
    media: list[MediaSection] = field(default_factory=list)
    bundle: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)  # 'candidate:...' strings, as in RTCIceCandidate
    ice_lite: bool = False


class _Transport:
    """ICE/DTLS attributes found at one level (session or one m-section)."""

    def __init__(self) -> None:
        self.ice_ufrag: str | None = None
        self.ice_pwd: str | None = None
        self.fingerprints: list[tuple[str, bytes]] = []
        self.unsupported_fingerprints: list[str] = []
        self.setup: str | None = None


class _RawSection(_Transport):
    def __init__(self, index: int, lineno: int, kind: str, port: int, proto: str, fmts: list[str]) -> None:
        super().__init__()
        self.index, self.lineno, self.kind, self.port, self.proto, self.fmts = (
            index,
            lineno,
            kind,
            port,
            proto,
            fmts,
        )
        self.mid: str | None = None
        self.direction: str | None = None
        self.rtpmap: dict[int, tuple[str, int, int]] = {}
        self.fmtp: dict[int, dict[str, str]] = {}
        self.rtcp_fb: dict[int | None, dict[str, None]] = {}  # None = '*'; ordered sets
        self.extensions: dict[str, int] = {}
        self.ext_ids: dict[int, str] = {}
        self.ssrcs: dict[int, None] = {}  # ordered set
        self.cnames: dict[int, str] = {}
        self.ssrc_msid: str | None = None
        self.fid: dict[int, int] = {}
        self.secondary_ssrcs: set[int] = set()
        self.sim: list[int] = []
        self.send_rids: list[str] = []
        self.recv_rids: list[str] = []
        self.rid_ids: set[str] = set()
        self.simulcast_send: list[str] | None = None
        self.simulcast_line = 0
        self.msid: str | None = None
        self.rtcp_mux = False
        self.rtcp_rsize = False
        self.bundle_only = False
        self.candidates: list[str] = []

    @property
    def is_rtp(self) -> bool:
        return "RTP/" in self.proto

    def where(self) -> str:
        mid = f" (mid {self.mid})" if self.mid is not None else ""
        return f"m-section {self.index}{mid}"


_LINE_RE = re.compile(r"([a-z])=(.*)", re.S)
_CTRL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_RTPMAP_RE = re.compile(r"([0-9]{1,3})\s+([^\s/]+)/([0-9]{1,10})(?:/([0-9]{1,3}))?\s*")
_FMTP_RE = re.compile(r"([0-9]{1,3})\s+(\S.*)")
_RTCP_FB_RE = re.compile(r"(\*|[0-9]{1,3})\s+(\S.*)")
_EXTMAP_RE = re.compile(r"([0-9]{1,5})(?:/(sendrecv|sendonly|recvonly|inactive))?\s+(\S+)(?:\s.*)?")
_SSRC_RE = re.compile(r"([0-9]{1,10})\s+([^\s:]+)(?::(.*))?")
_RID_RE = re.compile(r"([A-Za-z0-9_-]{1,255})\s+(send|recv)(?:\s.*)?")
_RID_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,255}")
_TOKEN_RE = re.compile(r"\S{1,256}")
_HEX2_RE = re.compile(r"[0-9A-Fa-f]{2}")
_NUM_RE = re.compile(r"[0-9]{1,10}")


def _short(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _num(text: str, lo: int, hi: int) -> int | None:
    """ASCII decimal in [lo, hi], else None."""
    if not _NUM_RE.fullmatch(text):
        return None
    value = int(text)
    return value if lo <= value <= hi else None


def parse(sdp: str) -> SessionDescription:
    """Parse and validate a WebRTC SDP (offer or answer); raises :class:`SdpError` and nothing else."""
    try:
        return _parse(sdp)
    except SdpError:
        raise
    except Exception as exc:  # defensive: the contract is "SdpError only", even on an internal bug
        raise SdpError(f"malformed SDP ({type(exc).__name__})") from exc


def _parse(sdp: str) -> SessionDescription:
    if not isinstance(sdp, str):
        raise SdpError("SDP must be text")
    if len(sdp) > MAX_SDP_LENGTH:
        raise SdpError(f"SDP is too large ({len(sdp)} characters, limit {MAX_SDP_LENGTH})")
    session = _Transport()
    sections: list[_RawSection] = []
    bundle: list[str] | None = None
    session_direction: str | None = None
    session_extensions: dict[str, int] = {}
    ice_lite = False
    seen_version = False
    for lineno, raw in enumerate(sdp.split("\n"), 1):
        line = raw.rstrip(" \t\r")
        if not line:
            continue
        if _CTRL_RE.search(line):
            raise SdpError(f"line {lineno}: control character in line {_short(line)}")
        match = _LINE_RE.fullmatch(line)
        if not match:
            raise SdpError(f"line {lineno}: not an SDP line (expected '<letter>=<value>'): {_short(line)}")
        kind, value = match.groups()
        if not seen_version:
            if kind != "v":
                raise SdpError(f"line {lineno}: missing v= line (an SDP must start with v=0)")
            if value.strip() != "0":
                raise SdpError(f"line {lineno}: unsupported SDP version {_short(value)} (expected v=0)")
            seen_version = True
            continue
        if kind == "m":
            if len(sections) >= MAX_MEDIA_SECTIONS:
                raise SdpError(f"line {lineno}: too many m= sections (limit {MAX_MEDIA_SECTIONS})")
            sections.append(_parse_m_line(value, lineno, len(sections)))
            continue
        if kind != "a":
            continue
        name, _, val = value.partition(":")
        section = sections[-1] if sections else None
        if name in ("ice-ufrag", "ice-pwd", "fingerprint", "setup"):
            _parse_transport_attr(section or session, name, val, lineno)
        elif name == "ice-lite":
            ice_lite = True
        elif name in _DIRECTIONS:
            if section is None:
                session_direction = name
            else:
                section.direction = name
        elif section is None:
            if name == "group":
                tokens = val.split()
                if tokens and tokens[0].upper() == "BUNDLE":
                    if bundle is not None:
                        raise SdpError(f"line {lineno}: more than one a=group:BUNDLE is not supported")
                    bundle = tokens[1:]
            elif name == "extmap":
                ext_id, uri = _parse_extmap(val, lineno)
                session_extensions.setdefault(uri, ext_id)
        else:
            _parse_media_attr(section, name, val, lineno)
    if not seen_version:
        raise SdpError("empty SDP")
    if not sections:
        raise SdpError("SDP has no m= sections")
    return _finish(session, sections, bundle or [], session_direction, session_extensions, ice_lite)


def _parse_m_line(value: str, lineno: int, index: int) -> _RawSection:
    tokens = value.split()
    if len(tokens) < 4:
        raise SdpError(f"line {lineno}: malformed m= line (expected 'm=<media> <port> <proto> <fmt> ...')")
    kind, port_text, proto = tokens[0], tokens[1].split("/", 1)[0], tokens[2]
    port = _num(port_text, 0, 65535)
    if port is None:
        raise SdpError(f"line {lineno}: invalid port {_short(tokens[1])} in m= line")
    if "RTP/" in proto:
        for fmt in tokens[3:]:
            if _num(fmt, 0, 127) is None:
                raise SdpError(f"line {lineno}: invalid payload type {_short(fmt)} in m= line")
    return _RawSection(index, lineno, kind, port, proto, tokens[3:])


def _parse_transport_attr(target: _Transport, name: str, val: str, lineno: int) -> None:
    val = val.strip()
    if name in ("ice-ufrag", "ice-pwd"):
        if not _TOKEN_RE.fullmatch(val) or (name == "ice-ufrag" and ":" in val):
            raise SdpError(f"line {lineno}: invalid a={name} value {_short(val)}")
        setattr(target, name.replace("-", "_"), val)
    elif name == "setup":
        if val.lower() not in _SETUPS:
            raise SdpError(
                f"line {lineno}: unknown a=setup value {_short(val)} (expected actpass, active or passive)"
            )
        target.setup = val.lower()
    else:  # fingerprint
        tokens = val.split()
        if len(tokens) != 2:
            raise SdpError(f"line {lineno}: malformed a=fingerprint (expected '<algorithm> <hex:hex:...>')")
        algorithm = tokens[0].lower()
        if algorithm not in FINGERPRINT_ALGORITHMS:
            target.unsupported_fingerprints.append(tokens[0])
            return
        parts = tokens[1].split(":")
        if not all(_HEX2_RE.fullmatch(p) for p in parts):
            raise SdpError(f"line {lineno}: malformed a=fingerprint value (expected colon-separated hex)")
        if len(parts) != FINGERPRINT_ALGORITHMS[algorithm]:
            raise SdpError(
                f"line {lineno}: {algorithm} fingerprint has {len(parts)} bytes, "
                f"expected {FINGERPRINT_ALGORITHMS[algorithm]}"
            )
        target.fingerprints.append((algorithm, bytes.fromhex("".join(parts))))


def _parse_extmap(val: str, lineno: int) -> tuple[int, str]:
    match = _EXTMAP_RE.fullmatch(val.strip())
    ext_id = _num(match.group(1), 1, 255) if match else None
    if match is None or ext_id is None:
        raise SdpError(f"line {lineno}: malformed a=extmap (expected 'a=extmap:<1-255>[/<direction>] <uri>')")
    return ext_id, match.group(3)


def _parse_media_attr(sec: _RawSection, name: str, val: str, lineno: int) -> None:
    if name == "mid":
        mid = val.strip()
        if not _TOKEN_RE.fullmatch(mid):
            raise SdpError(f"line {lineno}: invalid a=mid value {_short(mid)}")
        if sec.mid is not None:
            raise SdpError(f"line {lineno}: duplicate a=mid in m-section {sec.index}")
        sec.mid = mid
    elif name == "rtpmap":
        match = _RTPMAP_RE.fullmatch(val)
        pt = _num(match.group(1), 0, 127) if match else None
        clock = _num(match.group(3), 1, 10**9) if match else None
        channels = _num(match.group(4) or "1", 1, 255) if match else None
        if match is None or pt is None or clock is None or channels is None:
            raise SdpError(
                f"line {lineno}: malformed a=rtpmap (expected 'a=rtpmap:<pt> <name>/<clock>[/<channels>]'): "
                f"{_short(val)}"
            )
        if pt in sec.rtpmap:
            raise SdpError(f"line {lineno}: duplicate a=rtpmap for payload type {pt}")
        sec.rtpmap[pt] = (match.group(2), clock, channels)
    elif name == "fmtp":
        match = _FMTP_RE.fullmatch(val)
        pt = _num(match.group(1), 0, 127) if match else None
        if match is None or pt is None:
            raise SdpError(
                f"line {lineno}: malformed a=fmtp (expected 'a=fmtp:<pt> <param>=<value>;...'): {_short(val)}"
            )
        params = sec.fmtp.setdefault(pt, {})
        for item in match.group(2).split(";"):
            key, _, value = item.strip().partition("=")
            key = key.strip().lower()
            if not key:
                if item.strip():
                    raise SdpError(f"line {lineno}: malformed a=fmtp parameter {_short(item.strip())}")
                continue
            params[key] = value.strip()
    elif name == "rtcp-fb":
        match = _RTCP_FB_RE.fullmatch(val.strip())
        if match is None:
            raise SdpError(
                f"line {lineno}: malformed a=rtcp-fb (expected 'a=rtcp-fb:<pt|*> <type> [<param>]')"
            )
        pt = None if match.group(1) == "*" else _num(match.group(1), 0, 127)
        if pt is None and match.group(1) != "*":
            raise SdpError(f"line {lineno}: invalid payload type in a=rtcp-fb")
        fb = " ".join(match.group(2).split())
        sec.rtcp_fb.setdefault(pt, {})[fb] = None
    elif name == "extmap":
        ext_id, uri = _parse_extmap(val, lineno)
        if sec.ext_ids.get(ext_id, uri) != uri:
            raise SdpError(f"line {lineno}: extension id {ext_id} is used twice in {sec.where()}")
        sec.ext_ids[ext_id] = uri
        sec.extensions.setdefault(uri, ext_id)
    elif name == "ssrc":
        match = _SSRC_RE.fullmatch(val.strip())
        ssrc = _num(match.group(1), 0, 0xFFFFFFFF) if match else None
        if match is None or ssrc is None:
            raise SdpError(
                f"line {lineno}: malformed a=ssrc (expected 'a=ssrc:<ssrc> <attribute>[:<value>]')"
            )
        sec.ssrcs[ssrc] = None
        attr, attr_value = match.group(2), (match.group(3) or "").strip()
        if attr == "cname" and attr_value:
            sec.cnames.setdefault(ssrc, attr_value)
        elif attr == "msid" and attr_value and sec.ssrc_msid is None:
            sec.ssrc_msid = attr_value
    elif name == "ssrc-group":
        tokens = val.split()
        ssrcs = [_num(t, 0, 0xFFFFFFFF) for t in tokens[1:]]
        if not tokens or any(ssrc is None for ssrc in ssrcs):
            raise SdpError(
                f"line {lineno}: malformed a=ssrc-group (expected 'a=ssrc-group:<semantics> <ssrc>...')"
            )
        group = [ssrc for ssrc in ssrcs if ssrc is not None]
        semantics = tokens[0].upper()
        if semantics == "FID" and len(group) == 2:
            sec.fid.setdefault(group[0], group[1])
            sec.secondary_ssrcs.add(group[1])
        elif semantics == "SIM" and 2 <= len(group) <= 3 and not sec.sim:
            sec.sim = group
        elif semantics in ("FEC-FR", "FEC") and len(group) >= 2:
            sec.secondary_ssrcs.update(group[1:])
    elif name == "rid":
        match = _RID_RE.fullmatch(val.strip())
        if match is None:
            raise SdpError(
                f"line {lineno}: malformed a=rid (expected 'a=rid:<id> send|recv [<restrictions>]')"
            )
        rid_list = sec.send_rids if match.group(2) == "send" else sec.recv_rids
        if match.group(1) in sec.rid_ids:
            raise SdpError(f"line {lineno}: duplicate a=rid {match.group(1)!r}")
        rid_list.append(match.group(1))
        sec.rid_ids.add(match.group(1))
    elif name == "simulcast":
        sec.simulcast_send = _parse_simulcast(val, lineno)
        sec.simulcast_line = lineno
    elif name == "msid":
        sec.msid = " ".join(val.split()) or None
    elif name == "candidate":
        sec.candidates.append("candidate:" + " ".join(val.split()))
    elif name in ("rtcp-mux", "rtcp-rsize", "bundle-only"):
        setattr(sec, name.replace("-", "_"), True)


def _parse_simulcast(val: str, lineno: int) -> list[str]:
    """Send rids of an a=simulcast value, in order (alternatives flattened, paused '~' stripped)."""
    tokens = val.split()
    if not tokens or len(tokens) % 2:
        raise SdpError(f"line {lineno}: malformed a=simulcast (expected 'a=simulcast:send <rid>;<rid>...')")
    send: dict[str, None] = {}  # ordered set
    for direction, streams in zip(tokens[::2], tokens[1::2], strict=True):
        if direction not in ("send", "recv"):
            raise SdpError(f"line {lineno}: malformed a=simulcast direction {_short(direction)}")
        if streams.startswith("rid="):
            streams = streams[4:]
        rids = [r.lstrip("~") for alt in streams.split(";") for r in alt.split(",")]
        if not all(_RID_ID_RE.fullmatch(r) for r in rids):
            raise SdpError(f"line {lineno}: malformed a=simulcast stream list {_short(streams)}")
        if direction == "send":
            send.update(dict.fromkeys(rids))
    return list(send)


def _build_codecs(sec: _RawSection) -> list[Codec]:
    by_pt: dict[int, Codec] = {}
    ordered: list[Codec] = []
    wildcard = sec.rtcp_fb.get(None, {})
    for fmt in sec.fmts:
        pt = int(fmt)
        if pt in by_pt:
            continue
        if pt in sec.rtpmap:
            name, clock, channels = sec.rtpmap[pt]
        elif pt in _STATIC_PT and _STATIC_PT[pt][0] == sec.kind:
            _, name, clock, channels = _STATIC_PT[pt]
        else:
            continue
        fbs = list({**sec.rtcp_fb.get(pt, {}), **wildcard})
        codec = Codec(pt, name, clock, channels, dict(sec.fmtp.get(pt, {})), fbs)
        by_pt[pt] = codec
        ordered.append(codec)
    for codec in ordered:
        if codec.name.lower() == "rtx":
            apt = _num(codec.fmtp.get("apt", ""), 0, 127)
            target = by_pt.get(apt) if apt is not None else None
            if target is not None and target.name.lower() != "rtx" and target.rtx_payload_type is None:
                target.rtx_payload_type = codec.payload_type
    return [c for c in ordered if c.name.lower() != "rtx"]


def _finish(
    session: _Transport,
    raws: list[_RawSection],
    bundle: list[str],
    session_direction: str | None,
    session_extensions: dict[str, int],
    ice_lite: bool,
) -> SessionDescription:
    media: list[MediaSection] = []
    mids: set[str] = set()
    for sec in raws:
        rejected = sec.port == 0 and not sec.bundle_only
        if sec.mid is None and not rejected:
            raise SdpError(f"{sec.where()} (line {sec.lineno}): missing a=mid")
        if sec.mid is not None:
            if sec.mid in mids:
                raise SdpError(f"{sec.where()}: duplicate mid {sec.mid!r}")
            mids.add(sec.mid)
        if sec.is_rtp and not rejected and not sec.rtcp_mux:
            raise SdpError(f"{sec.where()}: a=rtcp-mux is required")
        rids = list(sec.send_rids)
        if sec.simulcast_send is not None:
            declared = set(sec.send_rids)
            for rid in sec.simulcast_send:
                if rid not in declared:
                    raise SdpError(
                        f"line {sec.simulcast_line}: a=simulcast send rid {rid!r} "
                        f"has no matching 'a=rid:{rid} send'"
                    )
            rids = list(sec.simulcast_send)
        extensions = dict(session_extensions)
        extensions.update(sec.extensions)
        media.append(
            MediaSection(
                mid=sec.mid or "",
                kind=sec.kind,
                direction=sec.direction or session_direction or "sendrecv",
                codecs=_build_codecs(sec) if sec.is_rtp else [],
                extensions=extensions,
                ssrcs=[ssrc for ssrc in sec.ssrcs if ssrc not in sec.secondary_ssrcs],
                rtx_ssrcs=dict(sec.fid),
                sim_ssrcs=list(sec.sim),
                cname=next(iter(sec.cnames.values()), None),
                msid=sec.msid or sec.ssrc_msid,
                rids=rids,
                port=sec.port,
                rejected=rejected,
                protocol=sec.proto,
                formats=list(sec.fmts),
                rtcp_mux=sec.rtcp_mux,
                rtcp_rsize=sec.rtcp_rsize,
            )
        )
    for mid in bundle:
        if mid not in mids:
            raise SdpError(f"a=group:BUNDLE references unknown mid {mid!r}")
    bundled = set(bundle)
    active = [sec for sec, m in zip(raws, media, strict=True) if not m.rejected]
    if len(active) > 1:
        for sec in active:
            if sec.mid not in bundled:
                raise SdpError(
                    f"{sec.where()} is not in a=group:BUNDLE "
                    "(BUNDLE is required for more than one active m-section)"
                )
    active_by_mid = {sec.mid: sec for sec in active}
    tag = next((active_by_mid[mid] for mid in bundle if mid in active_by_mid), active[0] if active else None)
    candidates = dict.fromkeys(c for sec in active for c in sec.candidates)
    desc = SessionDescription("", "", "", b"", "active", media, list(bundle), list(candidates), ice_lite)
    if tag is None:  # everything rejected: transport attributes are optional
        tag = raws[0]
        required = False
    else:
        required = True
    where = f"at session level or in {tag.where()}"
    ufrag, pwd = tag.ice_ufrag or session.ice_ufrag, tag.ice_pwd or session.ice_pwd
    if required and not ufrag:
        raise SdpError(f"missing a=ice-ufrag ({where})")
    if required and not pwd:
        raise SdpError(f"missing a=ice-pwd ({where})")
    fingerprints = tag.fingerprints or session.fingerprints
    unsupported = tag.unsupported_fingerprints or session.unsupported_fingerprints
    if required and not fingerprints:
        if unsupported:
            raise SdpError(
                f"unsupported a=fingerprint algorithm {unsupported[0]!r} ({where}); "
                f"supported: {', '.join(FINGERPRINT_ALGORITHMS)}"
            )
        raise SdpError(f"missing a=fingerprint ({where})")
    if fingerprints:
        order = list(FINGERPRINT_ALGORITHMS)
        desc.fingerprint_algorithm, desc.fingerprint = min(fingerprints, key=lambda f: order.index(f[0]))
    desc.ice_ufrag, desc.ice_pwd = ufrag or "", pwd or ""
    desc.setup = tag.setup or session.setup or "active"  # RFC 4145: absent a=setup means active
    return desc


# ------------------------------------------------------------------------------------------ generation


@dataclass
class LocalParams:
    """The server's side of one transport."""

    ice_ufrag: str
    ice_pwd: str
    fingerprint: str  # sha-256, 'AB:CD:...' (upper-case hex with colons)
    setup: str = "actpass"  # 'actpass' in server offers; preferred role ('passive'/'active') when answering
    candidates: list[tuple[str, int, str]] = field(default_factory=list)  # (ip, port, 'udp'|'tcp')


@dataclass
class OfferedTrack:
    """One consumer (forwarded track) for a subscriber offer or a WHEP answer."""

    mid: str  # ignored by answer_whep (the client's mid is used)
    kind: str
    ssrc: int
    rtx_ssrc: int | None
    cname: str
    stream_id: str
    track_id: str
    codecs: list[Codec]  # the producer's codecs with the payload types to use on this transport
    extensions: dict[str, int]  # uri -> id to use on this transport
    active: bool = True


@dataclass
class Negotiated:
    """What one answered / offered m-line ended up with.

    ``direction`` is the server's direction ('recvonly' for publish, 'sendonly' for subscribe/WHEP,
    'inactive' when nothing flows).  ``codecs`` are in preference order with the peer's payload types.
    """

    mid: str
    kind: str
    direction: str
    codecs: list[Codec] = field(default_factory=list)
    extensions: dict[str, int] = field(default_factory=dict)
    ssrcs: list[int] = field(default_factory=list)
    rtx_ssrcs: dict[int, int] = field(default_factory=dict)
    rids: list[str] = field(default_factory=list)
    sim_ssrcs: list[int] = field(default_factory=list)
    rejected: bool = False
    cname: str | None = None
    msid: str | None = None
    track: OfferedTrack | None = None  # subscribe / WHEP: the track bound to this m-line


def answer_setup(offer_setup: str, preferred: str = "passive") -> str:
    """The a=setup to answer with: actpass -> ``preferred`` ('passive' unless 'active'), active <-> passive.

    The server is the DTLS server when the returned value is 'passive'.
    """
    if offer_setup == "active":
        return "passive"
    if offer_setup == "passive":
        return "active"
    return preferred if preferred in ("active", "passive") else "passive"


_FINGERPRINT_RE = re.compile(r"[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){31}")


def _check_local(local: LocalParams) -> None:
    if not _TOKEN_RE.fullmatch(local.ice_ufrag or "") or ":" in local.ice_ufrag:
        raise ValueError(f"invalid local ice_ufrag {local.ice_ufrag!r}")
    if not _TOKEN_RE.fullmatch(local.ice_pwd or ""):
        raise ValueError("invalid local ice_pwd")
    if not _FINGERPRINT_RE.fullmatch(local.fingerprint or ""):
        raise ValueError("local fingerprint must be a sha-256 digest as 'AB:CD:...' (32 bytes)")
    for ip, port, proto in local.candidates:
        if (
            not _TOKEN_RE.fullmatch(str(ip))
            or not 0 < int(port) < 65536
            or proto.lower() not in ("udp", "tcp")
        ):
            raise ValueError(f"invalid local candidate {(ip, port, proto)!r}")


def _candidate_lines(local: LocalParams) -> list[str]:
    lines = []
    for i, (ip, port, proto) in enumerate(local.candidates):
        proto = proto.lower()
        local_pref = (65535 if proto == "udp" else 32767) - min(i, 32767)
        priority = (126 << 24) | (local_pref << 8) | 255
        line = f"a=candidate:{i + 1} 1 {proto} {priority} {ip} {int(port)} typ host"
        lines.append(line + (" tcptype passive" if proto == "tcp" else ""))
    return lines + ["a=end-of-candidates"]


@dataclass
class _Block:
    """One m-section to render."""

    kind: str
    mid: str | None
    protocol: str
    direction: str
    codecs: list[Codec]
    rejected: bool = False
    formats: list[str] = field(default_factory=list)  # used only when there are no codecs
    extensions: dict[str, int] = field(default_factory=dict)
    rtcp_rsize: bool = False
    recv_rids: list[str] = field(default_factory=list)
    track: OfferedTrack | None = None  # a=msid / a=ssrc lines
    send_rtx: bool = False


def _render(local: LocalParams, setup: str, version: int, blocks: list[_Block], msid_semantic: bool) -> str:
    session_id = int.from_bytes(hashlib.sha256(local.ice_ufrag.encode()).digest()[:8], "big") >> 2
    bundle = [b.mid for b in blocks if not b.rejected and b.mid is not None]
    lines = ["v=0", f"o=- {session_id} {version} IN IP4 0.0.0.0", "s=-", "t=0 0", "a=ice-lite"]
    if bundle:
        lines.append("a=group:BUNDLE " + " ".join(bundle))
    if msid_semantic:
        lines.append("a=msid-semantic: WMS *")
    transport = [
        f"a=ice-ufrag:{local.ice_ufrag}",
        f"a=ice-pwd:{local.ice_pwd}",
        f"a=fingerprint:sha-256 {local.fingerprint.upper()}",
        f"a=setup:{setup}",
    ]
    tagged = False
    for block in blocks:
        is_rtp = "RTP/" in block.protocol
        formats = [
            str(p) for c in block.codecs for p in (c.payload_type, c.rtx_payload_type) if p is not None
        ]
        lines.append(
            f"m={block.kind} {0 if block.rejected else 9} {block.protocol} "
            f"{' '.join(formats or block.formats)}"
        )
        lines.append("c=IN IP4 0.0.0.0")
        if not block.rejected and is_rtp:
            lines.append("a=rtcp:9 IN IP4 0.0.0.0")
        if not block.rejected and not tagged:
            lines += _candidate_lines(local)
            tagged = True
        lines += transport
        if block.mid is not None:
            lines.append(f"a=mid:{block.mid}")
        if not block.rejected:
            lines += [
                f"a=extmap:{i} {uri}" for uri, i in sorted(block.extensions.items(), key=lambda e: e[1])
            ]
        if is_rtp:
            lines.append(f"a={block.direction}")
        track = block.track
        if track is not None:
            lines.append(f"a=msid:{track.stream_id} {track.track_id}")
        if is_rtp:
            lines.append("a=rtcp-mux")
            if block.rtcp_rsize and not block.rejected:
                lines.append("a=rtcp-rsize")
        for codec in block.codecs:
            channels = f"/{codec.channels}" if block.kind == "audio" and codec.channels != 1 else ""
            lines.append(f"a=rtpmap:{codec.payload_type} {codec.name}/{codec.clock_rate}{channels}")
            lines += [f"a=rtcp-fb:{codec.payload_type} {fb}" for fb in codec.rtcp_fb]
            if codec.fmtp:
                params = ";".join(f"{k}={v}" if v else k for k, v in codec.fmtp.items())
                lines.append(f"a=fmtp:{codec.payload_type} {params}")
            if codec.rtx_payload_type is not None:
                lines.append(f"a=rtpmap:{codec.rtx_payload_type} rtx/{codec.clock_rate}")
                lines.append(f"a=fmtp:{codec.rtx_payload_type} apt={codec.payload_type}")
        if block.recv_rids:
            lines += [f"a=rid:{rid} recv" for rid in block.recv_rids]
            lines.append("a=simulcast:recv " + ";".join(block.recv_rids))
        if track is not None:
            ssrcs = [track.ssrc]
            if block.send_rtx and track.rtx_ssrc is not None:
                ssrcs.append(track.rtx_ssrc)
                lines.append(f"a=ssrc-group:FID {track.ssrc} {track.rtx_ssrc}")
            for ssrc in ssrcs:
                lines.append(f"a=ssrc:{ssrc} cname:{track.cname}")
                lines.append(f"a=ssrc:{ssrc} msid:{track.stream_id} {track.track_id}")
    return "\r\n".join(lines) + "\r\n"


def _negotiate_extensions(
    offered: dict[str, int], kind: str, allowed: Iterable[str] | None = None
) -> dict[str, int]:
    """Supported (and ``allowed``) extensions of ``offered`` fitting one-byte headers, with the peer's ids."""
    names = set(SUPPORTED_EXTENSIONS.get(kind, ()))
    if allowed is not None:
        names &= set(allowed)
    return {uri: i for uri, i in offered.items() if uri in names and 1 <= i <= _MAX_ONE_BYTE_EXT_ID}


def _negotiate_fb(
    fbs: Iterable[str], kind: str, extensions: dict[str, int], publish: bool = False
) -> list[str]:
    supported = SUPPORTED_RTCP_FB.get(kind, ())
    out = [fb for fb in fbs if fb in supported and not (publish and fb in ("goog-remb", "rrtr"))]
    if EXT_TRANSPORT_CC not in extensions:
        out = [fb for fb in out if fb != "transport-cc"]
    return out


def _reject_block(sec: MediaSection) -> _Block:
    codecs = [sec.codecs[0].copy(rtcp_fb=[], fmtp={}, rtx_payload_type=None)] if sec.codecs else []
    return _Block(
        sec.kind, sec.mid or None, sec.protocol, "inactive", codecs, rejected=True, formats=sec.formats[:1]
    )


def _transport_reason(sec: MediaSection) -> str | None:
    if sec.rejected:
        return "rejected in the offer (port 0)"
    if sec.kind not in ("audio", "video"):
        return f"unsupported media kind {sec.kind!r}"
    if sec.protocol.upper() not in _SAVPF_PROTOCOLS:
        return f"unsupported transport protocol {sec.protocol!r} (expected UDP/TLS/RTP/SAVPF)"
    return None


def _where(index: int, sec: MediaSection) -> str:
    return f"m-section {index}" + (f" (mid {sec.mid})" if sec.mid else "")


def is_constrained_baseline(codec: Codec) -> bool:
    """Whether ``codec`` is H.264 Constrained Baseline (profile_idc 0x42 with constraint_set1, e.g. 42e01f).

    RFC 7742 makes it the H.264 profile every WebRTC browser must decode; the others are not everywhere:
    Safari decodes no plain Baseline (42001f, Chrome's first H.264), Chromium on Linux no High (640c1f,
    Safari's first H.264).
    """
    plid = _fmtp(codec, "profile-level-id", "420010").lower()
    return (
        codec.name.lower() == "h264"
        and re.fullmatch(r"42[0-9a-f]{4}", plid) is not None
        and bool(int(plid[2:4], 16) & 0x40)
    )


def _constrained_baseline_first(codecs: list[Codec]) -> list[Codec]:
    """The H.264 entries reordered Constrained Baseline first, in the places the H.264 entries had; the other
    codecs keep theirs. A publisher sends the answer's first codec and the server forwards it as it is, so a
    publisher that prefers H.264 (Safari: High 640c1f, then 42e01f) sends one that every viewer decodes."""
    h264 = iter(
        sorted((c for c in codecs if c.name.lower() == "h264"), key=lambda c: not is_constrained_baseline(c))
    )
    return [next(h264) if c.name.lower() == "h264" else c for c in codecs]


def _publish_sort_key(codec: Codec, preference: list[str]) -> tuple[int, int]:
    name = codec.name.lower()
    if name == "vp9":
        sub = 0 if _fmtp(codec, "profile-id", "0") == "0" else 1
    elif name == "h264":
        sub = 0 if is_constrained_baseline(codec) else 1
    else:
        sub = 0
    return preference.index(name), sub


def answer_publish(
    offer: SessionDescription,
    local: LocalParams,
    codec_preference: list[str] | None = None,
    *,
    session_version: int = 1,
) -> tuple[str, list[Negotiated]]:
    """Answer a publish (or WHIP) offer: accepted m-lines recvonly, the others rejected (port 0).

    ``codec_preference`` lists codec names (case-insensitive) in preference order; for a kind it mentions
    (e.g. ``['H264']`` for video) unlisted codecs are not accepted; for a kind it does not mention, every
    supported codec is accepted in the publisher's own order (an SFU forwards what the publisher prefers),
    except that H.264 Constrained Baseline goes before the other H.264 profiles (``is_constrained_baseline``).
    Returns the answer SDP and one :class:`Negotiated` per offered m-line (in order).  Raises
    :class:`SdpError` if nothing is acceptable.
    """
    _check_local(local)
    wanted = [p.lower() for p in (codec_preference or ())]
    preferences: dict[str, list[str]] = {}
    for kind, supported in SUPPORTED_CODECS.items():
        names = {c.name.lower() for c in supported}
        preferences[kind] = [p for p in wanted if p in names] or [
            p.lower() for p in DEFAULT_CODEC_PREFERENCE if p.lower() in names
        ]
    blocks: list[_Block] = []
    results: list[Negotiated] = []
    reasons: list[str] = []
    for index, sec in enumerate(offer.media):
        reason = _transport_reason(sec)
        codecs: list[Codec] = []
        if reason is None and sec.direction not in ("sendonly", "sendrecv"):
            reason = f"direction {sec.direction!r} (publishing requires sendonly or sendrecv)"
        if reason is None:
            preference = preferences[sec.kind]
            extensions = _negotiate_extensions(sec.extensions, sec.kind)
            candidates = [
                c for c in sec.codecs if c.name.lower() in preference and is_supported_codec(c, sec.kind)
            ]
            if any(p in preference for p in wanted):  # the operator's order; else the publisher's own
                candidates.sort(key=lambda c: _publish_sort_key(c, preference))  # stable: keeps offer order
            else:  # with H.264's Constrained Baseline before its other profiles (issue 15: Safari)
                candidates = _constrained_baseline_first(candidates)
            codecs = [
                c.copy(
                    rtcp_fb=_negotiate_fb(c.rtcp_fb, sec.kind, extensions, publish=True),
                    rtx_payload_type=c.rtx_payload_type if sec.kind == "video" else None,
                )
                for c in candidates
            ]
            if not codecs:
                offered = ", ".join(dict.fromkeys(c.name for c in sec.codecs)) or "none"
                reason = f"no supported codec (offered: {offered})"
        if reason is not None:
            reasons.append(f"{_where(index, sec)}: {reason}")
            blocks.append(_reject_block(sec))
            results.append(Negotiated(sec.mid, sec.kind, "inactive", rejected=True))
            continue
        block = _Block(sec.kind, sec.mid, sec.protocol, "recvonly", codecs, extensions=extensions)
        block.rtcp_rsize, block.recv_rids = sec.rtcp_rsize, list(sec.rids)
        blocks.append(block)
        result = Negotiated(sec.mid, sec.kind, "recvonly", [c.copy() for c in codecs], dict(extensions))
        result.ssrcs, result.rtx_ssrcs, result.rids = list(sec.ssrcs), dict(sec.rtx_ssrcs), list(sec.rids)
        result.sim_ssrcs = list(sec.sim_ssrcs) if sec.kind == "video" and not sec.rids else []
        result.cname, result.msid = sec.cname, sec.msid
        results.append(result)
    if all(r.rejected for r in results):
        raise SdpError("nothing to accept in the offer: " + "; ".join(reasons))
    setup = answer_setup(offer.setup, local.setup)
    return _render(local, setup, session_version, blocks, msid_semantic=False), results


def _check_tracks(tracks: Sequence[OfferedTrack]) -> None:
    mids: set[str] = set()
    ssrcs: set[int] = set()
    pts: dict[int, tuple[tuple[object, ...], str]] = {}  # pt -> (codec signature, first mid)
    ext_ids: dict[int, tuple[str, str]] = {}
    for index, track in enumerate(tracks):
        if not _TOKEN_RE.fullmatch(track.mid or ""):
            raise SdpError(f"invalid mid {track.mid!r}")
        if track.mid in mids:
            raise SdpError(f"duplicate mid {track.mid!r}")
        mids.add(track.mid)
        if track.kind not in ("audio", "video"):
            raise SdpError(f"mid {track.mid}: unsupported kind {track.kind!r}")
        if not track.codecs:
            raise SdpError(f"mid {track.mid}: track has no codecs")
        for value, what in (
            (track.cname, "cname"),
            (track.stream_id, "stream_id"),
            (track.track_id, "track_id"),
        ):
            if not _TOKEN_RE.fullmatch(value or ""):
                raise SdpError(f"mid {track.mid}: invalid {what} {value!r}")
        if _offered_rejected(index, track):
            continue
        for ssrc in (track.ssrc, track.rtx_ssrc) if track.active else ():
            if ssrc is None:
                continue
            if not 0 <= ssrc <= 0xFFFFFFFF or ssrc in ssrcs:
                raise SdpError(f"mid {track.mid}: invalid or duplicate ssrc {ssrc}")
            ssrcs.add(ssrc)
        for codec in track.codecs:
            signature = (codec.name.lower(), codec.clock_rate, codec.channels, sorted(codec.fmtp.items()))
            entries: list[tuple[int, tuple[object, ...]]] = [(codec.payload_type, signature)]
            if codec.rtx_payload_type is not None:
                entries.append((codec.rtx_payload_type, ("rtx", codec.clock_rate, codec.payload_type)))
            for pt, sig in entries:
                if not (0 <= pt <= 63 or 96 <= pt <= 127):
                    raise SdpError(f"mid {track.mid}: payload type {pt} is not usable with rtcp-mux")
                seen_sig, seen_mid = pts.setdefault(pt, (sig, track.mid))
                if seen_sig != sig:
                    raise SdpError(
                        f"payload type {pt} means different codecs in mids {seen_mid} and {track.mid}"
                    )
        for uri, ext_id in track.extensions.items():
            if not 1 <= ext_id <= _MAX_ONE_BYTE_EXT_ID:
                raise SdpError(f"mid {track.mid}: extension id {ext_id} out of range 1-14")
            seen_ext = ext_ids.setdefault(ext_id, (uri, track.mid))
            if seen_ext[0] != uri:
                raise SdpError(
                    f"extension id {ext_id} means different URIs in mids {seen_ext[1]} and {track.mid}"
                )


def _offered_rejected(index: int, track: OfferedTrack) -> bool:
    """Whether :func:`offer_subscribe` puts ``track`` on a port-0 (rejected) m-line."""
    return not track.active and index > 0


def offer_subscribe(local: LocalParams, tracks: list[OfferedTrack], session_version: int) -> str:
    """Server offer with one sendonly m-line per track, ``active=False`` ones inactive.

    Tracks must be given in m-line order, including removed ones (mids are never reused).  Inactive
    m-lines get port 0 (rejected, out of BUNDLE), except the first m-line, which stays bundled with
    a=inactive so the BUNDLE tag (and hence the transport) never moves.  Raises
    :class:`SdpError` for an empty list or inconsistent tracks (duplicate mids/ssrcs, payload-type or
    extension-id collisions across the BUNDLE group).
    """
    _check_local(local)
    if not tracks:
        raise SdpError("nothing to offer")
    _check_tracks(tracks)
    blocks = []
    for index, track in enumerate(tracks):
        extensions = {
            uri: i for uri, i in track.extensions.items() if uri in SUPPORTED_EXTENSIONS[track.kind]
        }
        if not track.active:
            rejected = _offered_rejected(index, track)
            codecs = [
                c.copy(rtcp_fb=[] if rejected else c.rtcp_fb, rtx_payload_type=None) for c in track.codecs
            ]
            block = _Block(track.kind, track.mid, "UDP/TLS/RTP/SAVPF", "inactive", codecs, rejected=rejected)
            block.extensions, block.rtcp_rsize = extensions, not rejected
            blocks.append(block)
            continue
        has_rtx = track.kind == "video" and track.rtx_ssrc is not None
        codecs = [
            c.copy(
                rtcp_fb=_negotiate_fb(c.rtcp_fb, track.kind, extensions),
                rtx_payload_type=c.rtx_payload_type if has_rtx else None,
            )
            for c in track.codecs
        ]
        blocks.append(
            _Block(
                track.kind,
                track.mid,
                "UDP/TLS/RTP/SAVPF",
                "sendonly",
                codecs,
                extensions=extensions,
                rtcp_rsize=True,
                track=track,
                send_rtx=has_rtx and any(c.rtx_payload_type is not None for c in codecs),
            )
        )
    setup = local.setup if local.setup in _SETUPS else "actpass"
    return _render(local, setup, session_version, blocks, msid_semantic=True)


def apply_subscribe_answer(offer_tracks: list[OfferedTrack], answer: SessionDescription) -> list[Negotiated]:
    """Check a subscriber's answer against the offered tracks; one :class:`Negotiated` per m-line.

    Each active track's m-line must be answered recvonly or inactive (or rejected) with a subset of the
    offered codecs; anything else raises :class:`SdpError`.
    """
    if answer.setup not in ("active", "passive"):
        raise SdpError(f"a=setup:{answer.setup} is not allowed in an answer (expected active or passive)")
    if len(answer.media) != len(offer_tracks):
        raise SdpError(f"answer has {len(answer.media)} m-sections, the offer had {len(offer_tracks)}")
    results = []
    for index, (track, sec) in enumerate(zip(offer_tracks, answer.media, strict=True)):
        where = _where(index, sec)
        if sec.kind != track.kind or (sec.mid and sec.mid != track.mid) or (not sec.mid and not sec.rejected):
            raise SdpError(f"{where}: does not match the offered m-line (mid {track.mid}, {track.kind})")
        if not track.active or sec.rejected:
            rejected = sec.rejected or _offered_rejected(index, track)
            results.append(Negotiated(track.mid, track.kind, "inactive", rejected=rejected, track=track))
            continue
        if sec.direction not in ("recvonly", "inactive"):
            raise SdpError(f"{where}: answered {sec.direction!r}, expected recvonly or inactive")
        offered = {c.payload_type: c for c in track.codecs}
        extensions = {uri: i for uri, i in sec.extensions.items() if uri in track.extensions}
        codecs = []
        for codec in sec.codecs:
            mine = offered.get(codec.payload_type)
            if mine is None:
                raise SdpError(f"{where}: payload type {codec.payload_type} ({codec.name}) was not offered")
            if not match_codec(codec, mine):
                raise SdpError(
                    f"{where}: payload type {codec.payload_type} answered as {codec.name}, "
                    f"offered as {mine.name}"
                )
            rtx = mine.rtx_payload_type if track.rtx_ssrc is not None else None
            if codec.rtx_payload_type is not None and codec.rtx_payload_type != rtx:
                raise SdpError(f"{where}: rtx payload type {codec.rtx_payload_type} was not offered")
            fbs = _negotiate_fb([fb for fb in mine.rtcp_fb if fb in codec.rtcp_fb], track.kind, extensions)
            codecs.append(mine.copy(rtcp_fb=fbs, rtx_payload_type=codec.rtx_payload_type))
        if not codecs:
            raise SdpError(f"{where}: no codec accepted")
        rtx_ssrcs = {}
        if track.rtx_ssrc is not None and any(c.rtx_payload_type is not None for c in codecs):
            rtx_ssrcs = {track.ssrc: track.rtx_ssrc}
        direction = "sendonly" if sec.direction == "recvonly" else "inactive"
        results.append(
            Negotiated(
                track.mid,
                track.kind,
                direction,
                codecs,
                extensions,
                [track.ssrc],
                rtx_ssrcs,
                cname=track.cname,
                msid=f"{track.stream_id} {track.track_id}",
                track=track,
            )
        )
    return results


def _bind_codecs(track: OfferedTrack, sec: MediaSection, extensions: dict[str, int]) -> list[Codec]:
    """The track's codecs the client can receive, with the client's payload types."""
    out: list[Codec] = []
    for mine in track.codecs:
        theirs = next((c for c in sec.codecs if match_codec(c, mine)), None)
        if theirs is None or any(o.payload_type == theirs.payload_type for o in out):
            continue
        rtx = None
        if track.kind == "video" and track.rtx_ssrc is not None and mine.rtx_payload_type is not None:
            rtx = theirs.rtx_payload_type
        out.append(
            mine.copy(
                payload_type=theirs.payload_type,
                rtcp_fb=_negotiate_fb(theirs.rtcp_fb, track.kind, extensions),
                rtx_payload_type=rtx,
            )
        )
    return out


def answer_whep(
    offer: SessionDescription,
    local: LocalParams,
    tracks_by_kind: dict[str, list[OfferedTrack]],
    *,
    session_version: int = 1,
) -> tuple[str, list[Negotiated]]:
    """Answer a WHEP offer: bind the next unused active track of each m-line's kind and answer sendonly.

    m-lines that get no track (none left, no common codec, or not offered recvonly/sendrecv) are answered
    inactive; non-audio/video or rejected ones are rejected.  ``Negotiated.track`` tells which track went
    where.  Raises :class:`SdpError` when every m-line has to be rejected.
    """
    _check_local(local)
    used: set[int] = set()
    blocks: list[_Block] = []
    results: list[Negotiated] = []
    reasons: list[str] = []
    for index, sec in enumerate(offer.media):
        reason = _transport_reason(sec)
        if reason is not None:
            reasons.append(f"{_where(index, sec)}: {reason}")
            blocks.append(_reject_block(sec))
            results.append(Negotiated(sec.mid, sec.kind, "inactive", rejected=True))
            continue
        bound: tuple[OfferedTrack, list[Codec], dict[str, int]] | None = None
        if sec.direction in ("recvonly", "sendrecv"):
            for track in tracks_by_kind.get(sec.kind, []):
                if not track.active or id(track) in used:
                    continue
                extensions = _negotiate_extensions(sec.extensions, sec.kind, track.extensions)
                codecs = _bind_codecs(track, sec, extensions)
                if codecs:
                    bound = (track, codecs, extensions)
                    used.add(id(track))
                    break
        if bound is None:
            extensions = _negotiate_extensions(sec.extensions, sec.kind)
            supported = [c for c in sec.codecs if is_supported_codec(c, sec.kind)] or sec.codecs[:1]
            codecs = [
                c.copy(rtcp_fb=_negotiate_fb(c.rtcp_fb, sec.kind, extensions), rtx_payload_type=None)
                for c in supported
            ]
            blocks.append(
                _Block(
                    sec.kind,
                    sec.mid,
                    sec.protocol,
                    "inactive",
                    codecs,
                    formats=sec.formats[:1],
                    extensions=extensions,
                    rtcp_rsize=sec.rtcp_rsize,
                )
            )
            results.append(Negotiated(sec.mid, sec.kind, "inactive"))
            continue
        track, codecs, extensions = bound
        send_rtx = track.rtx_ssrc is not None and any(c.rtx_payload_type is not None for c in codecs)
        blocks.append(
            _Block(
                sec.kind,
                sec.mid,
                sec.protocol,
                "sendonly",
                codecs,
                extensions=extensions,
                rtcp_rsize=sec.rtcp_rsize,
                track=track,
                send_rtx=send_rtx,
            )
        )
        results.append(
            Negotiated(
                sec.mid,
                sec.kind,
                "sendonly",
                [c.copy() for c in codecs],
                dict(extensions),
                [track.ssrc],
                {track.ssrc: track.rtx_ssrc} if send_rtx and track.rtx_ssrc is not None else {},
                cname=track.cname,
                msid=f"{track.stream_id} {track.track_id}",
                track=track,
            )
        )
    if all(r.rejected for r in results):
        raise SdpError("nothing to answer in the offer: " + "; ".join(reasons))
    setup = answer_setup(offer.setup, local.setup)
    return _render(local, setup, session_version, blocks, msid_semantic=True), results
