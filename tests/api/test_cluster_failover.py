"""A node of a cluster dies mid-webinar (issue 19 item 5): `mediaserver serve` on 127.0.0.2-4 with a real
Redis and one PostgreSQL database, a node ttl of 2 s. The room's owner (node-0, with the presenter) is
killed: once its registration and its lease have expired, one of the edges takes the room over with a new
epoch and the other follows it; the presenter comes back on the new owner (an edge tells it where that is)
and publishes again; the attendees on both surviving nodes see its video again, and the chat as it stood
before the failure is still there for a newcomer."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.api.test_cluster_media import ROOM, attendee, chats
from tests.cluster_nodes import cluster
from tests.conftest import token, wait_for
from tests.e2e.peers import Signal, join_only, publish

TTL = 2.0


async def presenter_on_owner(session: aiohttp.ClientSession, bases: list[str], timeout: float):
    """The presenter's way back: join a live node and publish; an edge answers wrong_node, naming the owner;
    while the room has no owner, a join is refused with cluster_unavailable (503: try again)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for base in bases:
            ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
            sig = Signal(ws)
            r = await sig.call("join", token=token(ROOM, "presenter", "pres"))
            if "error" in r:
                assert r["error"]["code"] == "cluster_unavailable", r
                await ws.close()
                continue
            try:
                conn, cam = await publish(sig)
                return base, sig, conn, cam
            except AssertionError:
                await sig.ws.close()
        await asyncio.sleep(0.2)
    raise AssertionError("no node took the presenter back")


@pytest.mark.timeout(180)
async def test_the_owner_dies_an_edge_takes_over_and_the_webinar_goes_on(
    tmp_path, redis_server, pg_server, pg_template
):
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    db = pg_server.url(await pg_server.create_db())
    with cluster(tmp_path, redis_server, pg_server, db=db, MEDIASERVER_NODE_TTL=str(TTL)) as nodes:
        bases = [base for base, _, _ in nodes]
        async with aiohttp.ClientSession() as session:
            psig = await join_only(session, bases[0], token(ROOM, "presenter", "pres"))
            pconn, _ = await publish(psig)
            subs = [await attendee(session, bases[i], f"att{i}") for i in (1, 2)]
            assert await wait_for(lambda: all(s[2]["video"] > 0 for s in subs), 20), [s[2] for s in subs]
            r = await subs[0][0].call("chat.send", text="before the failure")
            assert "result" in r, r
            assert await wait_for(lambda: all("before the failure" in chats(s[0].events) for s in subs), 5)
            # the owner dies without a word
            nodes[0][1].kill()
            killed = time.monotonic()
            await pconn.close()
            base, psig2, pconn2, _ = await presenter_on_owner(session, bases[1:], timeout=3 * TTL + 10)
            back = time.monotonic()
            before = [s[2]["video"] for s in subs]
            assert await wait_for(
                lambda: all(s[2]["video"] > b + 30 for s, b in zip(subs, before, strict=True)), 15
            ), ([s[2] for s in subs], before)
            again = time.monotonic()
            print(
                f"owner killed; presenter published on {base} after {back - killed:.1f} s; "
                f"video again on both nodes {again - back:.1f} s after that"
            )
            assert again - back < 5.0
            # the chat as it stood, on the new owner (its standby copy) and through an edge's join
            for b in bases[1:]:
                late = await join_only(session, b, token(ROOM, "attendee", f"late-{b[-6:]}"))
                assert "before the failure" in json.dumps(late.joined["interaction"]), late.joined
                await late.ws.close()
            # the other node follows the new owner: a message of its attendee reaches the presenter
            other = next(s for s, i in zip(subs, (1, 2), strict=True) if bases[i] != base)
            r = await other[0].call("chat.send", text="after the failure")
            assert "result" in r, r
            got: list = []

            def presenter_saw() -> bool:
                while not psig2.notes.empty():
                    n = psig2.notes.get_nowait()
                    if n.get("method") == "interaction":
                        got.extend(n["params"]["events"])
                return "after the failure" in chats(got)

            assert await wait_for(presenter_saw, 5), got
            for s in subs:
                for t in s[3]:
                    t.cancel()
                await s[1].close()
            await pconn2.close()
            assert isinstance(psig2, Signal)
