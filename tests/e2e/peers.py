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
