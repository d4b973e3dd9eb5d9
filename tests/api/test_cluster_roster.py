"""The roster and the host's actions across nodes (issue 19 item 3: any node serves any room): two
`mediaserver serve` nodes on 127.0.0.2-3 with a real Redis and one PostgreSQL database; a webinar's host on
node-0 (the room's owner), attendees on node-1 (an edge), over the WebSocket protocol as the SDK speaks it.

- The host sees the edge's attendees in the room (with their node), as they come and go; the edge's attendees
  see the host and a presenter who joins later on the owner (a webinar's attendees see the staff), and not
  one another.
- The host removes an attendee of the edge: they are told `removed`, and neither node takes them back.
- The host makes an attendee of the edge a presenter, or gives another the floor: each is told `moved` to the
  owner (where the media is published), comes back there with the same token as the SDK does, and is a
  presenter, or an attendee with the floor who may publish.
- A phone attendee of the edge cannot be made a presenter (R-INT-5), wherever they are."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from tests.api.test_cluster_media import attendee
from tests.api.test_cluster_nodes import nodes_seen
from tests.cluster_nodes import cluster
from tests.conftest import API_KEY, loopback_only_ice, mail_spool, token, wait_for
from tests.e2e import browser
from tests.e2e.peers import Signal, join_only, publish
from tests.e2e.test_room_access import Organiser, guest, join_as
from tests.e2e.test_room_page import room_stats
from tests.e2e.test_whip_whep import post_offer, recvonly_offer

# timing bars (within seconds): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone

ROOM = "roster"


def notes(sig: Signal) -> list[dict[str, Any]]:
    """Everything ``sig`` was told so far (kept in sig.seen)."""
    seen = sig.__dict__.setdefault("seen", [])
    while not sig.notes.empty():
        seen.append(sig.notes.get_nowait())
    return seen


def told(sig: Signal, method: str) -> list[dict[str, Any]]:
    return [n["params"] for n in notes(sig) if n.get("method") == method]


def people(sig: Signal) -> dict[str, dict[str, Any]]:
    """Whom ``sig`` sees in the room now: its join's list, then what it was told."""
    seen = {p["id"]: p for p in sig.joined["participants"]}
    for n in notes(sig):
        params = n.get("params") or {}
        if n.get("method") in ("participantJoined", "participantUpdated"):
            seen[params["participant"]["id"]] = params["participant"]
        elif n.get("method") == "participantLeft":
            seen.pop(params["participant"], None)
    return seen


def names(sig: Signal) -> set[str]:
    return {p["name"] for p in people(sig).values()}


async def refused(session: aiohttp.ClientSession, base: str, tok: str) -> str:
    ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
    try:
        r = await Signal(ws).call("join", token=tok)
    finally:
        await ws.close()
    assert "error" in r, r
    return r["error"]["code"]


async def moved_back(session: aiohttp.ClientSession, sig: Signal, tok: str, reason: str) -> Signal:
    """``sig`` was told to move: the SDK's way, a new connection to the node named, with the same token."""
    assert await wait_for(lambda: told(sig, "moved"), 10), notes(sig)
    (m,) = told(sig, "moved")
    assert m["reason"] == reason, m
    return await join_only(session, m["nodes"][0], tok)


