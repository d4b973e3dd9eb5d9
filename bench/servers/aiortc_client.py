"""aiortc client peers for bench/servers/aiortc_sfu.py: a publisher of synthetic VP8 (+ Opus) and
subscribers that receive (and decode) what the server sends. Used by the tests and as a stand-in for
the load generator."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from dataclasses import dataclass, field

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError


class MovingPattern(MediaStreamTrack):
    """yuv420p frames at `fps` of a scrolling ramp with noise (the encoder has real work)."""

    kind = "video"

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self.w, self.h, self.fps = width, height, fps
        self.n = 0
        self.t0: float | None = None
        rng = np.random.default_rng(7)
        self.noise = rng.integers(0, 48, (height * 2, width * 2), dtype=np.uint8)
        self.xx = np.mgrid[0:height, 0:width][1].astype(np.uint16)

    async def recv(self) -> av.VideoFrame:
        if self.t0 is None:
            self.t0 = time.monotonic()
        delay = self.t0 + self.n / self.fps - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        i, w, h = self.n, self.w, self.h
        buf = np.full((h * 3 // 2, w), 128, np.uint8)
        ox, oy = (7 * i) % w, (5 * i) % h
        buf[:h] = ((self.xx + 4 * i) % 192).astype(np.uint8) + self.noise[oy : oy + h, ox : ox + w]
        frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
        frame.pts = i * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        self.n += 1
        return frame


async def _post(session: aiohttp.ClientSession, base: str, path: str, body: dict) -> dict:
    async with session.post(base + path, json=body) as r:
        if r.status != 200:
            raise RuntimeError(f"{path}: HTTP {r.status} {await r.text()}")
        return await r.json()


@dataclass
class ClientPeer:
    pc: RTCPeerConnection
    id: str
    frames: dict[str, int] = field(default_factory=dict)  # kind -> frames received (decoded)
    tasks: list[asyncio.Task] = field(default_factory=list)

    async def connected(self, timeout: float = 15.0) -> None:
        t = time.monotonic() + timeout
        while self.pc.connectionState != "connected":
            if self.pc.connectionState in ("failed", "closed") or time.monotonic() > t:
                raise RuntimeError(f"peer {self.id}: {self.pc.connectionState}")
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pc.close(), 5)


async def publish(
    session: aiohttp.ClientSession,
    base: str,
    room: str,
    name: str,
    video: MediaStreamTrack | None = None,
    audio: bool = True,
) -> ClientPeer:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    if audio:
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
    pc.addTransceiver(video or MovingPattern(), direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    res = await _post(session, base, "/publish", {"room": room, "name": name, "sdp": pc.localDescription.sdp})
    await pc.setRemoteDescription(RTCSessionDescription(res["sdp"], "answer"))
    return ClientPeer(pc, res["id"])


async def subscribe(session: aiohttp.ClientSession, base: str, room: str, name: str) -> ClientPeer:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    peer = ClientPeer(pc, "")

    async def consume(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                peer.frames[track.kind] = peer.frames.get(track.kind, 0) + 1

    @pc.on("track")
    def _track(track: MediaStreamTrack) -> None:
        peer.tasks.append(asyncio.ensure_future(consume(track)))

    res = await _post(session, base, "/subscribe", {"room": room, "name": name})
    peer.id = res["id"]
    await pc.setRemoteDescription(RTCSessionDescription(res["sdp"], "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    await _post(session, base, "/answer", {"id": peer.id, "sdp": pc.localDescription.sdp})
    return peer
