"""aiortc as shipped (``bench/servers/aiortc_sfu.py``), driven by the native load generator.

Two variants: ``aiortc-relay`` (``MediaRelay``: decode once, encode per subscriber) and
``aiortc-passthrough`` (encoded frames forwarded, re-packetized by aiortc's sender, no codec work).
aiortc has no simulcast, so publishers send only the top layer ("f").

Roles on the wire:

* publisher: the load generator offers (``a=setup:actpass``, ICE controlling); aiortc answers
  ``a=setup:active`` (DTLS client), so the load generator is the DTLS server.
* subscriber: aiortc offers (``actpass``, ICE controlling); the load generator answers
  ``a=setup:active`` (DTLS client, ICE controlled).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from bench.adapters.base import Adapter, Media, Peer
from bench.lib import media as bmedia
from bench.lib import sdpgen
from mediaserver.rtc import sdp

if TYPE_CHECKING:
    from bench.loadgen import Loadgen

ROOT = Path(__file__).resolve().parent.parent.parent
_stream_ids = iter(range(1, 1 << 31))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def with_candidate(sdp_text: str, port: int) -> str:
    """Add the load generator's one host candidate to every m-section (after its a=ice-pwd)."""
    cand = f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host"
    out = []
    for line in sdp_text.rstrip("\r\n").split("\r\n"):
        out.append(line)
        if line.startswith("a=ice-pwd:"):
            out += [cand, "a=end-of-candidates"]
    return "\r\n".join(out) + "\r\n"


def deactivate(sdp_text: str, kinds: set[str]) -> str:
    """Mark the m-sections of ``kinds`` inactive (a publisher without audio or without video), so
    aiortc makes no remote track of them and subscribers get no m-line for them."""
    if not kinds:
        return sdp_text
    head, *sections = sdp_text.split("\r\nm=")
    out = [head]
    for sec in sections:
        if sec.split(" ", 1)[0] in kinds:
            sec = sec.replace("\r\na=sendonly", "\r\na=inactive")
        out.append(sec)
    return "\r\nm=".join(out)


def fingerprint_hex(raw: bytes) -> str:
    return ":".join(f"{b:02X}" for b in raw)