@pytest.mark.timeout(180)
async def test_the_host_sees_and_acts_on_the_people_of_the_edges(
    tmp_path, redis_server, pg_server, pg_template
):
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    db = pg_server.url(await pg_server.create_db())
    with cluster(tmp_path, redis_server, pg_server, count=2, db=db, MEDIASERVER_NODE_TTL="3") as nodes:
        owner, edge = (base for base, _, _ in nodes)
        async with aiohttp.ClientSession() as session:
            host = await join_only(session, owner, token(ROOM, "host", "Hana"))
            toks = {n: token(ROOM, "attendee", n) for n in ("Ann", "Bob", "Cid")}
            att = {n: await join_only(session, edge, t) for n, t in toks.items()}
            ids = {n: s.joined["participant"]["id"] for n, s in att.items()}

            # the host sees the edge's people, with their node; they see the host and not one another
            assert await wait_for(lambda: {"Ann", "Bob", "Cid"} <= names(host), 10), people(host)
            assert {people(host)[ids[n]]["node"] for n in att} == {"node-1"}
            for n, s in att.items():
                assert await wait_for(lambda s=s: "Hana" in names(s), 10), (n, people(s))
                assert names(s) == {"Hana", n}, (n, people(s))
            # a presenter who joins on the owner later is seen on the edge as well
            pres = await join_only(session, owner, token(ROOM, "presenter", "Pia"))
            assert await wait_for(lambda: all("Pia" in names(s) for s in att.values()), 10)
            assert await wait_for(lambda: "Ann" in names(pres), 10)  # the staff see attendees anywhere
            # a WHEP viewer of the edge is one of the room's people as well (the owner counts its seat)
            wconn, offer = await recvonly_offer()
            status, headers, _ = await post_offer(
                session, f"{edge}/whep/{ROOM}", token(ROOM, "attendee", "Wes"), offer
            )
            assert status == 201, status
            assert await wait_for(lambda: "Wes" in names(host), 10), people(host)
            async with session.delete(
                edge + headers["Location"],
                headers={"Authorization": f"Bearer {token(ROOM, 'attendee', 'Wes')}"},
            ) as r:
                assert r.status == 200, await r.text()
            assert await wait_for(lambda: "Wes" not in names(host), 10), people(host)
            await wconn.close()

            # removed: told so on the edge, gone from the host's list, kept out on both nodes
            r = await host.call("host", action="remove", participant=ids["Bob"])
            assert "result" in r, r
            assert await wait_for(lambda: told(att["Bob"], "removed"), 10), notes(att["Bob"])
            assert "host" in told(att["Bob"], "removed")[0]["reason"]
            assert await wait_for(lambda: "Bob" not in names(host), 10)
            assert await refused(session, edge, toks["Bob"]) == "removed"
            assert await refused(session, owner, toks["Bob"]) == "removed"

            # made a presenter: moved to the owner, back there as a presenter (the same token)
            r = await host.call("host", action="setRole", participant=ids["Ann"], role="presenter")
            assert "result" in r, r
            ann = await moved_back(session, att["Ann"], toks["Ann"], "roleChanged")
            assert ann.joined["participant"]["role"] == "presenter", ann.joined["participant"]
            assert ann.joined["participant"]["canPublish"] is True
            assert await wait_for(lambda: people(host).get(ann.joined["participant"]["id"]), 10)
            assert ids["Ann"] not in people(host)  # the edge's connection is gone from the list
            # the edge's other attendee now sees Ann, the presenter on the owner
            assert await wait_for(lambda: "Ann" in names(att["Cid"]), 10), people(att["Cid"])

            # given the floor: moved likewise, back as an attendee with the floor, who may publish
            r = await host.call("host", action="grantFloor", participant=ids["Cid"])
            assert "result" in r, r
            cid = await moved_back(session, att["Cid"], toks["Cid"], "floorGranted")
            me = cid.joined["participant"]
            assert (me["role"], me["floor"], me["canPublish"]) == ("attendee", True, True), me
            # the floor is the host's to take back, as for anyone on the owner
            r = await host.call("host", action="revokeFloor", participant=me["id"])
            assert "result" in r, r
            assert await wait_for(lambda: told(cid, "floorRevoked"), 10)

            # a phone attendee of the edge cannot present, whatever node they are on (R-INT-5)
            phone_ws = await session.ws_connect(edge.replace("http", "ws") + "/ws")
            phone = Signal(phone_ws)
            r = await phone.call("join", token=token(ROOM, "attendee", "Dot"), device="mobile")
            assert "result" in r, r
            dot = r["result"]["participant"]["id"]
            assert await wait_for(lambda: dot in people(host), 10)
            r = await host.call("host", action="setRole", participant=dot, role="presenter")
            assert r.get("error", {}).get("code") == "mobile_presenter", r
            await asyncio.sleep(0.5)
            assert not told(phone, "moved")
            for s in (host, pres, ann, cid, phone, *att.values()):
                await s.ws.close()


