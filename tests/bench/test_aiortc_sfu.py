"""bench/servers/aiortc_sfu.py in both modes: an aiortc publisher -> the server -> an aiortc subscriber."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import aiohttp
import pytest
from aiortc import RTCRtpSender

from tests.conftest import ROOT, free_port, loopback_only_ice, stop_process
from tests.native.testbuild import built_module


@pytest.fixture(params=["relay", "passthrough"])
def sfu(request):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.servers.aiortc_sfu", "--port", str(port), "--mode", request.param],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert json.loads(line)["ev"] == "ready", line
        yield request.param, f"http://127.0.0.1:{port}"
    finally:
        stop_process(proc)


async def test_publish_subscribe(sfu):
    from bench.servers import aiortc_client

    mode, base = sfu
    loopback_only_ice()
    async with aiohttp.ClientSession() as session:
        pub = await aiortc_client.publish(session, base, "r1", "alice")
        sub = None
        plis: list[int] = []
        orig = RTCRtpSender._send_keyframe
        try:
            await pub.connected()
            RTCRtpSender._send_keyframe = lambda self: (plis.append(1), orig(self))  # type: ignore[method-assign]
            sub = await aiortc_client.subscribe(session, base, "r1", "bob")
            await sub.connected()
            deadline = time.monotonic() + 20
            while sub.frames.get("video", 0) < 20 or sub.frames.get("audio", 0) < 20:
                assert time.monotonic() < deadline, f"{mode}: frames {sub.frames}"
                await asyncio.sleep(0.1)
            async with session.get(base + "/stats") as r:
                stats = await r.json()
            assert stats["publishers"] == 1 and stats["subscribers"] == 1, stats
            assert stats["tx_packets"] > 0, stats
            assert (stats["passthrough_frames"] > 0) == (mode == "passthrough"), stats
            if mode == "passthrough":  # a new subscriber's keyframe request reaches the publisher
                assert plis, "no PLI forwarded"
            async with session.post(base + "/leave", json={"id": sub.id}) as r:
                assert r.status == 200
            async with session.get(base + "/stats") as r:
                assert (await r.json())["subscribers"] == 0
        finally:
            RTCRtpSender._send_keyframe = orig  # type: ignore[method-assign]
            if sub is not None:
                await sub.close()
            await pub.close()


async def test_loadgen_one_to_three(tmp_path):
    """The native load generator through the adapter: 1 publisher -> aiortc -> 3 subscribers, both modes."""
    built_module("bench.loadgen._loadgen")
    from bench.adapters.aiortc import AiortcAdapter
    from bench.adapters.base import Media
    from bench.aiortc_fanout import loadgen_clips, wait_state
    from bench.loadgen import Loadgen

    for mode in ("relay", "passthrough"):
        lg = Loadgen(bind_ip="127.0.0.1", verify_every=1)
        ad = AiortcAdapter(mode, loadgen_clips(lg))
        await ad.start(0, tmp_path)
        try:
            pub = await ad.publish(lg, "r", "pub", Media(audio=True, video_layers=("f",)))
            await wait_state(lg, [pub.lg_peer])
            lg.start_all()
            subs = [await ad.subscribe(lg, "r", f"s{i}", [pub]) for i in range(3)]
            await wait_state(lg, [s.lg_peer for s in subs])
            await asyncio.sleep(4)
            stats = [lg.peer_stats(s.lg_peer) for s in subs]
            for st in stats:
                assert st["rx_packets"] > 300, (mode, st)
                assert st["decrypt_errors"] == 0, (mode, st)
                assert len(st["ssrcs"]) >= 2, (mode, st)  # audio and video
            if mode == "passthrough":  # trailers survive on frame ends
                assert sum(lg.totals()["latency_hist"]) > 0
            assert ad.egress_counters()["tx_packets"] > 0
            await ad.leave(subs[0])
        finally:
            await ad.stop()
            lg.close()


def test_marker_jitter_buffer():
    """A frame leaves when complete up to its marker packet; gaps and older frames hold it back."""
    from aiortc.rtp import RtpPacket

    from bench.servers.aiortc_sfu import MarkerJitterBuffer

    def pkt(seq: int, ts: int, marker: bool, data: bytes) -> RtpPacket:
        p = RtpPacket(sequence_number=seq, timestamp=ts, marker=int(marker))
        p._data = data  # type: ignore[attr-defined]
        return p

    jb = MarkerJitterBuffer(capacity=128, is_video=True)
    assert jb.add(pkt(10, 3000, False, b"a"))[1] is None
    frame = jb.add(pkt(11, 3000, True, b"b"))[1]
    assert frame is not None and frame.data == b"ab" and frame.timestamp == 3000
    # the next frame arrives out of order: nothing leaves until its first packet is there
    assert jb.add(pkt(13, 6000, True, b"d"))[1] is None
    frame = jb.add(pkt(12, 6000, False, b"c"))[1]
    assert frame is not None and frame.data == b"cd"
    # a missing packet (14) holds everything back until it arrives (as aiortc's buffer does)
    assert jb.add(pkt(15, 9000, True, b"f"))[1] is None
    assert jb.add(pkt(16, 12000, True, b"g"))[1] is None
    frame = jb.add(pkt(14, 9000, False, b"e"))[1]
    assert frame is not None and frame.data == b"ef"
