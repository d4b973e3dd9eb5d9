"""Every core (issue 18 item 1): the server runs ``workers`` media workers, each a native thread with its own
UDP port and its own transports; a new room goes to the least loaded one and keeps it, so rooms on two
workers are independent: their media flows, their counters and their ends are each worker's own. /metrics
gives the totals and each worker's counters. Through the real application with aiortc peers."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mediaserver.config import ConfigError, Settings, worker_count
from native._core import NativeError
from signaling import keys
from tests.conftest import API_KEY, SECRET, wait_for
from tests.e2e.test_aiortc import publisher, subscriber


@pytest.fixture
async def two(tmp_path: Any, request: Any) -> AsyncIterator[dict[str, Any]]:
    """The application with two media workers (``indirect`` parameters: more settings)."""
    from aiohttp import web

    from mediaserver.app import build

    settings = Settings(
        http_port=0,
        rtc_port=0,
        workers="2",
        secret=SECRET,
        api_key=API_KEY,
        data_dir=str(tmp_path / "d"),
        **getattr(request, "param", {}),
    ).finish()
    app = build(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield {
            "base": f"http://127.0.0.1:{runner.addresses[0][1]}",
            "media": app[keys.MEDIA],
            "rooms": app[keys.ROOMS],
        }
    finally:
        await runner.cleanup()


def test_the_workers_setting():
    assert worker_count("auto") == len(os.sched_getaffinity(0))
    assert Settings(workers="3").finish().workers == "3" and worker_count("3") == 3
    assert Settings(workers=" AUTO ").finish().workers == "auto"
    for bad in ("0", "-1", "257", "two", "³"):
        with pytest.raises(ConfigError, match="'workers'"):
            Settings(workers=bad).finish()
    with pytest.raises(ConfigError, match="room_worker_share"):
        Settings(room_worker_share=0).finish()
    with pytest.raises(ConfigError, match="worker_busy"):
        Settings(worker_busy=1.5).finish()
    with pytest.raises(ConfigError, match="65535"):
        Settings(workers="4", rtc_port=65533).finish()


def _port_of(sdp: str) -> set[int]:
    return {int(m) for m in re.findall(r"a=candidate:\S+ 1 udp \d+ \S+ (\d+) typ host", sdp)}


@pytest.mark.timeout(90)
async def test_rooms_spread_over_two_workers_each_its_own(two):
    media, rooms = two["media"], two["rooms"]
    ports = [e.port for e in media.engines]
    assert len(media) == 2 and ports[0] != ports[1] and all(ports)
    async with aiohttp.ClientSession() as session:
        peers = {}
        for name in ("alpha", "beta"):
            psig, pconn, video = await publisher(session, two["base"], name)
            sub = await subscriber(session, two["base"], name, "viewer")
            peers[name] = (psig, pconn, sub)
        a, b = rooms.find("alpha"), rooms.find("beta")
        # two idle workers: the second room goes to the one without a room
        wa, wb = media.engines.index(a.media), media.engines.index(b.media)
        assert {wa, wb} == {0, 1}
        # each room's peers reach its own worker's port (the candidates of its SDP)
        for name, room in (("alpha", a), ("beta", b)):
            sub = peers[name][2]
            assert _port_of(sub[1].remoteDescription.sdp) == {room.media.port}, name
        assert await wait_for(lambda: all(p[2][2]["video"] > 10 for p in peers.values()), 20), [
            p[2][2] for p in peers.values()
        ]
        # each worker counts its own room's objects; the totals are their sums
        each = media.worker_stats()
        assert [w["producers"] for w in each] == [2, 2] and [w["consumers"] for w in each] == [2, 2]
        assert [w["port"] for w in each] == ports and all(w["rtp_rx"] > 0 and w["cpu_us"] > 0 for w in each)
        total = media.stats()
        assert total["producers"] == 4 and total["rtp_rx"] == sum(w["rtp_rx"] for w in each)
        async with session.get(two["base"] + "/metrics", headers={"Authorization": f"Bearer {API_KEY}"}) as r:
            text = await r.text()

        def has(pattern: str) -> bool:
            return re.search(pattern, text, re.M) is not None

        for i in ("0", "1"):
            assert has(rf'^mediaserver_worker_producers{{worker="{i}"}} 2\.0$'), text[-3000:]
            assert has(rf'^mediaserver_worker_port{{worker="{i}"}} {ports[int(i)]}\.0$')
            assert has(rf'^mediaserver_worker_cpu_seconds_total{{worker="{i}"}} \d')
            assert has(rf'^mediaserver_worker_packets_total{{direction="out",worker="{i}"}} [1-9]')
        assert has(r"^mediaserver_producers 4\.0$")
        # one room's end is its worker's alone: the other's media goes on
        for conn in (peers["alpha"][1], peers["alpha"][2][1]):
            await conn.close()
        for sig in (peers["alpha"][0], peers["alpha"][2][0]):
            await sig.ws.close()
        assert await wait_for(lambda: a.media.stats()["transports"] == 0, 15)
        before = peers["beta"][2][2]["video"]
        assert await wait_for(lambda: peers["beta"][2][2]["video"] > before + 10, 10)
        assert b.media.stats()["transports"] == 2 and b.media.stats()["producers"] == 2
        for conn in (peers["beta"][1], peers["beta"][2][1]):
            await conn.close()
        for t in peers["alpha"][2][3] + peers["beta"][2][3]:
            t.cancel()


async def test_a_busy_worker_gets_no_new_room(two):
    """Placement reads the workers' own counters: a worker moving a thousand datagrams a second or more is
    passed over for a new room even when the idle one has more rooms."""
    media = two["media"]
    assert media.pick([0, 5]) == 0  # both idle: the one with fewer rooms
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    junk = b"\x00" * 40  # not STUN, DTLS or RTP: counted, then dropped
    end = time.monotonic() + 1.3
    sent = 0
    while time.monotonic() < end:  # bounded: 1.3 s
        for _ in range(50):
            s.sendto(junk, ("127.0.0.1", media.engines[0].port))
        sent += 50
        await asyncio.sleep(0.005)
    s.close()
    assert sent > 3000
    loads = media.loads()
    assert loads[0]["packets_per_s"] >= 1000 > loads[1]["packets_per_s"], loads
    assert media.pick([0, 5]) == 1


@pytest.mark.timeout(90)
@pytest.mark.parametrize("two", [{"room_worker_share": 1}], indirect=True)
async def test_one_room_over_two_workers(two):
    """Issue 18 item 2: with room_worker_share 1 the room's first subscriber is on the room's worker and the
    next ones on the other, where each published track is piped once; all of them get the media; the
    publication's end takes the pipes and their consumers down."""
    media, rooms = two["media"], two["rooms"]
    async with aiohttp.ClientSession() as session:
        psig, pconn, video = await publisher(session, two["base"], "wide")
        subs = [await subscriber(session, two["base"], "wide", f"viewer{i}") for i in range(3)]
        room = rooms.find("wide")
        home = room.media
        other = next(e for e in media.engines if e is not home)
        on = [p.media for p in room.participants.values() if p.role == "attendee"]
        assert sorted(e is home for e in on) == [False, False, True], on
        for i, (_, conn, _, _) in enumerate(subs):  # each subscriber's ICE candidates: its worker's port
            viewer = next(p for p in room.participants.values() if p.name == f"viewer{i}")
            assert _port_of(conn.remoteDescription.sdp) == {viewer.media.port}, i
        assert await wait_for(lambda: all(s[2]["video"] > 10 and s[2]["audio"] > 10 for s in subs), 20), [
            s[2] for s in subs
        ]
        hs, os_ = home.stats(), other.stats()
        assert os_["pipes_in"] == 2 and hs["pipe_tx"] > 0 and os_["pipe_rx"] > 0  # audio and video, once each
        assert os_["consumers"] == 4 and hs["consumers"] == 2 and os_["producers"] == 2
        assert hs["pipe_dropped"] == 0
        async with session.get(two["base"] + "/metrics", headers={"Authorization": f"Bearer {API_KEY}"}) as r:
            text = await r.text()
        o = media.engines.index(other)
        assert re.search(rf'^mediaserver_worker_pipes{{worker="{o}"}} 2\.0$', text, re.M), text[-2000:]
        got_in = rf'^mediaserver_worker_pipe_packets_total{{direction="in",worker="{o}"}} [1-9]'
        assert re.search(got_in, text, re.M)
        # the publisher goes: its tracks end, and with them the pipes and the other worker's consumers
        await pconn.close()
        await psig.ws.close()
        assert await wait_for(lambda: other.stats()["pipes_in"] == 0, 15)
        assert other.stats()["consumers"] == 0 and other.stats()["producers"] == 0
        assert home.stats()["producers"] == 0
        for _, conn, _, tasks in subs:
            await conn.close()
            for t in tasks:
                t.cancel()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("two", [{"room_worker_share": 1}], indirect=True)