@pytest.mark.timeout(240)
async def test_a_full_node_sends_new_attendees_to_a_less_loaded_one(
    tmp_path, redis_server, pg_server, pg_template
):
    """Placement by load (mediaserver/cluster/placement.py): node-0 takes two people (node_capacity 2); the
    third attendee is sent to node-1 (`node_full` with its address), unless they ask to stay; the staff are
    never sent away (they act on the owner). A Chromium attendee who opens node-0's room page lands on node-1
    (the SDK follows `node_full`) and plays the host's video there."""
    if (why := browser.missing()) is not None:
        pytest.skip(why)
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    loopback_only_ice()
    db = pg_server.url(await pg_server.create_db())
    full = {"MEDIASERVER_NODE_CAPACITY": "2"}
    with cluster(tmp_path, redis_server, pg_server, count=2, db=db, each=[full, full]) as nodes:
        owner, edge = (base for base, _, _ in nodes)
        org = await asyncio.to_thread(Organiser, owner, mail_spool(tmp_path / "n0" / "data"))
        ev = await asyncio.to_thread(org.event, name="Placed talk")
        room, host_key = ev["roomId"], ev["hostUrl"].split("host=")[1]

        async def grant(name: str, **extra: str) -> str:
            body = {"name": name, "email": f"{name.lower()}@example.test", **extra}
            status, got = await asyncio.to_thread(guest, owner, "POST", f"/api/v1/rooms/{room}/join", body)
            assert status == 200, got
            return got["token"]

        async with aiohttp.ClientSession() as session:
            host = await join_only(session, owner, await grant("Hana", hostKey=host_key))
            hconn, _ = await publish(host)
            ann = await join_only(session, owner, await grant("Ann"))  # the second person: node-0 is full now
            ws = await session.ws_connect(owner.replace("http", "ws") + "/ws")
            bob, bob_token = Signal(ws), await grant("Bob")
            r = await bob.call("join", token=bob_token, stay="yes")
            assert r.get("error", {}).get("code") == "bad_request", r
            r = await bob.call("join", token=bob_token)
            assert r.get("error", {}).get("code") == "node_full", r
            assert r["error"]["nodes"] == [edge], r
            r = await bob.call("join", token=bob_token, stay=True)  # a load tester places people itself
            assert "result" in r, r
            await ws.close()
            # the staff stay on the owner however full it is: a host's second connection is taken
            host2 = await join_only(session, owner, await grant("Hana", hostKey=host_key))

            with browser.chromium() as d:
                await asyncio.to_thread(join_as, d, f"{owner}/room/{room}", "Cat", "attendee")
                got = await asyncio.to_thread(
                    browser.poll, lambda: room_stats(d), lambda s: s.get("framesDecoded", 0) > 20, 20
                )
                assert got.get("framesDecoded", 0) > 20, (got, browser.console(d))

                def on_edge() -> int:  # the nodes' reports come every node_ttl / 3 (2 s)
                    seen = nodes_seen(edge)["nodes"]
                    return next(n["participants"] for n in seen if n["nodeId"] == "node-1")

                assert await wait_for(lambda: on_edge() == 1, 5), on_edge()  # Cat, the page's connection
                assert d.execute_script("return location.host") == owner.split("//")[1]  # the same page
            for s in (host, ann, host2):
                await s.ws.close()
            await hconn.close()


