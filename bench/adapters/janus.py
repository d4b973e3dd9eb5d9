"""Janus 1.1 (the Debian package, VideoRoom plugin) behind the side-by-side adapter interface.

Janus runs as one process pinned to one core (``event_loops = 1``: every ICE/DTLS/RTP handle
shares one GLib loop and its thread; the HTTP transport and the plugin keep a few helper threads).
Full ICE (libnice) as shipped, half-trickle: its candidates are in the SDP it sends (trickle events
are also read as a fallback). No STUN/TURN, no admin API, no event handlers or loggers.

Loopback: Janus 1.1 never gathers on a loopback interface (ice.c skips IFF_LOOPBACK; with nothing
added libnice falls back to every non-loopback interface, IPv6 included), and libnice 0.1.21 pins
each host socket to its interface (IP_UNICAST_IF), so a Janus on the host address cannot answer
127.0.0.1 either. A small LD_PRELOAD, compiled into the workdir and loaded into Janus only, clears
the loopback flag that getifaddrs() reports and makes IP_UNICAST_IF a no-op; with ``interface`` and
``ice_enforce_list`` = 127.0.0.1 Janus's only candidate is then 127.0.0.1 (checked in the SDP).
Without a C compiler (or with ``loopback_shim=False``) Janus gathers on the host's first
non-loopback IPv4 address and the load generator must bind there (``adapter.lg_bind_ip``).

Signaling is the Janus REST API over one aiohttp session: one Janus session holds every handle
(one per publisher or subscriber), one long-poll loop reads the events of all of them and routes
them by transaction or by handle, one keepalive every 25 s keeps the session alive. This scales
to thousands of handles without a poll per peer.

Roles (RFC 8445 / RFC 5763, as Janus takes them):

* publisher: we offer (``a=setup:actpass``), Janus answers and is the ICE *controlled* agent, so the
  load-generator peer is controlling. Janus answers ``a=setup:active`` to an actpass offer (it is
  the DTLS client), so the load-generator peer is then the DTLS server; the role is read from the
  answer.
* subscriber: Janus offers (``a=setup:actpass``) and is the ICE *controlling* agent; the
  load-generator peer is controlled. We answer ``a=setup:passive`` by default (the load generator
  is the DTLS server, Janus the client): see ``JanusAdapter.subscriber_dtls`` for why.

Simulcast: rid based (``a=rid`` + ``a=simulcast:send``), rids listed high to low as Janus expects
by default (``rid_order`` "hml"): ``f;h;q``. Subscribers are configured for substream 2 (``f``).
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import hashlib
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bench.adapters.base import Adapter, Media, Peer

if TYPE_CHECKING:
    from bench.loadgen import Loadgen

PLUGIN = "janus.plugin.videoroom"
OPUS_PT, VP8_PT = 111, 96
EXT_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
EXT_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
MID_EXT_ID, RID_EXT_ID = 4, 10
LAYER_ORDER = ("q", "h", "f")  # lowest first; Janus substreams 0, 1, 2
KEEPALIVE_S = 25.0
_stream_ids = itertools.count(1)


class JanusError(RuntimeError):
    pass


def room_id(room: str) -> int:
    """A stable numeric VideoRoom id for a room name (a decimal name is taken as is)."""
    if room.isdigit() and 0 < int(room) < 2**53:
        return int(room)
    return int.from_bytes(hashlib.sha256(room.encode()).digest()[:6], "big") or 1


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------------
# SDP: the little we need of it
# --------------------------------------------------------------------------------------------------


@dataclass
class MLine:
    kind: str
    port: int
    proto: str
    fmts: list[str]
    attrs: list[tuple[str, str]] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        return next((v for n, v in self.attrs if n == name), None)

    def all(self, name: str) -> list[str]:
        return [v for n, v in self.attrs if n == name]


@dataclass
class Sdp:
    session: list[tuple[str, str]]
    media: list[MLine]

    def attr(self, name: str) -> str | None:
        """A session attribute, else the first media-level one."""
        for n, v in self.session:
            if n == name:
                return v
        for m in self.media:
            if (v := m.get(name)) is not None:
                return v
        return None

    def candidates(self) -> list[str]:
        return [v for n, v in self.session if n == "candidate"] + [
            c for m in self.media for c in m.all("candidate")
        ]


def parse_sdp(text: str) -> Sdp:
    session: list[tuple[str, str]] = []
    media: list[MLine] = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("m="):
            kind, port, proto, *fmts = line[2:].split()
            media.append(MLine(kind, int(port), proto, fmts))
        elif line.startswith("a="):
            name, _, value = line[2:].partition(":")
            (media[-1].attrs if media else session).append((name, value))
    return Sdp(session, media)


@dataclass
class Remote:
    ip: str
    port: int
    ufrag: str
    pwd: str
    fingerprint: str  # "sha-256 AB:CD:..."
    setup: str  # the remote's a=setup


def is_local_ipv4(ip: str) -> bool:
    """An IPv4 address of this host (traffic to it never leaves the machine: the kernel routes it over lo)."""
    try:
        socket.inet_aton(ip)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((ip, 0))
        return ip.count(".") == 3
    except OSError:
        return False


def host_candidate(cands: list[str]) -> tuple[str, int] | None:
    """Janus's UDP IPv4 host candidate (component 1): 127.0.0.1 if offered, else an address of this host.

    Janus 1.1 never gathers on loopback interfaces (ice.c skips IFF_LOOPBACK), so it announces the
    host's own non-loopback address; packets to it from 127.0.0.1 still stay on the lo device."""
    found = []
    for c in cands:
        f = c.removeprefix("candidate:").split()
        if len(f) >= 8 and f[1] == "1" and f[2].lower() == "udp" and f[6:8] == ["typ", "host"]:
            found.append((f[4], int(f[5])))
    for ip, port in found:
        if ip == "127.0.0.1":
            return ip, port
    for ip, port in found:
        if is_local_ipv4(ip):
            return ip, port
    return None


