"""An edge node dies under a browser attendee (issue 19 item 5): three `mediaserver serve` nodes on
127.0.0.2-4 with a real Redis and one PostgreSQL database. The host publishes on node-0 (the room's owner, an
aiortc peer with the host's link); an attendee's room page in Chromium joins on node-1 (an edge), plays the
host's video and hears its audio. node-1 is killed: its SDK, told the live nodes by the join, goes to
the next one at once (no back-off for the first round) and plays the host's video again within 5 s, with its
audio. Then that node is drained for maintenance (POST /api/v1/cluster/drain): the page is told to move and
plays again from the last node within 5 s; the drained node takes nobody new and shows as draining."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request

import aiohttp
import pytest

from tests.api.test_cluster_media import link_packets, metrics
from tests.api.test_cluster_nodes import nodes_seen
from tests.cluster_nodes import cluster
from tests.conftest import API_KEY, loopback_only_ice, mail_spool, wait_for
from tests.e2e import browser
from tests.e2e.peers import Signal, join_only, publish
from tests.e2e.test_room_access import Organiser, guest, join_as
from tests.e2e.test_room_page import room_stats

# timing bars (latency under load, failover within seconds): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone


def drain(base: str) -> tuple[int, dict]:
    req = urllib.request.Request(
        base + "/api/v1/cluster/drain", method="POST", headers={"Authorization": f"Bearer {API_KEY}"}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, json.loads(r.read())


def connection(d) -> str:
    return d.execute_script("return document.body.dataset.connection || ''")


@pytest.mark.timeout(240)
async def test_an_edge_dies_and_its_browser_attendee_plays_again_from_another_node(
    tmp_path, redis_server, pg_server, pg_template
):
    if (why := browser.missing()) is not None:
        pytest.skip(why)
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    loopback_only_ice()
    db = pg_server.url(await pg_server.create_db())
    with cluster(tmp_path, redis_server, pg_server, db=db, MEDIASERVER_NODE_TTL="2") as nodes:
        bases = [base for base, _, _ in nodes]
        org = await asyncio.to_thread(Organiser, bases[0], mail_spool(tmp_path / "n0" / "data"))
        ev = await asyncio.to_thread(org.event, name="Cluster talk")
        room = ev["roomId"]
        host_key = ev["hostUrl"].split("host=")[1]
        status, grant = await asyncio.to_thread(
            guest,
            bases[0],
            "POST",
            f"/api/v1/rooms/{room}/join",
            {"name": "Host", "email": "host@example.test", "hostKey": host_key},
        )
        assert status == 200 and grant["role"] == "host", grant
        async with aiohttp.ClientSession() as session:
            hsig = await join_only(session, bases[0], grant["token"])
            hconn, _ = await publish(hsig)
            # node-2 serves the room already (someone is there, its links mirror the host's tracks), as every
            # edge of a webinar does: the page's reconnection there is a join and a subscribe
            status, other = await asyncio.to_thread(
                guest,
                bases[2],
                "POST",
                f"/api/v1/rooms/{room}/join",
                {"name": "Ben", "email": "ben@example.test"},
            )
            assert status == 200, other
            ben = await join_only(session, bases[2], other["token"])
            assert await wait_for(lambda: len(link_packets(metrics(bases[2]), "edge")) == 1, 10)
            with browser.chromium() as d:
                await asyncio.to_thread(join_as, d, f"{bases[1]}/room/{room}", "Ann", "attendee")
                # the host's video and its audio (a 440 Hz tone), both through node-1's link
                got = await asyncio.to_thread(
                    browser.poll,
                    lambda: room_stats(d),
                    lambda s: s.get("framesDecoded", 0) > 20 and s.get("audioLevel", 0) > 0,
                    20,
                )
                assert got.get("framesDecoded", 0) > 20 and got.get("audioLevel", 0) > 0, (
                    got,
                    browser.console(d),
                )
                nodes[1][1].kill()
                killed = time.monotonic()
                back = await asyncio.to_thread(
                    browser.poll,
                    lambda: (connection(d), room_stats(d)),
                    lambda cs: cs[0] == "live" and cs[1].get("framesDecoded", 0) > 5,
                    15,
                    0.1,
                )
                took = time.monotonic() - killed
                heard = await asyncio.to_thread(  # and hears the host again on node-2, the other edge
                    browser.poll, lambda: room_stats(d), lambda s: s.get("audioLevel", 0) > 0, 5, 0.1
                )
                assert heard.get("audioLevel", 0) > 0, (heard, browser.console(d))
                print(f"node-1 killed; the page played the host's video again after {took:.1f} s")
                assert back[0] == "live" and back[1].get("framesDecoded", 0) > 5, (back, browser.console(d))
                assert took < 5.0, took
                assert d.execute_script("return location.host") == bases[1].split("//")[1]  # the same page
                # node-2, where the page went, is drained for maintenance: its people are told to move, and
                # the page plays from node-0 (the owner) within 5 s; nobody new comes to node-2
                before = (await asyncio.to_thread(room_stats, d)).get("framesDecoded", 0)
                drained = time.monotonic()
                status, done = await asyncio.to_thread(drain, bases[2])
                assert status == 200 and done["moved"] == 2 and done["nodeId"] == "node-2", (
                    done
                )  # Ann and Ben
                went: list[bool] = []  # the counters fell: the old connection is gone (its frames with it)

                def again(cs: tuple[str, dict]) -> bool:
                    frames = cs[1].get("framesDecoded", 0)
                    if frames < before or cs[0] != "live":
                        went.append(True)
                    return bool(went) and cs[0] == "live" and frames > 5

                back = await asyncio.to_thread(
                    browser.poll, lambda: (connection(d), room_stats(d)), again, 15, 0.05
                )
                took = time.monotonic() - drained
                print(f"node-2 drained; the page played the host's video again after {took:.1f} s")
                assert back[0] == "live", (back, browser.console(d))
                assert took < 5.0, took
                status, refused = await asyncio.to_thread(
                    guest,
                    bases[2],
                    "POST",
                    f"/api/v1/rooms/{room}/join",
                    {"name": "Bo", "email": "bo@example.test"},
                )
                assert status == 200, (
                    refused
                )  # the token is the event's word; the node refuses the join itself
                ws = await session.ws_connect(bases[2].replace("http", "ws") + "/ws")
                r = await Signal(ws).call("join", token=refused["token"])
                assert r["error"]["code"] == "draining", r
                await ws.close()
                want = [("node-0", False), ("node-2", True)]  # node-1 gone once its key expired (ttl 2 s)

                def listed() -> list:
                    return [(n["nodeId"], n["draining"]) for n in nodes_seen(bases[0])["nodes"]]

                assert await wait_for(lambda: listed() == want, 5), listed()
            await hconn.close()
            await ben.ws.close()