class AiortcAdapter(Adapter):
    simulcast = False

    def __init__(self, mode: str, clips: dict[str, int], strip_trailer: bool | None = None) -> None:
        """``strip_trailer`` (default: in relay mode only) starts the server with --strip-trailer, so
        the relay decodes real pictures, not pictures garbled by the load generator's trailers."""
        super().__init__()
        if mode not in ("relay", "passthrough"):
            raise ValueError(f"mode must be relay or passthrough, not {mode!r}")
        self.mode = mode
        self.name = f"aiortc-{mode}"
        self.clips = clips
        self.strip_trailer = (mode == "relay") if strip_trailer is None else strip_trailer
        self.proc: subprocess.Popen | None = None
        self.base = ""
        self.session: aiohttp.ClientSession | None = None
        self.log = None

    # ------------------------------------------------------------------------------ process
    async def start(self, core: int, workdir: Path) -> None:
        port = _free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / f"{self.name}.log", "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.proc = subprocess.Popen(
            [
                "taskset",
                "-c",
                str(core),
                sys.executable,
                "-m",
                "bench.servers.aiortc_sfu",
                "--port",
                str(port),
                "--mode",
                self.mode,
            ]
            + (["--strip-trailer"] if self.strip_trailer else []),
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        self.pids = [self.proc.pid]  # taskset execs the interpreter: same pid
        loop = asyncio.get_running_loop()
        line = await asyncio.wait_for(loop.run_in_executor(None, self.proc.stdout.readline), 30)
        if not line or json.loads(line).get("ev") != "ready":
            await self.stop()
            raise RuntimeError(f"{self.name} did not start: {line!r} (see {workdir}/{self.name}.log)")
        self.base = f"http://127.0.0.1:{port}"
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.get_running_loop().run_in_executor(None, proc.wait, 15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdout:
                proc.stdout.close()
        if self.log is not None:
            self.log.close()
            self.log = None
        self.pids = []

    async def _post(self, path: str, body: dict) -> dict:
        assert self.session is not None, "start() first"
        async with self.session.post(self.base + path, json=body) as r:
            if r.status != 200:
                raise RuntimeError(f"{self.name} {path}: HTTP {r.status} {await r.text()}")
            return await r.json()

    # ------------------------------------------------------------------------------ peers
    async def publish(self, lg: Loadgen, room: str, name: str, media: Media) -> Peer:
        ufrag, pwd = sdpgen.credentials()
        p = lg.open_peer(ufrag, pwd)
        a_ssrc, v_ssrc, rtx_ssrc = (secrets.randbits(31) | 1 for _ in range(3))
        offer = sdpgen.publisher_offer(ufrag, pwd, lg.fingerprint, a_ssrc, v_ssrc, rtx_ssrc, cname=name)
        offer = deactivate(
            offer, {k for k, on in (("audio", media.audio), ("video", bool(media.video_layers))) if not on}
        )
        res = await self._post(
            "/publish", {"room": room, "name": name, "sdp": with_candidate(offer, lg.port(p))}
        )
        ans = sdp.parse(res["sdp"])
        remote = sdpgen.remote_of(ans)
        lg.connect(
            p,
            remote_ip=remote.ip,
            remote_port=remote.port,
            remote_ufrag=remote.ufrag,
            remote_pwd=remote.pwd,
            remote_fingerprint=f"{remote.fp_alg} {fingerprint_hex(remote.fingerprint)}",
            controlling=True,
            dtls_role="client" if ans.setup == "passive" else "server",
        )
        peer = Peer(name, p, "publisher", extra={"id": res["id"], "room": room, "lg": lg, "sources": []})
        if media.audio:
            peer.ssrcs["audio"] = a_ssrc
            peer.extra["sources"].append(
                lg.add_source(
                    p,
                    clip=self.clips["audio"],
                    ssrc=a_ssrc,
                    pt=bmedia.OPUS_PT,
                    stream_id=next(_stream_ids),
                    mid_ext=bmedia.EXT_MID_ID,
                    mid=b"0",
                    abs_ext=bmedia.EXT_ABS_ID,
                )
            )
        if media.video_layers:
            peer.ssrcs["f"] = v_ssrc
            peer.extra["sources"].append(
                lg.add_source(
                    p,
                    clip=self.clips["f"],
                    ssrc=v_ssrc,
                    pt=bmedia.VP8_PT,
                    stream_id=next(_stream_ids),
                    mid_ext=bmedia.EXT_MID_ID,
                    mid=b"1",
                    abs_ext=bmedia.EXT_ABS_ID,
                    rtx_ssrc=rtx_ssrc,
                    rtx_pt=bmedia.VP8_PT + 1,
                )
            )
        return peer

    async def subscribe(self, lg: Loadgen, room: str, name: str, publishers: list[Peer]) -> Peer:
        ufrag, pwd = sdpgen.credentials()
        p = lg.open_peer(ufrag, pwd)
        res = await self._post(
            "/subscribe", {"room": room, "name": name, "publishers": [pub.name for pub in publishers]}
        )
        offer = sdp.parse(res["sdp"])
        remote = sdpgen.remote_of(offer)
        rtx = {
            c.rtx_payload_type: c.payload_type
            for m in offer.media
            for c in m.codecs
            if c.rtx_payload_type is not None
        }
        rtx_ssrcs = {r: m_ssrc for m in offer.media for m_ssrc, r in m.rtx_ssrcs.items()}
        answer = with_candidate(sdpgen.subscriber_answer(offer, ufrag, pwd, lg.fingerprint), lg.port(p))
        lg.connect(
            p,
            remote_ip=remote.ip,
            remote_port=remote.port,
            remote_ufrag=remote.ufrag,
            remote_pwd=remote.pwd,
            remote_fingerprint=f"{remote.fp_alg} {fingerprint_hex(remote.fingerprint)}",
            controlling=False,
            dtls_role="client",
            rtx=rtx,
            rtx_ssrcs=rtx_ssrcs,
        )
        await self._post("/answer", {"id": res["id"], "sdp": answer})
        ssrcs = {}
        for m in offer.media:  # aiortc announces its sender SSRCs (one per publisher track)
            if m.ssrcs:
                ssrcs[f"{m.kind}:{m.mid}"] = m.ssrcs[0]
        return Peer(name, p, "subscriber", ssrcs=ssrcs, extra={"id": res["id"], "room": room, "lg": lg})

    async def leave(self, peer: Peer) -> None:
        if self.session is not None:
            try:
                await self._post("/leave", {"id": peer.extra["id"]})
            except (aiohttp.ClientError, RuntimeError, asyncio.TimeoutError):
                pass
        lg = peer.extra.get("lg")
        if lg is not None:
            for s in peer.extra.get("sources", []):
                lg.stop(s)
            lg.close_peer(peer.lg_peer)

    async def server_stats(self) -> dict:
        """The server's GET /stats."""
        assert self.session is not None, "start() first"
        async with self.session.get(self.base + "/stats") as r:
            return await r.json()

    def egress_counters(self) -> dict[str, float] | None:
        """RTP packets and payload bytes aiortc's senders have sent (no RTX, no RTCP)."""
        if not self.base:
            return None
        try:
            with urllib.request.urlopen(self.base + "/stats", timeout=5) as r:
                st = json.load(r)
        except OSError:
            return None
        return {"tx_packets": float(st["tx_packets"]), "tx_bytes": float(st["tx_bytes"])}