def remote_of(sdp: Sdp, trickled: list[str] = ()) -> Remote:
    ufrag, pwd, fp, setup = (sdp.attr(a) for a in ("ice-ufrag", "ice-pwd", "fingerprint", "setup"))
    if not (ufrag and pwd and fp and setup):
        raise JanusError("Janus SDP lacks ICE credentials, fingerprint or setup")
    if not fp.lower().startswith("sha-256 "):
        raise JanusError(f"unexpected fingerprint algorithm: {fp}")
    addr = host_candidate(sdp.candidates() + list(trickled))
    if addr is None:
        raise JanusError("no local IPv4 UDP host candidate from Janus (SDP or trickle)")
    return Remote(addr[0], addr[1], ufrag, pwd, "sha-256 " + fp.split()[1].upper(), setup)


def publisher_offer(
    ufrag: str,
    pwd: str,
    fingerprint: str,
    port: int,
    media: Media,
    ssrcs: dict[str, int],
    ip: str = "127.0.0.1",
) -> str:
    """sendonly Opus + VP8 (rid simulcast when there are several layers), one BUNDLE transport."""
    tr = [
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {fingerprint}",
        "a=setup:actpass",
    ]
    cand = [f"a=candidate:1 1 udp 2130706431 {ip} {port} typ host", "a=end-of-candidates"]
    mids = (["0"] if media.audio else []) + (["1"] if media.video_layers else [])
    lines = [
        "v=0",
        f"o=- {secrets.randbits(62)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE " + " ".join(mids),
        "a=msid-semantic: WMS lg",
    ]
    if media.audio:
        s = ssrcs["audio"]
        lines += [
            f"m=audio {port} UDP/TLS/RTP/SAVPF {OPUS_PT}",
            f"c=IN IP4 {ip}",
            *tr,
            *cand,
            "a=mid:0",
            f"a=extmap:{MID_EXT_ID} {EXT_MID}",
            "a=sendonly",
            "a=msid:lg a0",
            "a=rtcp-mux",
            f"a=rtpmap:{OPUS_PT} opus/48000/2",
            f"a=fmtp:{OPUS_PT} minptime=10;useinbandfec=1",
            f"a=ssrc:{s} cname:lg",
            f"a=ssrc:{s} msid:lg a0",
        ]
    if media.video_layers:
        sim = len(media.video_layers) > 1
        lines += [
            f"m=video {port} UDP/TLS/RTP/SAVPF {VP8_PT}",
            f"c=IN IP4 {ip}",
            *tr,
            *cand,
            "a=mid:1",
            f"a=extmap:{MID_EXT_ID} {EXT_MID}",
            *([f"a=extmap:{RID_EXT_ID} {EXT_RID}"] if sim else []),
            "a=sendonly",
            "a=msid:lg v0",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            f"a=rtpmap:{VP8_PT} VP8/90000",
            f"a=rtcp-fb:{VP8_PT} nack",
            f"a=rtcp-fb:{VP8_PT} nack pli",
            f"a=rtcp-fb:{VP8_PT} ccm fir",
        ]
        if sim:
            hml = [r for r in reversed(LAYER_ORDER) if r in media.video_layers]  # Janus default: high first
            lines += [f"a=rid:{r} send" for r in hml] + ["a=simulcast:send " + ";".join(hml)]
        else:
            s = ssrcs[media.video_layers[0]]
            lines += [f"a=ssrc:{s} cname:lg", f"a=ssrc:{s} msid:lg v0"]
    return "\r\n".join(lines) + "\r\n"


