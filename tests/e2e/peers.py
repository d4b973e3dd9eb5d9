"""aiortc peers for the end-to-end tests: a counting video source, a frame-counting receiver and a
minimal client of the WebSocket protocol."""

from __future__ import annotations

import asyncio
import fractions
import itertools
import time

import aiohttp
import av
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection

from tests.conftest import loopback_only_ice

loopback_only_ice()
FPS = 30


class CountingVideo(MediaStreamTrack):
    """320x240 frames at 30 fps with a moving band, counting how many were sent."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        target = self._start + self.sent / FPS
        await asyncio.sleep(max(0.0, target - time.monotonic()))
        img = np.zeros((240, 320, 3), dtype=np.uint8)
        img[:, :, 1] = (self.sent * 7) % 256
        img[: 16 + self.sent % 200, :, 2] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self.sent * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        self.sent += 1
        return frame


def pc() -> RTCPeerConnection:
    """A peer connection that gathers on loopback only and asks no STUN server."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


def count_frames(conn: RTCPeerConnection) -> tuple[dict[str, int], list[asyncio.Future]]:
    """Decode every track conn receives; counts[kind] is the number of frames so far."""
    counts = {"video": 0, "audio": 0}
    tasks: list[asyncio.Future] = []

    @conn.on("track")
    def on_track(track):
        async def drain():
            while True:
                try:
                    await track.recv()
                except Exception:
                    return
                counts[track.kind] += 1

        tasks.append(asyncio.ensure_future(drain()))

    return counts, tasks


class Signal:
    """A minimal client of the WebSocket protocol (docs/signaling.md)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future] = {}
        self.notes: asyncio.Queue = asyncio.Queue()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = msg.json()
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)
            else:
                await self.notes.put(data)

    async def call(self, method: str, **params):
        rid = next(self.ids)
        fut = asyncio.get_running_loop().create_future()
        self.waiting[rid] = fut
        await self.ws.send_json({"id": rid, "method": method, "params": params})
        return await asyncio.wait_for(fut, 10)


class Tone(MediaStreamTrack):
    """A 440 Hz sine, 48 kHz mono in 20 ms frames at real-time pace (aiortc's AudioStreamTrack is silence)."""

    kind = "audio"

    def __init__(self, hz: float = 440.0) -> None:
        super().__init__()
        self.hz = hz
        self.sent = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self.sent * 0.02 - time.monotonic()))
        t = (np.arange(960) + self.sent * 960) / 48000
        pcm = (np.sin(2 * np.pi * self.hz * t) * 12000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self.sent * 960
        frame.time_base = fractions.Fraction(1, 48000)
        self.sent += 1
        return frame


async def join_only(session: aiohttp.ClientSession, base: str, token: str) -> Signal:
    """Join a room over /ws with a token; the join's result is kept as sig.joined."""
    ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
    sig = Signal(ws)
    r = await sig.call("join", token=token)
    assert "result" in r, r
    sig.joined = r["result"]
    return sig


async def publish(sig: Signal, audio: bool = True, video: bool = True):
    """Publish a CountingVideo (320x240, VP8) and a Tone (Opus) from a joined participant."""
    from aiortc import RTCSessionDescription

    conn = pc()
    cam = CountingVideo() if video else None
    if cam is not None:
        conn.addTransceiver(cam, direction="sendonly")
    if audio:
        conn.addTransceiver(Tone(), direction="sendonly")
    await conn.setLocalDescription(await conn.createOffer())
    r = await sig.call("publish", sdp=conn.localDescription.sdp)
    assert "result" in r, r
    await conn.setRemoteDescription(RTCSessionDescription(r["result"]["sdp"], "answer"))
    return conn, cam


async def join_and_publish(
    session: aiohttp.ClientSession, base: str, token: str, audio: bool = True, video: bool = True
):
    sig = await join_only(session, base, token)
    conn, cam = await publish(sig, audio, video)
    return sig, conn, cam
