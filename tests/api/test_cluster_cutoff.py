"""An owner cut off from Redis gives its room up (issue 19: a stale owner cannot act, and nothing runs the
room twice): two `mediaserver serve` nodes on 127.0.0.2-3 with a real PostgreSQL and a real Redis, node-0
reaching Redis through a TCP relay of the test's that can be cut (the rest of node-0's network stays up).
node-0 owns the room (the presenter and an attendee are there), node-1 is its edge (an attendee). The relay
is cut: before its lease can expire, node-0 tells its people to move (``moved``, reason ``lease_lost``) and
gives the room up; node-1, which sees node-0 leave the registry, takes the room over with a new epoch; the
presenter publishes there and node-1's attendee, who never reconnected, sees the video again. Redis comes
back to node-0: a join there makes it an edge of node-1, whose video reaches its attendee over a link."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from tests.api.test_cluster_media import attendee, link_packets, metrics
from tests.cluster_nodes import cluster
from tests.conftest import free_port, token, wait_for
from tests.e2e.peers import Signal, join_only, publish

# timing bars (latency under load, failover within seconds): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone

ROOM = "cutoff"
TTL = 2.0


class RedisRelay:
    """A TCP relay from 127.0.0.1:port to Redis, in an event loop of its own thread (the nodes start while the
    test's loop waits for them). ``cut()`` drops every connection and refuses new ones (Redis unreachable for
    the node behind it); ``mend()`` listens again."""

    def __init__(self, redis_url: str) -> None:
        u = urlsplit(redis_url)
        self.target = (u.hostname or "127.0.0.1", u.port or 6379)
        self.port = free_port()
        self.url = urlunsplit((u.scheme, f"127.0.0.1:{self.port}", u.path, u.query, ""))
        self.server: asyncio.Server | None = None
        self.open: set[asyncio.StreamWriter] = set()
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _run(self, coro) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def mend(self) -> None:
        async def listen() -> None:
            self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

        self._run(listen())

    def cut(self) -> None:
        async def drop() -> None:
            assert self.server is not None
            self.server.close()
            for w in list(self.open):
                w.transport.abort()
            self.open.clear()

        self._run(drop())

    def stop(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)

    async def _relay(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            ur, uw = await asyncio.open_connection(*self.target)
        except OSError:
            w.transport.abort()
            return
        self.open |= {w, uw}

        async def pipe(a: asyncio.StreamReader, b: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await a.read(65536):
                    b.write(data)
                    await b.drain()
            b.transport.abort()
            self.open.discard(b)

        await asyncio.gather(pipe(r, uw), pipe(ur, w))


@pytest.mark.timeout(120)
async def test_an_owner_cut_off_from_redis_gives_the_room_up(tmp_path, redis_server, pg_server, pg_template):
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    relay = RedisRelay(redis_server)
    relay.mend()
    db = pg_server.url(await pg_server.create_db())
    with cluster(
        tmp_path,
        redis_server,
        pg_server,
        count=2,
        db=db,
        each=[{"MEDIASERVER_CLUSTER_REDIS_URL": relay.url}],
        MEDIASERVER_NODE_TTL=str(TTL),
    ) as nodes:
        bases = [base for base, _, _ in nodes]
        async with aiohttp.ClientSession() as session:
            psig = await join_only(session, bases[0], token(ROOM, "presenter", "pres"))
            pconn, _ = await publish(psig)
            a0, a1 = [
                await attendee(session, b, f"att{i}", token(ROOM, "attendee", f"att{i}"))
                for i, b in enumerate(bases)
            ]
            assert await wait_for(lambda: a0[2]["video"] > 0 and a1[2]["video"] > 0, 20), (a0[2], a1[2])

            def moved(sig) -> dict | None:
                return next((n["params"] for n in sig.seen if n.get("method") == "moved"), None)

            relay.cut()
            cut = time.monotonic()
            # node-0 gives the room up before its lease can expire (ttl after its last renewal)
            assert await wait_for(lambda: moved(a0[0]) is not None, TTL + 1), a0[0].seen[-3:]
            gave_up = time.monotonic() - cut
            assert moved(a0[0]) == {"reason": "lease_lost", "nodes": [bases[1]]}, moved(a0[0])
            notes = []
            while not psig.notes.empty():
                notes.append(psig.notes.get_nowait())
            assert {"reason": "lease_lost", "nodes": [bases[1]]} in [
                n["params"] for n in notes if n.get("method") == "moved"
            ], notes
            # node-1 takes the room over; the presenter publishes there (a join refused until it has)
            await pconn.close()
            end, back = time.monotonic() + 3 * TTL + 10, None
            while back is None and time.monotonic() < end:
                ws = await session.ws_connect(bases[1].replace("http", "ws") + "/ws")
                sig = Signal(ws)
                r = await sig.call("join", token=token(ROOM, "presenter", "pres"))
                if "result" in r:
                    try:
                        back = (sig, *(await publish(sig)))
                    except AssertionError:
                        await ws.close()
                else:
                    assert r["error"]["code"] == "cluster_unavailable", r
                    await ws.close()
                if back is None:
                    await asyncio.sleep(0.2)
            assert back is not None, "node-1 never took the presenter"
            published = time.monotonic() - cut
            before = a1[2]["video"]
            assert await wait_for(lambda: a1[2]["video"] > before + 30, 10), (a1[2], before)
            assert not a1[0].ws.closed  # node-1's attendee never reconnected
            print(
                f"relay cut: node-0 gave the room up after {gave_up:.1f} s; the presenter published on "
                f"node-1 after {published:.1f} s"
            )
            # Redis back: node-0 serves the room again as node-1's edge
            relay.mend()
            late = None
            end = time.monotonic() + 3 * TTL + 10
            while late is None and time.monotonic() < end:
                with contextlib.suppress(AssertionError):
                    late = await attendee(session, bases[0], "late", token(ROOM, "attendee", "late"))
                if late is None:
                    await asyncio.sleep(0.3)
            assert late is not None, "node-0 took nobody after Redis came back"
            assert late[0].joined["cluster"]["node"] == "node-0"
            assert await wait_for(lambda: late[2]["video"] > 10, 15), late[2]
            assert set(link_packets(metrics(bases[0]), "edge")) == {"node-1"}
            for s in (a0, a1, late):
                for t in s[3]:
                    t.cancel()
                await s[1].close()
            await back[1].close()
    relay.stop()