def subscriber_answer(
    offer: Sdp,
    ufrag: str,
    pwd: str,
    fingerprint: str,
    port: int,
    ip: str = "127.0.0.1",
    setup: str = "active",
) -> tuple[str, dict[int, int]]:
    """recvonly for every m-line Janus offers (its codecs, rtx and the mid extension only).

    Returns the SDP and the rtx payload type map (rtx pt -> media pt)."""
    tr = [
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        f"a=fingerprint:sha-256 {fingerprint}",
        f"a=setup:{setup}",
    ]
    cand = [f"a=candidate:1 1 udp 2130706431 {ip} {port} typ host", "a=end-of-candidates"]
    rtx: dict[int, int] = {}
    mids = [m.get("mid") for m in offer.media if m.port != 0 and m.kind in ("audio", "video")]
    lines = ["v=0", f"o=- {secrets.randbits(62)} 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
    if mids:
        lines.append("a=group:BUNDLE " + " ".join(mids))
    lines.append("a=msid-semantic: WMS")
    for m in offer.media:
        mid = m.get("mid")
        if m.port == 0 or m.kind not in ("audio", "video"):
            lines += [f"m={m.kind} 0 {m.proto} {' '.join(m.fmts)}", "c=IN IP4 0.0.0.0"]
            if mid is not None:
                lines.append(f"a=mid:{mid}")
            continue
        rtpmap = {int(v.split()[0]): v.split()[1] for v in m.all("rtpmap")}
        fmtp = {int(v.split()[0]): v.split(None, 1)[1] for v in m.all("fmtp") if len(v.split(None, 1)) == 2}
        want = "opus" if m.kind == "audio" else "vp8"
        keep = [pt for pt, enc in rtpmap.items() if enc.split("/")[0].lower() == want]
        for pt, enc in rtpmap.items():
            apt = fmtp.get(pt, "")
            if enc.lower().startswith("rtx/") and apt.startswith("apt=") and int(apt[4:]) in keep:
                keep.append(pt)
                rtx[pt] = int(apt[4:])
        if not keep:
            raise JanusError(f"Janus offered no {want} on m-line {mid}")
        lines += [
            f"m={m.kind} {port} {m.proto} {' '.join(map(str, keep))}",
            f"c=IN IP4 {ip}",
            *tr,
            *cand,
            f"a=mid:{mid}",
        ]
        lines += [f"a=extmap:{v}" for v in m.all("extmap") if v.split()[1] == EXT_MID]
        direction = next(
            (n for n, _ in m.attrs if n in ("sendonly", "sendrecv", "recvonly", "inactive")), "sendrecv"
        )
        lines += ["a=recvonly" if direction in ("sendonly", "sendrecv") else "a=inactive", "a=rtcp-mux"]
        if m.get("rtcp-rsize") is not None:
            lines.append("a=rtcp-rsize")
        for pt in keep:
            lines.append(f"a=rtpmap:{pt} {rtpmap[pt]}")
            lines += [
                f"a=rtcp-fb:{v}"
                for v in m.all("rtcp-fb")
                if v.split()[0] == str(pt) and v.split()[1] in ("nack", "ccm")
            ]
            if pt in fmtp:
                lines.append(f"a=fmtp:{pt} {fmtp[pt]}")
    return "\r\n".join(lines) + "\r\n", rtx


def offered_ssrcs(offer: Sdp) -> dict[str, list[int]]:
    """The SSRCs Janus announces per m-line mid (media SSRC first, then its rtx SSRC)."""
    out: dict[str, list[int]] = {}
    for m in offer.media:
        if m.port == 0:
            continue
        seen: list[int] = []
        for v in m.all("ssrc"):
            s = int(v.split()[0])
            if s not in seen:
                seen.append(s)
        out[m.get("mid") or ""] = seen
    return out


# --------------------------------------------------------------------------------------------------
# The Janus REST client: one session, many handles, one long poll
# --------------------------------------------------------------------------------------------------


@dataclass
class HandleState:
    """What the long poll learnt about one handle."""

    trickled: list[str] = field(default_factory=list)
    webrtcup: asyncio.Event = field(default_factory=asyncio.Event)
    media: dict[str, bool] = field(default_factory=dict)  # "audio"/"video" (by mid too) -> receiving
    hangup: str | None = None
    slowlinks: int = 0

    def on_event(self, ev: dict[str, Any]) -> None:
        kind = ev.get("janus")
        if kind == "trickle":
            c = ev.get("candidate", {})
            for cc in c if isinstance(c, list) else [c]:
                if cc.get("candidate"):
                    self.trickled.append(cc["candidate"])
        elif kind == "webrtcup":
            self.webrtcup.set()
        elif kind == "media":
            self.media[str(ev.get("mid", ev.get("type")))] = bool(ev.get("receiving"))
        elif kind == "hangup":
            self.hangup = ev.get("reason", "?")
        elif kind == "slowlink":
            self.slowlinks += 1


class JanusClient:
    def __init__(self, base_url: str, http: aiohttp.ClientSession) -> None:
        self.base = base_url.rstrip("/")
        self.http = http
        self.session_id: int | None = None
        self._tx: dict[str, asyncio.Future] = {}
        self._handles: dict[int, HandleState] = {}
        self._tasks: list[asyncio.Task] = []
        self.events_seen = 0

    @staticmethod
    def _txid() -> str:
        return secrets.token_hex(8)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.base + path, json=body) as r:
            data = await r.json(content_type=None)
        if data.get("janus") == "error":
            raise JanusError(f"{body.get('janus')}: {data.get('error')}")
        return data

    async def info(self) -> dict[str, Any]:
        async with self.http.get(self.base + "/info") as r:
            return await r.json(content_type=None)

    async def create_session(self) -> int:
        data = await self._post("", {"janus": "create", "transaction": self._txid()})
        self.session_id = data["data"]["id"]
        self._tasks = [asyncio.create_task(self._poll()), asyncio.create_task(self._keepalive())]
        return self.session_id

    async def attach(self) -> int:
        data = await self._post(
            f"/{self.session_id}", {"janus": "attach", "plugin": PLUGIN, "transaction": self._txid()}
        )
        h = data["data"]["id"]
        self._handles[h] = HandleState()
        return h

    async def request(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request: its plugindata.data."""
        data = await self._post(
            f"/{self.session_id}/{handle}", {"janus": "message", "body": body, "transaction": self._txid()}
        )
        pd = data.get("plugindata", {}).get("data", {})
        if "error" in pd:
            raise JanusError(f"{body.get('request')}: {pd['error']} ({pd.get('error_code')})")
        return pd

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None, timeout: float = 30.0
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """An asynchronous plugin request: waits for its event; returns (plugindata.data, jsep)."""
        tx = self._txid()
        fut = asyncio.get_running_loop().create_future()
        self._tx[tx] = fut
        msg: dict[str, Any] = {"janus": "message", "body": body, "transaction": tx}
        if jsep is not None:
            msg["jsep"] = jsep
        try:
            data = await self._post(f"/{self.session_id}/{handle}", msg)
            if data.get("janus") == "success":  # answered synchronously after all
                return data.get("plugindata", {}).get("data", {}), data.get("jsep")
            ev = await asyncio.wait_for(fut, timeout)
        finally:
            self._tx.pop(tx, None)
        pd = ev.get("plugindata", {}).get("data", {})
        if "error" in pd:
            raise JanusError(f"{body.get('request')}: {pd['error']} ({pd.get('error_code')})")
        return pd, ev.get("jsep")

    async def detach(self, handle: int) -> None:
        try:
            await self._post(f"/{self.session_id}/{handle}", {"janus": "detach", "transaction": self._txid()})
        finally:
            self._handles.pop(handle, None)

    def trickles(self, handle: int) -> list[str]:
        """Candidates Janus trickled for a handle so far."""
        st = self._handles.get(handle)
        return list(st.trickled) if st else []

    async def wait_webrtcup(self, handle: int, timeout: float = 20.0) -> None:
        st = self._handles.get(handle)
        if st is None:
            raise JanusError(f"unknown handle {handle}")
        try:
            await asyncio.wait_for(st.webrtcup.wait(), timeout)
        except asyncio.TimeoutError:
            raise JanusError(
                f"handle {handle}: no webrtcup within {timeout} s (hangup: {st.hangup})"
            ) from None

    async def _poll(self) -> None:
        url = f"{self.base}/{self.session_id}?maxev=100"
        while True:
            try:
                async with self.http.get(url, timeout=aiohttp.ClientTimeout(total=60)) as r:
                    data = await r.json(content_type=None)
            except asyncio.CancelledError:
                raise
            except Exception:
                await asyncio.sleep(0.2)
                continue
            for ev in data if isinstance(data, list) else [data]:
                self.events_seen += 1
                tx = ev.get("transaction")
                if ev.get("janus") in ("event", "success") and tx in self._tx:
                    fut = self._tx.pop(tx)
                    if not fut.done():
                        fut.set_result(ev)
                    continue
                st = self._handles.get(ev.get("sender"))
                if st is not None:
                    st.on_event(ev)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE_S)
            with contextlib.suppress(Exception):
                await self._post(f"/{self.session_id}", {"janus": "keepalive", "transaction": self._txid()})

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(BaseException):
                await t
        self._tasks = []
        if self.session_id is not None:
            with contextlib.suppress(Exception):
                await self._post(f"/{self.session_id}", {"janus": "destroy", "transaction": self._txid()})
            self.session_id = None

    # ---- VideoRoom, SDP in and out (used by the load-generator adapter and by aiortc tests) -----

    async def create_room(self, room: int, publishers: int) -> None:
        h = await self.attach()
        try:
            with contextlib.suppress(JanusError):  # "room already exists" is fine
                await self.request(
                    h,
                    {
                        "request": "create",
                        "room": room,
                        "publishers": publishers,
                        "permanent": False,
                        "is_private": False,
                        "videocodec": "vp8",
                        "audiocodec": "opus",
                        "bitrate": 0,
                        "notify_joining": False,
                        "record": False,
                        "fir_freq": 0,
                        "require_pvtid": False,
                    },
                )
        finally:
            await self.detach(h)

    async def destroy_room(self, room: int) -> None:
        h = await self.attach()
        try:
            with contextlib.suppress(JanusError):
                await self.request(h, {"request": "destroy", "room": room})
        finally:
            await self.detach(h)

    async def publish(self, room: int, display: str, offer_sdp: str) -> tuple[int, int, str]:
        """Join as publisher and publish ``offer_sdp``: (handle, publisher id, answer SDP)."""
        h = await self.attach()
        joined, _ = await self.message(
            h, {"request": "join", "ptype": "publisher", "room": room, "display": display}
        )
        pub_id = joined["id"]
        _, jsep = await self.message(
            h,
            {"request": "publish", "audio": True, "video": True, "data": False},
            jsep={"type": "offer", "sdp": offer_sdp, "trickle": False},
        )
        if not jsep or jsep.get("type") != "answer":
            raise JanusError(f"publish: no answer from Janus ({jsep})")
        return h, pub_id, jsep["sdp"]

    async def subscribe(self, room: int, feeds: list[int]) -> tuple[int, str, list[dict[str, Any]]]:
        """Join as subscriber to every stream of ``feeds``: (handle, Janus's offer SDP, its streams:
        ``[{"mid", "type", "feed_id", "feed_mid", ...}]``)."""
        h = await self.attach()
        attached, jsep = await self.message(
            h,
            {
                "request": "join",
                "ptype": "subscriber",
                "room": room,
                "use_msid": False,
                "streams": [{"feed": f} for f in feeds],
            },
        )
        if not jsep or jsep.get("type") != "offer":
            raise JanusError(f"subscribe: no offer from Janus ({jsep})")
        return h, jsep["sdp"], attached.get("streams", [])

    async def start(self, handle: int, answer_sdp: str) -> None:
        await self.message(
            handle, {"request": "start"}, jsep={"type": "answer", "sdp": answer_sdp, "trickle": False}
        )

    async def configure_substream(self, handle: int, mids: list[str], substream: int = 2) -> None:
        await self.message(
            handle,
            {
                "request": "configure",
                "streams": [{"mid": m, "substream": substream, "temporal": 2} for m in mids],
            },
        )

    async def leave(self, handle: int) -> None:
        with contextlib.suppress(Exception):
            await self.message(handle, {"request": "leave"}, timeout=5)
        with contextlib.suppress(Exception):
            await self._post(f"/{self.session_id}/{handle}", {"janus": "hangup", "transaction": self._txid()})
        with contextlib.suppress(Exception):
            await self.detach(handle)


# --------------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------------


def host_ipv4() -> tuple[str, str]:
    """(interface, address) of the first up, non-loopback interface with an IPv4 address."""
    import fcntl
    import struct

    SIOCGIFFLAGS, SIOCGIFADDR, IFF_UP, IFF_LOOPBACK = 0x8913, 0x8915, 0x1, 0x8
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            req = struct.pack("256s", name.encode()[:15])
            try:
                flags = struct.unpack("H", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req)[16:18])[0]
                if not flags & IFF_UP or flags & IFF_LOOPBACK:
                    continue
                return name, socket.inet_ntoa(fcntl.ioctl(s.fileno(), SIOCGIFADDR, req)[20:24])
            except OSError:
                continue
    raise JanusError("Janus needs a non-loopback IPv4 interface (it never gathers on loopback)")


# Janus 1.1 skips every interface flagged IFF_LOOPBACK when it lists the addresses libnice may gather
# on (ice.c, janus_ice_setup_local), so it can never announce 127.0.0.1. This preload, loaded into
# Janus only, clears that flag in what getifaddrs() returns: with ``ice_enforce_list = 127.0.0.1``
# Janus then hands libnice 127.0.0.1 and nothing else, and its one candidate is 127.0.0.1.
# It also turns IP_UNICAST_IF into a no-op: libnice >= 0.1.19 pins each host socket to its
# interface with it, which would make a socket on the host address unable to answer 127.0.0.1.
LOOPBACK_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#ifndef IP_UNICAST_IF
#define IP_UNICAST_IF 50
#endif
int getifaddrs(struct ifaddrs **ifap) {
    static int (*real)(struct ifaddrs **);
    if (!real) real = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    int r = real(ifap);
    if (r == 0)
        for (struct ifaddrs *i = *ifap; i; i = i->ifa_next) i->ifa_flags &= ~IFF_LOOPBACK;
    return r;
}
int setsockopt(int fd, int level, int name, const void *val, socklen_t len) {
    static int (*real)(int, int, int, const void *, socklen_t);
    if (!real) real = (int (*)(int, int, int, const void *, socklen_t))dlsym(RTLD_NEXT, "setsockopt");
    if (level == IPPROTO_IP && name == IP_UNICAST_IF) return 0;
    return real(fd, level, name, val, len);
}
"""


def build_shim(workdir: Path) -> Path | None:
    """Compile the loopback preload into workdir; None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    src, so = workdir / "janus_loopback.c", workdir / "janus_loopback.so"
    src.write_text(LOOPBACK_SHIM)
    r = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(so), str(src), "-ldl"], capture_output=True)
    return so if r.returncode == 0 else None


def janus_dirs() -> dict[str, str]:
    """Plugin folders of the installed package (Debian: /usr/lib/<triplet>/janus/...)."""
    for base in sorted(glob.glob("/usr/lib/*/janus")) + ["/usr/lib/janus", "/opt/janus/lib/janus"]:
        if os.path.isdir(os.path.join(base, "plugins")):
            return {k: os.path.join(base, k) for k in ("plugins", "transports", "events", "loggers")}
    raise JanusError("Janus plugin folders not found")


def ensure_janus() -> str:
    exe = shutil.which("janus")
    if exe:
        return exe
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", "janus"]
    r = subprocess.run(install, env=env, capture_output=True, text=True)
    if r.returncode != 0:  # a stale package index: update once and retry
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, capture_output=True)
        r = subprocess.run(install, env=env, capture_output=True, text=True)
    exe = shutil.which("janus")
    if r.returncode != 0 or not exe:
        raise JanusError(f"apt-get install janus failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    # the package may start a system service; the benchmark runs its own instance
    if shutil.which("systemctl"):
        subprocess.run([*sudo, "systemctl", "disable", "--now", "janus"], capture_output=True)
    return exe


def write_config(
    workdir: Path,
    http_port: int,
    debug_level: int,
    dirs: dict[str, str],
    ice_ip: str,
    nice_debug: bool = False,
) -> Path:
    def others(kind: str, keep: str | None) -> str:
        names = sorted({os.path.basename(p) for p in glob.glob(os.path.join(dirs[kind], "libjanus_*.so"))})
        return ",".join(n for n in names if n != keep)

    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "janus.jcfg").write_text(f"""general: {{
	configs_folder = "{workdir}"
	plugins_folder = "{dirs["plugins"]}"
	transports_folder = "{dirs["transports"]}"
	events_folder = "{dirs["events"]}"
	loggers_folder = "{dirs["loggers"]}"
	debug_level = {debug_level}
	debug_timestamps = true
	debug_colors = false
	interface = "{ice_ip}"
	event_loops = 1
	session_timeout = 60
	candidates_timeout = 45
	server_name = "bench"
}}
certificates: {{
}}
media: {{
	ipv6 = false
	rtp_port_range = "20000-60000"
}}
nat: {{
	full_trickle = false
	ice_lite = false
	ice_tcp = false
	nice_debug = {"true" if nice_debug else "false"}
	ice_enforce_list = "{ice_ip}"
}}
plugins: {{
	disable = "{others("plugins", "libjanus_videoroom.so")}"
}}
transports: {{
	disable = "{others("transports", "libjanus_http.so")}"
}}
loggers: {{
	disable = "{others("loggers", None)}"
}}
events: {{
	broadcast = false
	disable = "{others("events", None)}"
}}
""")
    (workdir / "janus.transport.http.jcfg").write_text(f"""general: {{
	json = "compact"
	base_path = "/janus"
	http = true
	port = {http_port}
	ip = "127.0.0.1"
	https = false
}}
admin: {{
	admin_http = false
	admin_https = false
}}
cors: {{
}}
""")
    (workdir / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")
    return workdir / "janus.jcfg"


class JanusAdapter(Adapter):
    """Janus 1.1 VideoRoom for the side-by-side harness.

    * ``clips``: load-generator clip ids for "audio", "q", "h", "f".
    * ``subscriber_dtls``: the load-generator subscriber's DTLS role. "server" (answer
      ``a=setup:passive``, Janus is the DTLS client) by default: as DTLS client the load generator
      sends its ClientHello the moment it is nominated, and Janus 1.1.2 silently drops a ClientHello
      that arrives before its own handshake start (queued on its loop after the selected-pair
      callback); the join then waits for the client's retransmission (OpenSSL's 1 s at first, 100 ms
      since the load generator shortened its timer). "client" restores ``a=setup:active``.
    * ``force_substream``: send ``configure`` with ``substream: 2`` after ``start`` (Janus already
      targets the top substream by default; this makes it explicit at one extra round trip).
    * ``loopback_shim``: preload the IP_UNICAST_IF no-op (see the module docstring).
    * ``debug_level`` (default 3, or $JANUS_DEBUG_LEVEL) and ``nice_debug`` for investigations.
    """

    name = "janus"
    simulcast = True

    def __init__(
        self,
        clips: dict[str, int],
        debug_level: int | None = None,
        nice_debug: bool = False,
        loopback_shim: bool = True,
        subscriber_dtls: str = "server",
        force_substream: bool = True,
    ) -> None:
        super().__init__()
        self.clips = clips
        self.debug_level = (
            debug_level if debug_level is not None else int(os.environ.get("JANUS_DEBUG_LEVEL", "3"))
        )
        self.nice_debug = nice_debug
        self.loopback_shim = loopback_shim
        if subscriber_dtls not in ("client", "server"):
            raise ValueError("subscriber_dtls is 'client' (answer setup:active) or 'server' (setup:passive)")
        self.subscriber_dtls = subscriber_dtls
        self.force_substream = force_substream
        self.ice_iface = self.ice_ip = ""
        self.lg_bind_ip = "127.0.0.1"  # where load-generator peers must bind to reach this Janus
        self.proc: subprocess.Popen | None = None
        self.http: aiohttp.ClientSession | None = None
        self.client: JanusClient | None = None
        self.base_url = ""
        self.workdir: Path | None = None
        self._log = None
        self._rooms: dict[str, int] = {}
        self._lgs: dict[int, Loadgen] = {}  # lg peer id -> its Loadgen (for leave)

    # ---- lifecycle ---------------------------------------------------------------------------

    async def start(self, core: int, workdir: Path) -> None:
        exe = await asyncio.to_thread(ensure_janus)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_tcp_port()
        env = dict(os.environ)
        shim = await asyncio.to_thread(build_shim, self.workdir) if self.loopback_shim else None
        if shim is not None:
            env["LD_PRELOAD"] = " ".join(filter(None, [str(shim), env.get("LD_PRELOAD", "")]))
            self.ice_iface, self.ice_ip = "lo", "127.0.0.1"
        else:
            # without the preload Janus gathers on the host's own address only, and only peers bound
            # to that same address can reach it (IP_UNICAST_IF): the load generator must bind there
            self.ice_iface, self.ice_ip = host_ipv4()
        self.lg_bind_ip = self.ice_ip
        cfg = write_config(self.workdir, port, self.debug_level, janus_dirs(), self.ice_ip, self.nice_debug)
        self._log = open(self.workdir / "janus.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(core), exe, "-C", str(cfg), "-F", str(self.workdir)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        self.pids = [self.proc.pid]  # taskset execs janus: one process, same pid
        self.base_url = f"http://127.0.0.1:{port}/janus"
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=90)
        )
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise JanusError(
                    f"janus exited with {self.proc.returncode}; see {self.workdir / 'janus.log'}"
                )
            try:
                async with self.http.post(
                    self.base_url,
                    json={"janus": "info", "transaction": "i"},
                    timeout=aiohttp.ClientTimeout(total=2),
                ) as r:
                    if (await r.json(content_type=None)).get("janus") == "server_info":
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
                pass
            if time.monotonic() > deadline:
                await self.stop()
                raise JanusError("janus did not answer its HTTP API within 20 s")
            await asyncio.sleep(0.1)
        self.client = JanusClient(self.base_url, self.http)
        await self.client.create_session()

    async def stop(self) -> None:
        if self.client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), 5)
            self.client = None
        if self.http is not None:
            await self.http.close()
            self.http = None
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(self.proc.wait, 5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    await asyncio.to_thread(self.proc.wait)
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._rooms.clear()

    # ---- rooms and peers ---------------------------------------------------------------------

    def _client(self) -> JanusClient:
        if self.client is None:
            raise JanusError("JanusAdapter not started")
        return self.client

    async def create_room(self, room: str, publishers: int) -> None:
        rid = room_id(room)
        await self._client().create_room(rid, max(publishers, 1))
        self._rooms[room] = rid

    async def _room(self, room: str) -> int:
        if room not in self._rooms:
            await self.create_room(room, 16)
        return self._rooms[room]

    def _lg_ip(self, lg: Loadgen) -> str:
        return str(getattr(lg, "bind_ip", None) or self.lg_bind_ip)

    async def _remote(self, handle: int, sdp: Sdp) -> Remote:
        """Janus's transport; its host candidate from the SDP, else from trickle events (up to 5 s)."""
        trickled: list[str] = []
        deadline = time.monotonic() + 5
        while True:
            try:
                return remote_of(sdp, trickled)
            except JanusError:
                if time.monotonic() > deadline or host_candidate(sdp.candidates()) is not None:
                    raise
            await asyncio.sleep(0.05)
            trickled += self._client().trickles(handle)

    async def publish(self, lg: Loadgen, room: str, name: str, media: Media) -> Peer:
        c = self._client()
        rid = await self._room(room)
        layers = tuple(media.video_layers) if self.simulcast else tuple(media.video_layers[-1:])
        media = Media(audio=media.audio, video_layers=layers)
        ufrag, pwd = secrets.token_hex(4), secrets.token_hex(12)
        p = lg.open_peer(ufrag, pwd)
        ssrcs = {k: secrets.randbits(31) | 1 for k in (["audio"] if media.audio else []) + list(layers)}
        offer = publisher_offer(ufrag, pwd, lg.fingerprint, lg.port(p), media, ssrcs, self._lg_ip(lg))
        try:
            handle, pub_id, answer = await c.publish(rid, name, offer)
            sdp = parse_sdp(answer)
            remote = await self._remote(handle, sdp)
            # Janus answers "active" to actpass (it is the DTLS client): we are the DTLS server then.
            dtls_role = "server" if remote.setup == "active" else "client"
            lg.connect(
                p,
                remote_ip=remote.ip,
                remote_port=remote.port,
                remote_ufrag=remote.ufrag,
                remote_pwd=remote.pwd,
                remote_fingerprint=remote.fingerprint,
                controlling=True,
                dtls_role=dtls_role,
                srtp_profiles=("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"),
                rtx={},
                twcc_ext=0,
            )
            # Janus refuses subscriptions to a publisher whose PeerConnection is not up ("No such feed")
            await c.wait_webrtcup(handle)
        except BaseException:
            lg.close_peer(p)
            raise
        sources: dict[str, int] = {}
        if media.audio:
            sources["audio"] = lg.add_source(
                p,
                clip=self.clips["audio"],
                ssrc=ssrcs["audio"],
                pt=OPUS_PT,
                stream_id=next(_stream_ids),
                mid_ext=MID_EXT_ID,
                mid=b"0",
            )
        for layer in layers:
            sources[layer] = lg.add_source(
                p,
                clip=self.clips[layer],
                ssrc=ssrcs[layer],
                pt=VP8_PT,
                stream_id=next(_stream_ids),
                mid_ext=MID_EXT_ID,
                mid=b"1",
                rid_ext=RID_EXT_ID if len(layers) > 1 else 0,
                rid=layer.encode() if len(layers) > 1 else b"",
            )
        self._lgs[p] = lg
        return Peer(
            name=name,
            lg_peer=p,
            role="publisher",
            ssrcs=ssrcs,
            extra={
                "handle": handle,
                "feed": pub_id,
                "room": rid,
                "sources": sources,
                "dtls_role": dtls_role,
                "answer": answer,
            },
        )

    async def subscribe(self, lg: Loadgen, room: str, name: str, publishers: list[Peer]) -> Peer:
        c = self._client()
        rid = await self._room(room)
        handle, offer_text, streams = await c.subscribe(rid, [pub.extra["feed"] for pub in publishers])
        p: int | None = None
        try:
            offer = parse_sdp(offer_text)
            remote = await self._remote(handle, offer)
            ufrag, pwd = secrets.token_hex(4), secrets.token_hex(12)
            p = lg.open_peer(ufrag, pwd)
            setup = "active" if self.subscriber_dtls == "client" else "passive"
            answer, rtx = subscriber_answer(
                offer, ufrag, pwd, lg.fingerprint, lg.port(p), self._lg_ip(lg), setup
            )
            await c.start(handle, answer)
            # Janus offered actpass and we answered active: the loadgen is the DTLS client; Janus
            # offered, so it is the controlling ICE agent.
            lg.connect(
                p,
                remote_ip=remote.ip,
                remote_port=remote.port,
                remote_ufrag=remote.ufrag,
                remote_pwd=remote.pwd,
                remote_fingerprint=remote.fingerprint,
                controlling=False,
                dtls_role=self.subscriber_dtls,
                srtp_profiles=("AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"),
                rtx=rtx,
                twcc_ext=0,
            )
            video_mids = [m.get("mid") for m in offer.media if m.kind == "video" and m.port != 0]
            if self.force_substream and video_mids and any(len(pub.ssrcs) > 2 for pub in publishers):
                await c.configure_substream(handle, video_mids, 2)
        except BaseException:
            if p is not None:
                lg.close_peer(p)
            with contextlib.suppress(Exception):
                await c.leave(handle)
            raise
        # {"<publisher name>/audio": ssrc, "<publisher name>/video": ssrc}: the SSRCs Janus sends with
        # (it rewrites them; one video SSRC per publisher whatever the simulcast layer)
        names = {pub.extra["feed"]: pub.name for pub in publishers}
        by_mid = {st.get("mid"): st for st in streams}
        ssrcs: dict[str, int] = {}
        for mid, got in offered_ssrcs(offer).items():
            st = by_mid.get(mid, {})
            if got and st.get("type") in ("audio", "video"):
                ssrcs[f"{names.get(st.get('feed_id'), st.get('feed_id'))}/{st['type']}"] = got[0]
        self._lgs[p] = lg
        return Peer(
            name=name,
            lg_peer=p,
            role="subscriber",
            ssrcs=ssrcs,
            extra={"handle": handle, "room": rid, "rtx": rtx, "offer": offer_text},
        )

    async def leave(self, peer: Peer) -> None:
        if self.client is not None and "handle" in peer.extra:
            await self.client.leave(peer.extra.pop("handle"))
        lg = self._lgs.pop(peer.lg_peer, None)
        if lg is not None:
            lg.close_peer(peer.lg_peer)
