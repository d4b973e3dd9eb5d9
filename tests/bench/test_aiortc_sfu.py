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

from tests.conftest import ROOT, free_port, loopback_only_ice


@pytest.fixture(params=["relay", "passthrough"])
def sfu(request):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "bench.servers.aiortc_sfu", "--port", str(port),
                             "--mode", request.param], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert json.loads(line)["ev"] == "ready", line
        yield request.param, f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_publish_subscribe(sfu):
    from bench.servers import aiortc_client

    mode, base = sfu
    loopback_only_ice()
    async with aiohttp.ClientSession() as session:
        pub = await aiortc_client.publish(session, base, "r1", "alice")
        sub = None
        try:
            await pub.connected()
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
            async with session.post(base + "/leave", json={"id": sub.id}) as r:
                assert r.status == 200
            async with session.get(base + "/stats") as r:
                assert (await r.json())["subscribers"] == 0
        finally:
            if sub is not None:
                await sub.close()
            await pub.close()
