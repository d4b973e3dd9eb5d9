"""Our server: ``python -m mediaserver.cli serve`` on its embedded defaults, driven over WebSocket.

Publishers offer Opus and VP8 with three rid simulcast layers (q, h, f); the server answers
ICE-lite + DTLS passive, so the load generator is the controlling agent and the DTLS client. A
subscriber joins, asks for the server's offer (every track in the room), answers it and connects.
In a meeting a participant's publisher and subscriber share one signaling connection, as a browser
does, so nobody receives their own media.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from bench.adapters.base import Adapter, Media, Peer
from bench.lib import procstat
from bench.lib.sdpgen import subscriber_answer
from bench.lib.wsclient import Signal
from mediaserver.rtc import sdp, tokens

if TYPE_CHECKING:
    from bench.loadgen import Loadgen

ROOT = Path(__file__).resolve().parents[2]
OPUS_PT, VP8_PT = 111, 96
EXT_MID, EXT_RID, EXT_TWCC = 1, 10, 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _creds() -> tuple[str, str]:
    return secrets.token_hex(4), secrets.token_hex(12)


def publisher_offer(
    ufrag: str, pwd: str, fingerprint: str, port: int, media: Media, ssrcs: dict[str, int], twcc: bool = True
) -> str:
    """Opus + VP8 (rid simulcast when there are several layers), one host candidate on 127.0.0.1."""
    tr = [
        f"a=ice-ufrag:{ufrag}",
        f"a=ice-pwd:{pwd}",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {fingerprint}",
        "a=setup:actpass",
        f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host",
        "a=end-of-candidates",
    ]
    ext = [f"a=extmap:{EXT_MID} {sdp.EXT_MID}"] + (
        [f"a=extmap:{EXT_TWCC} {sdp.EXT_TRANSPORT_CC}"] if twcc else []
    )
    mids, lines = [], []
    if media.audio:
        mids.append("0")
        lines += [
            f"m=audio {port} UDP/TLS/RTP/SAVPF {OPUS_PT}",
            "c=IN IP4 127.0.0.1",
            *tr,
            "a=mid:0",
            *ext,
            "a=sendonly",
            "a=msid:lg a0",
            "a=rtcp-mux",
            f"a=rtpmap:{OPUS_PT} opus/48000/2",
            f"a=fmtp:{OPUS_PT} minptime=10;useinbandfec=1",
            f"a=ssrc:{ssrcs['audio']} cname:lg",
        ]
    if media.video_layers:
        mids.append("1")
        fb = [f"a=rtcp-fb:{VP8_PT} {f}" for f in ("nack", "nack pli", "ccm fir")]
        if twcc:
            fb.append(f"a=rtcp-fb:{VP8_PT} transport-cc")
        lines += [
            f"m=video {port} UDP/TLS/RTP/SAVPF {VP8_PT}",
            "c=IN IP4 127.0.0.1",
            *tr,
            "a=mid:1",
            *ext,
            "a=sendonly",
            "a=msid:lg v0",
            "a=rtcp-mux",
            "a=rtcp-rsize",
            f"a=rtpmap:{VP8_PT} VP8/90000",
            *fb,
        ]
        if len(media.video_layers) > 1:
            lines.append(f"a=extmap:{EXT_RID} {sdp.EXT_RID}")
            lines += [f"a=rid:{r} send" for r in media.video_layers]
            lines.append("a=simulcast:send " + ";".join(media.video_layers))
        else:
            lines.append(f"a=ssrc:{ssrcs[media.video_layers[0]]} cname:lg")
    head = [
        "v=0",
        f"o=- {secrets.randbits(62)} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE " + " ".join(mids),
        "a=msid-semantic: WMS lg",
    ]
    return "\r\n".join(head + lines) + "\r\n"


def remote_candidate(desc: sdp.SessionDescription) -> tuple[str, int]:
    for c in desc.candidates:
        f = c.split()
        if len(f) >= 8 and f[2].lower() == "udp":
            return f[4], int(f[5])
    raise ValueError("the server's SDP has no UDP candidate")


class OursAdapter(Adapter):
    """Our SFU (one media worker thread, or ``workers`` on the same core; the signaling plane shares the
    process and the core)."""

    name = "ours"
    simulcast = True

    def __init__(
        self,
        clips: dict[str, int],
        twcc: bool = True,
        gso: bool = True,
        root: Path = ROOT,
        name: str = "ours",
        workers: int = 1,
        subscribers: int = 0,
    ) -> None:
        """root: the checkout whose server (and built native core) runs, this one by default; another one
        (e.g. a git worktree of an older commit, built in place) compares two builds in one run. workers:
        media workers (all on the server's core), a room's ``subscribers`` spread evenly over them."""
        super().__init__()
        self.clips, self.twcc, self.gso = clips, twcc, gso
        self.root, self.name = Path(root), name
        self.workers, self.subscribers = workers, subscribers
        self.proc: subprocess.Popen | None = None
        self.session: aiohttp.ClientSession | None = None
        self.secret = secrets.token_urlsafe(24)
        self.api_key = secrets.token_urlsafe(24)
        self.rooms: dict[str, str] = {}  # harness room name -> server room id
        self.signals: dict[tuple[str, str], Signal] = {}  # (room, participant) -> its WebSocket
        self.base = ""
        self.log_path: Path | None = None

    async def start(self, core: int, workdir: Path) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        data = workdir / "ours-data"
        data.mkdir(parents=True, exist_ok=True)
        env = dict(
            os.environ,
            MEDIASERVER_HTTP_PORT=str(port),
            MEDIASERVER_HTTP_HOST="127.0.0.1",
            MEDIASERVER_RTC_PORT="0",
            MEDIASERVER_RTC_LISTEN_IP="127.0.0.1",
            MEDIASERVER_ANNOUNCED_IP="127.0.0.1",
            MEDIASERVER_SECRET=self.secret,
            MEDIASERVER_API_KEY=self.api_key,
            MEDIASERVER_LOG_LEVEL="WARNING",
            MEDIASERVER_UDP_GSO="true" if self.gso else "false",
            MEDIASERVER_DATA_DIR=str(data),
            MEDIASERVER_WORKERS=str(self.workers),
            PYTHONPATH=str(self.root),
        )
        if self.workers > 1:
            env["MEDIASERVER_ROOM_WORKER_SHARE"] = str(max(1, -(-self.subscribers // self.workers)))
        env.pop("MEDIASERVER_CONFIG", None)
        self.log_path = workdir / "ours.log"
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(core), sys.executable, "-m", "mediaserver.cli", "serve"],
            cwd=self.root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.pids = [self.proc.pid]
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"our server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                async with self.session.get(
                    self.base + "/healthz", timeout=aiohttp.ClientTimeout(total=2)
                ) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                pass
            await asyncio.sleep(0.1)
        raise RuntimeError("our server did not answer /healthz within 30 s: " + self.log_tail())

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:] if self.log_path else ""
        except OSError:
            return ""

    async def stop(self) -> None:
        for sig in list(self.signals.values()):
            await sig.close()
        self.signals.clear()
        if self.session is not None:
            await self.session.close()
            self.session = None
        procstat.terminate(self.proc)
        self.proc = None

    async def create_room(self, room: str, publishers: int) -> None:
        """Rooms named meeting-*: a meeting (R-ROOM-1) with the most cameras (7, R-MEDIA-5); others:
        webinars."""
        if not room.startswith("meeting") or room in self.rooms:
            return  # a webinar: the ad-hoc room a token names (capacity 5000)
        assert self.session is not None
        body: dict[str, Any] = {"type": "meeting", "name": room, "capacity": 25, "cameraLimit": 7}
        async with self.session.post(
            self.base + "/api/v1/rooms", json=body, headers={"Authorization": f"Bearer {self.api_key}"}
        ) as r:
            data = await r.json()
            if r.status != 201:
                raise RuntimeError(f"creating room {room}: {r.status} {data}")
        self.rooms[room] = data["id"]

    async def _signal(self, room: str, name: str, role: str) -> Signal:
        key = (room, name)
        if key in self.signals:
            return self.signals[key]
        assert self.session is not None
        sig = await Signal.connect(self.session, self.base.replace("http://", "ws://") + "/ws", timeout=60)
        try:
            token = tokens.issue(self.secret, self.rooms.get(room, room), role, name, name)
            await sig.call("join", {"token": token}, timeout=120)
        except BaseException:
            await sig.close()
            raise
        self.signals[key] = sig
        return sig

    async def publish(self, lg: Loadgen, room: str, name: str, media: Media) -> Peer:
        sig = await self._signal(room, name, "presenter")
        ufrag, pwd = _creds()
        p = lg.open_peer(ufrag, pwd)
        ssrcs = {k: secrets.randbits(31) | 1 for k in ("audio", *media.video_layers)}
        offer = publisher_offer(ufrag, pwd, lg.fingerprint, lg.port(p), media, ssrcs, self.twcc)
        params: dict[str, Any] = {"sdp": offer}
        res = await sig.call("publish", params, timeout=120)
        ans = sdp.parse(res["sdp"])
        ip, port = remote_candidate(ans)
        lg.connect(
            p,
            remote_ip=ip,
            remote_port=port,
            remote_ufrag=ans.ice_ufrag,
            remote_pwd=ans.ice_pwd,
            remote_fingerprint=f"{ans.fingerprint_algorithm} {ans.fingerprint.hex(':').upper()}",
            controlling=True,
            dtls_role="client" if ans.setup in ("passive", None) else "server",
            twcc_ext=EXT_TWCC if self.twcc else 0,
        )
        stream_id = abs(hash((room, name))) & 0xFFFF
        if media.audio:
            lg.add_source(
                p,
                clip=self.clips["audio"],
                ssrc=ssrcs["audio"],
                pt=OPUS_PT,
                stream_id=stream_id << 8,
                mid_ext=EXT_MID,
                mid=b"0",
            )
        for i, layer in enumerate(media.video_layers):
            sim = len(media.video_layers) > 1
            lg.add_source(
                p,
                clip=self.clips[layer],
                ssrc=ssrcs[layer],
                pt=VP8_PT,
                stream_id=(stream_id << 8) | (i + 1),
                mid_ext=EXT_MID,
                mid=b"1",
                rid_ext=EXT_RID if sim else 0,
                rid=layer.encode() if sim else b"",
            )
        return Peer(name, p, "publisher", ssrcs, {"room": room, "lg": lg})

    async def subscribe(self, lg: Loadgen, room: str, name: str, publishers: list[Peer]) -> Peer:
        sig = await self._signal(room, name, "presenter" if room in self.rooms else "attendee")
        offer = sdp.parse((await sig.call("subscribe", timeout=120))["sdp"])
        ufrag, pwd = _creds()
        p = lg.open_peer(ufrag, pwd)
        await sig.call(
            "answer", {"sdp": subscriber_answer(offer, ufrag, pwd, lg.fingerprint, lg.port(p))}, timeout=120
        )
        ip, port = remote_candidate(offer)
        rtx = {
            c.rtx_payload_type: c.payload_type
            for m in offer.media
            for c in m.codecs
            if c.rtx_payload_type is not None
        }
        twcc = next((m.extensions.get(sdp.EXT_TRANSPORT_CC, 0) for m in offer.media if not m.rejected), 0)
        lg.connect(
            p,
            remote_ip=ip,
            remote_port=port,
            remote_ufrag=offer.ice_ufrag,
            remote_pwd=offer.ice_pwd,
            remote_fingerprint=f"{offer.fingerprint_algorithm} {offer.fingerprint.hex(':').upper()}",
            controlling=True,
            dtls_role="client",
            rtx=rtx,
            twcc_ext=twcc if self.twcc else 0,
        )
        return Peer(name, p, "subscriber", {}, {"room": room, "lg": lg})

    async def leave(self, peer: Peer) -> None:
        room = peer.extra["room"]
        sig = self.signals.pop((room, peer.name), None)
        if sig is not None:
            try:
                await sig.call("leave", timeout=30)
            except Exception:  # noqa: BLE001 - closing the socket leaves the room too
                pass
            await sig.close()
        peer.extra["lg"].close_peer(peer.lg_peer)

    def egress_counters(self) -> dict[str, float] | None:
        return None
