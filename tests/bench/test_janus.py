"""Janus 1.1 (VideoRoom) driven by bench/adapters/janus.py: aiortc peers, then load-generator peers.

Skipped when the ``janus`` binary is absent: CI does not install Janus (``apt-get install janus``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import time

import numpy as np
import pytest

from tests.native.testbuild import built_module

pytestmark = pytest.mark.skipif(
    shutil.which("janus") is None,
    reason="the janus binary is absent (CI does not install Janus; apt-get install janus)",
)


@pytest.fixture
async def janus(tmp_path):
    from bench.adapters.janus import JanusAdapter

    ad = JanusAdapter(clips={})
    await ad.start(core=(os.cpu_count() or 1) - 1, workdir=tmp_path / "janus")
    try:
        yield ad
    finally:
        await ad.stop()


def _video_track():
    import av
    from aiortc import VideoStreamTrack

    class Moving(VideoStreamTrack):
        n = 0

        async def recv(self):
            pts, tb = await self.next_timestamp()
            img = np.zeros((240, 320, 3), np.uint8)
            img[:, (self.n * 4) % 320 :] = 200
            img[(self.n * 3) % 240 :, :, 1] = 90
            self.n += 1
            f = av.VideoFrame.from_ndarray(img, format="bgr24")
            f.pts, f.time_base = pts, tb
            return f

    return Moving()


async def test_aiortc_publisher_to_aiortc_subscriber(janus):
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import AudioStreamTrack

    from bench.adapters.janus import room_id
    from tests.conftest import loopback_only_ice

    loopback_only_ice()
    c = janus.client
    await janus.create_room("aiortc", 4)
    room = room_id("aiortc")

    pub = RTCPeerConnection()
    pub.addTransceiver(_video_track(), direction="sendonly")
    pub.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pub.setLocalDescription(await pub.createOffer())
    handle, feed, answer = await c.publish(room, "alice", pub.localDescription.sdp)
    await pub.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    await c.wait_webrtcup(handle)

    sub = RTCPeerConnection()
    frames: dict[str, int] = {"video": 0, "audio": 0}
    done = asyncio.Event()

    @sub.on("track")
    def on_track(track):
        async def pump():
            while True:
                try:
                    await track.recv()
                except Exception:
                    return
                frames[track.kind] += 1
                if frames["video"] >= 30 and frames["audio"] >= 20:
                    done.set()

        asyncio.ensure_future(pump())

    try:
        sh, offer, _ = await c.subscribe(room, [feed])
        await sub.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await sub.setLocalDescription(await sub.createAnswer())
        await c.start(sh, sub.localDescription.sdp)
        await asyncio.wait_for(done.wait(), 20)
    finally:
        await sub.close()
        await pub.close()
    assert frames["video"] >= 30 and frames["audio"] >= 20, frames
    await c.leave(sh)
    await c.leave(handle)


def synthetic_clip(lg, frames: int = 30, size: int = 900, fps: int = 30, keyframe_every: int = 30) -> int:
    """VP8-looking frames of random bytes: descriptor 0x10, VP8 header bit0 = 0 on keyframes."""
    rng = np.random.default_rng(7)
    out = []
    for i in range(frames):
        key = i % keyframe_every == 0
        body = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        if key:
            body[0:10] = bytes([0x10, 0x00, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])  # 320x240
        else:
            body[0] |= 0x01
        payloads = [b"\x10" + bytes(body[j : j + 1000]) for j in range(0, len(body), 1000)]
        payloads = [payloads[0]] + [b"\x00" + p[1:] for p in payloads[1:]]
        out.append((i * 1_000_000 // fps, 90000 // fps, key, payloads))
    return lg.load_clip(out, clock_rate=90000)


def synthetic_audio_clip(lg, frames: int = 50) -> int:
    out = [(i * 20_000, 960, True, [bytes([0xF8]) + os.urandom(79)]) for i in range(frames)]
    return lg.load_clip(out, clock_rate=48000)


async def test_loadgen_publisher_to_two_loadgen_subscribers(tmp_path):
    loadgen = built_module("bench.loadgen")
    from bench.adapters.base import Media
    from bench.adapters.janus import JanusAdapter

    clips: dict[str, int] = {}
    ad = JanusAdapter(clips)
    await ad.start(core=(os.cpu_count() or 1) - 1, workdir=tmp_path / "janus")
    lg = None
    try:
        lg = loadgen.Loadgen(bind_ip=ad.lg_bind_ip, verify_every=1)  # 127.0.0.1 unless no C compiler
        clips.update(audio=synthetic_audio_clip(lg), **{k: synthetic_clip(lg) for k in ("q", "h", "f")})
        await ad.create_room("lg", 2)
        pub = await ad.publish(lg, "lg", "pub", Media())
        cands = [ln for ln in pub.extra["answer"].splitlines() if ln.startswith("a=candidate:")]
        assert cands and all(f" {ad.lg_bind_ip} " in c for c in cands), cands
        lg.start_all()
        subs = [await ad.subscribe(lg, "lg", f"sub{i}", [pub]) for i in range(2)]
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            st = [lg.peer_stats(s.lg_peer) for s in subs]
            if all(s["rx_packets"] > 200 for s in st):
                break
            await asyncio.sleep(0.2)
        st = [lg.peer_stats(s.lg_peer) for s in subs]
        assert all(s["rx_packets"] > 200 for s in st), (st, [lg.state(s.lg_peer) for s in subs])
        assert all(s["decrypt_errors"] == 0 and s["lost"] == 0 for s in st), st
        assert all(len(s["ssrcs"]) == 2 for s in st), st  # Opus + the top VP8 layer
        assert sum(lg.totals()["latency_hist"]) > 0
        assert lg.peer_stats(pub.lg_peer)["tx_packets"] > 0
        for s in subs:
            await ad.leave(s)
        await ad.leave(pub)
    finally:
        await ad.stop()
        if lg is not None:
            lg.close()