async def test_a_worker_without_subscribers_of_the_room_loses_its_pipes(two):
    """The room's last subscriber on the other worker leaves: that worker's copies of the tracks go with it
    (nothing is forwarded there for nobody), while the home worker's subscriber still gets the media; the
    next subscriber placed there pipes the tracks again and receives."""
    media, rooms = two["media"], two["rooms"]
    async with aiohttp.ClientSession() as session:
        psig, pconn, _ = await publisher(session, two["base"], "shrink")
        first = await subscriber(session, two["base"], "shrink", "home-viewer")
        away = await subscriber(session, two["base"], "shrink", "away-viewer")
        room = rooms.find("shrink")
        other = next(e for e in media.engines if e is not room.media)
        assert await wait_for(lambda: away[2]["video"] > 10 and other.stats()["pipes_in"] == 2, 20)
        await away[1].close()
        await away[0].ws.close()
        for t in away[3]:
            t.cancel()
        assert await wait_for(lambda: other.stats()["pipes_in"] == 0, 15), other.stats()
        assert other.stats()["producers"] == 0 and other.stats()["consumers"] == 0
        assert all(not t.pipes for t in room.tracks.values())
        seen = first[2]["video"]
        assert await wait_for(lambda: first[2]["video"] > seen + 10, 10)  # the home subscriber goes on
        again = await subscriber(session, two["base"], "shrink", "away-again")
        assert next(p for p in room.participants.values() if p.name == "away-again").media is other
        assert await wait_for(lambda: again[2]["video"] > 10 and again[2]["audio"] > 10, 20), again[2]
        assert other.stats()["pipes_in"] == 2
        for sub in (first, again):
            await sub[1].close()
            for t in sub[3]:
                t.cancel()
        await pconn.close()
        await psig.ws.close()


def _pinned_threads() -> list[str]:
    """The CPU lists of this process's threads that may run on one CPU only."""
    out = []
    for task in Path("/proc/self/task").iterdir():
        try:
            status = (task / "status").read_text()
        except OSError:  # the thread ended meanwhile
            continue
        allowed = next(
            line.split()[1] for line in status.splitlines() if line.startswith("Cpus_allowed_list")
        )
        if allowed.isdigit():
            out.append(allowed)
    return out


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning two workers needs two CPUs")
@pytest.mark.parametrize("two", [{"pin_workers": True}], indirect=True)
async def test_pinned_workers_run_on_one_cpu_each(two):
    """pin_workers: worker i runs on the i-th CPU the process may use (one core each, as the scaling
    command wants)."""
    cpus = sorted(os.sched_getaffinity(0))
    assert sorted(_pinned_threads()) == sorted(str(c) for c in cpus[:2])
    with pytest.raises(NativeError, match="could not pin"):
        two["media"].engines[0].worker.set_cpu(-1)