@pytest.mark.timeout(180)
async def test_an_edge_taken_for_dead_for_a_while_brings_its_people_back(
    tmp_path, redis_server, pg_server, pg_template
):
    """An edge stalls (SIGSTOP) longer than node_ttl: the owner takes it for dead, its attendee leaves the
    host's list and its links close. Resumed, the edge registers its people with the owner again and opens
    its links anew: the host sees the attendee again and the attendee, on the same connection, decodes the
    host's video again (before, the edge's people stayed out until the owner's tracks changed)."""
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    db = pg_server.url(await pg_server.create_db())
    with cluster(tmp_path, redis_server, pg_server, count=2, db=db, MEDIASERVER_NODE_TTL="2") as nodes:
        (owner, _, _), (edge, edge_proc, _) = nodes
        async with aiohttp.ClientSession() as session:
            host = await join_only(session, owner, token("stall", "host", "Hana"))
            hconn, video = await publish(host)
            sig, conn, counts, tasks = await attendee(session, edge, "Eve", token("stall", "attendee", "Eve"))
            eve = sig.joined["participant"]["id"]
            assert await wait_for(lambda: counts["video"] > 10, 20), counts
            assert await wait_for(lambda: eve in people(host), 10)
            edge_proc.send_signal(signal.SIGSTOP)
            try:
                assert await wait_for(lambda: eve not in people(host), 8), (
                    "the owner kept the stalled edge's people"
                )
            finally:
                edge_proc.send_signal(signal.SIGCONT)
            resumed, before = time.monotonic(), counts["video"]
            assert await wait_for(lambda: eve in people(host), 10), people(host)
            assert await wait_for(lambda: counts["video"] > before + 30, 15), counts
            print(
                f"the edge resumed: its attendee decoded video again after {time.monotonic() - resumed:.1f} s"
            )
            assert not sig.ws.closed  # the same connection
            for t in tasks:
                t.cancel()
            await conn.close()
            await hconn.close()
            await host.ws.close()
            await sig.ws.close()


def _call(base: str, method: str, path: str, body: dict[str, Any] | None = None, key: bool = False):
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {API_KEY}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.timeout(120)
async def test_any_node_answers_for_an_instant_room(tmp_path, redis_server, pg_server, pg_template):
    """An instant room lives on the node that made it (issue 19): another node gives its information and
    its joins (the host key checked there), and a wrong key or an unknown room is refused as on its node."""
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    db = pg_server.url(await pg_server.create_db())
    with cluster(tmp_path, redis_server, pg_server, count=2, db=db) as nodes:
        made_on, other = (base for base, _, _ in nodes)
        status, room = await asyncio.to_thread(
            _call, made_on, "POST", "/api/v1/rooms", {"name": "Quick sync", "type": "meeting"}, True
        )
        assert status == 201, room
        rid = room["id"]
        status, info = await asyncio.to_thread(_call, other, "GET", f"/api/v1/rooms/{rid}")
        assert status == 200 and info["name"] == "Quick sync" and info["type"] == "meeting", info
        assert "pin" not in info
        person = {"name": "Hana", "email": "hana@example.test"}
        status, got = await asyncio.to_thread(
            _call, other, "POST", f"/api/v1/rooms/{rid}/join", {**person, "hostKey": room["hostKey"]}
        )
        assert status == 200 and got["role"] == "host", got
        status, bad = await asyncio.to_thread(
            _call, other, "POST", f"/api/v1/rooms/{rid}/join", {**person, "hostKey": "wrong"}
        )
        assert status == 403 and bad["error"]["code"] == "forbidden", bad
        status, none = await asyncio.to_thread(_call, other, "GET", "/api/v1/rooms/123456789")
        assert status == 404, none
        async with aiohttp.ClientSession() as session:  # the token opens the room on the other node too
            host = await join_only(session, other, got["token"])
            assert host.joined["participant"]["role"] == "host"
            status, att = await asyncio.to_thread(_call, other, "POST", f"/api/v1/rooms/{rid}/join", person)
            assert status == 200 and att["role"] == "attendee", att
            status, info = await asyncio.to_thread(_call, other, "GET", f"/api/v1/rooms/{rid}")
            assert info["participants"] == 1, info  # counted on the room's node (the host, seated there)
            await host.ws.close()
