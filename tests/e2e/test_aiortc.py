"""aiortc peers through the SFU: one publisher, three subscribers (R-MEDIA-1, R-MEDIA-2, R-MEDIA-9)."""
from __future__ import annotations

import asyncio
import fractions
import itertools
import time

import aiohttp
import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from tests.conftest import loopback_only_ice, token, wait_for

loopback_only_ice()
FPS = 30


class CountingVideo(MediaStreamTrack):
    """320x240 frames at 30 fps whose first pixel row encodes the frame number."""

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
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts = self.sent * 3000
        frame.time_base = fractions.Fraction(1, 90000)
        self.sent += 1
        return frame


class Signal:
    """A minimal client of the WebSocket protocol."""

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


def pc() -> RTCPeerConnection:
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


async def publisher(session, base: str, room: str):
    ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
    sig = Signal(ws)
    r = await sig.call("join", token=token(room, "presenter", "pub"))
    assert "result" in r, r
    conn = pc()
    video = CountingVideo()
    conn.addTransceiver(video, direction="sendonly")
    conn.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await conn.setLocalDescription(await conn.createOffer())
    r = await sig.call("publish", sdp=conn.localDescription.sdp)
    assert "result" in r, r
    await conn.setRemoteDescription(RTCSessionDescription(r["result"]["sdp"], "answer"))
    return sig, conn, video


async def subscriber(session, base: str, room: str, name: str):
    ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
    sig = Signal(ws)
    r = await sig.call("join", token=token(room, "attendee", name))
    assert "result" in r, r
    conn = pc()
    counts = {"video": 0, "audio": 0}
    tasks = []

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

    r = await sig.call("subscribe")
    assert "result" in r, r
    await conn.setRemoteDescription(RTCSessionDescription(r["result"]["sdp"], "offer"))
    await conn.setLocalDescription(await conn.createAnswer())
    r = await sig.call("answer", sdp=conn.localDescription.sdp)
    assert "result" in r, r
    return sig, conn, counts, tasks


@pytest.mark.timeout(90)
async def test_one_publisher_three_subscribers_decode_90_percent(server):
    base = server["base_url"]
    async with aiohttp.ClientSession() as session:
        psig, pconn, video = await publisher(session, base, "fanout")
        subs = [await subscriber(session, base, "fanout", f"sub{i}") for i in range(3)]
        assert await wait_for(lambda: all(s[2]["video"] > 0 and s[2]["audio"] > 0 for s in subs), 20), \
            [s[2] for s in subs]
        sent0 = video.sent
        got0 = [s[2]["video"] for s in subs]
        await asyncio.sleep(10)
        sent = video.sent - sent0
        got = [s[2]["video"] - g for s, g in zip(subs, got0, strict=True)]
        print("frames sent", sent, "decoded", got)
        assert sent >= 250, sent
        for g in got:
            assert g >= 0.9 * sent, (got, sent)
        media = server["media"]
        st = media.stats()
        assert st["producers"] == 2 and st["consumers"] == 6
        assert st["rtp_tx"] > 3 * st["rtp_rx"] * 0.9
        for s in subs:
            await s[1].close()
            for t in s[3]:
                t.cancel()
        await pconn.close()
