"""An event's webinar over three nodes (issue 19): `mediaserver serve` on 127.0.0.2-4 with a real Redis and
one PostgreSQL database; the organiser's account and event made through the HTTP API of node-0, the room's
people joining over the WebSocket protocol on other nodes. The host (on node-0, the room's owner) sets the
capacity to 2 seats: an attendee on node-1 takes the last seat, the next one there waits (the seats are the
room's, counted on the owner); a poll the host launches reaches the first, whose answer is counted on the
owner; when the first leaves, the owner lets the second in, who finds the open poll and answers it too.
An instant room made through the API of node-0 is served by node-1 from the start. node-2, which never
held the event's room, leaves the live event alone; the organiser ends the event through node-2's API, and
the owner ends the room for everyone."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from tests.cluster_nodes import cluster
from tests.conftest import API_KEY, mail_spool, wait_for
from tests.e2e.peers import Signal
from tests.e2e.test_room_access import Organiser, _request, guest

# timing bars (latency under load, failover within seconds): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone

SWEEP = 3.0  # the nodes' sweep_interval (the event clock's)

POLL = {
    "name": "Mood",
    "kind": "poll",
    "questions": [{"text": "How is it?", "kind": "single", "options": [{"text": "good"}, {"text": "bad"}]}],
}


async def joined(session: aiohttp.ClientSession, base: str, token: str) -> tuple[Signal, dict[str, Any]]:
    ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
    sig = Signal(ws)
    r = await sig.call("join", token=token)
    assert "result" in r, r
    return sig, r["result"]


def api_key_call(base: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def events(sig: Signal, into: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Everything ``sig`` was told so far (its notes), kept in ``into``."""
    while not sig.notes.empty():
        into.append(sig.notes.get_nowait())
    return into


def interaction(notes: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [
        e
        for n in notes
        if n.get("method") == "interaction"
        for e in n["params"]["events"]
        if e["kind"] == kind
    ]


@pytest.mark.timeout(180)
async def test_seats_and_a_poll_of_an_event_span_the_nodes(tmp_path, redis_server, pg_server, pg_template):
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    db = pg_server.url(await pg_server.create_db())
    with cluster(tmp_path, redis_server, pg_server, db=db, MEDIASERVER_SWEEP_INTERVAL=str(SWEEP)) as nodes:
        started = time.monotonic()
        bases = [base for base, _, _ in nodes]
        org = await asyncio.to_thread(Organiser, bases[0], mail_spool(tmp_path / "n0" / "data"))
        ev = await asyncio.to_thread(org.event, name="Cluster quiz")
        poll = await asyncio.to_thread(org.call, "POST", f"/api/v1/events/{ev['id']}/polls", POLL, 201)
        room = ev["roomId"]

        async def token(base: str, name: str, **extra: Any) -> str:
            body = {"name": name, "email": f"{name.lower()}@example.test", **extra}
            status, got = await asyncio.to_thread(guest, base, "POST", f"/api/v1/rooms/{room}/join", body)
            assert status == 200, got
            return got["token"]

        async with aiohttp.ClientSession() as session:
            host, _ = await joined(
                session, bases[0], await token(bases[0], "Host", hostKey=ev["hostUrl"].split("host=")[1])
            )
            assert "result" in await host.call("host", action="setCapacity", capacity=2), "capacity"
            a1, seen1 = await joined(session, bases[1], await token(bases[1], "Ann"))
            a2, seen2 = await joined(session, bases[1], await token(bases[1], "Bob"))
            assert seen1["participant"]["status"] == "joined", seen1["participant"]
            assert seen2["participant"]["status"] == "waiting", seen2["participant"]  # host + Ann: full
            # the host's poll reaches node-1's attendee, whose answer counts on the owner
            r = await host.call("poll.launch", poll=poll["id"])
            assert "result" in r, r
            n1: list = []
            assert await wait_for(lambda: interaction(events(a1, n1), "poll"), 5), n1
            launched = interaction(n1, "poll")[0]
            good = launched["questions"][0]["options"][0]["id"]
            answer = [{"question": launched["questions"][0]["id"], "options": [good]}]
            r = await a1.call("poll.answer", launch=launched["launch"], answers=answer)
            assert "result" in r, r
            hn: list = []

            def answered(n: int) -> bool:
                res = interaction(events(host, hn), "pollResults")
                return bool(res) and res[-1].get("respondents") == n

            assert await wait_for(lambda: answered(1), 5), interaction(hn, "pollResults")
            # Ann leaves node-1: her seat goes to Bob, waiting on node-2, who finds the open poll
            assert "result" in await a1.call("leave")
            n2: list = []
            assert await wait_for(lambda: any(n.get("method") == "admitted" for n in events(a2, n2)), 5), n2
            admitted = next(n for n in n2 if n.get("method") == "admitted")["params"]
            assert admitted["participant"]["status"] == "joined"
            seen_poll = admitted["interaction"]["polls"]
            assert seen_poll["poll"]["launch"] == launched["launch"] and not seen_poll["answered"], seen_poll
            r = await a2.call("poll.answer", launch=launched["launch"], answers=answer)
            assert "result" in r, r
            assert await wait_for(lambda: answered(2), 5), interaction(hn, "pollResults")
            # and the answer of a person counts once, whatever node they are on
            r = await a2.call("poll.answer", launch=launched["launch"], answers=answer)
            assert r["error"]["code"] == "answered", r

            # an instant room made on node-0 (through the API) is served by node-1 at once: node-0 owns it
            # from its creation (before, node-1 answered 410 until someone had joined on node-0)
            status, made = await asyncio.to_thread(
                api_key_call, bases[0], "/api/v1/rooms", {"name": "Stand-up", "type": "meeting"}
            )
            assert status == 201, made
            iroom = made["id"]
            status, g = await asyncio.to_thread(
                guest,
                bases[0],
                "POST",
                f"/api/v1/rooms/{iroom}/join",
                {"name": "Gus", "email": "gus@example.test"},
            )
            assert status == 200, g
            _, seen = await joined(session, bases[1], g["token"])
            assert (seen["room"]["name"], seen["room"]["type"], seen["participant"]["status"]) == (
                "Stand-up",
                "meeting",
                "joined",
            ), seen
            # node-2 never had the event's room: its sweeps (at its start, then every SWEEP s) leave the
            # event live, as the room is held on node-0 (before the fix they ended the session)
            await asyncio.sleep(max(0.0, started + 2 * SWEEP + 1 - time.monotonic()))
            got = await asyncio.to_thread(org.call, "GET", f"/api/v1/events/{ev['id']}", None, 200)
            assert got["status"] == "live", got
            # the organiser ends the event through node-2's API (a balancer may send the request anywhere):
            # the owner ends the room, and its people on every node are told
            jar = next(h.cookiejar for h in org.opener.handlers if hasattr(h, "cookiejar"))
            cookie = "; ".join(f"{c.name}={c.value}" for c in jar)  # the same session on node-2
            status, done = await asyncio.to_thread(
                _request,
                urllib.request.build_opener(),
                "POST",
                f"{bases[2]}/api/v1/events/{ev['id']}/end",
                {},
                {"Cookie": cookie},
            )
            assert status == 200 and done["status"] == "done", done
            assert await wait_for(lambda: any(n.get("method") == "ended" for n in events(host, hn)), 5), hn[
                -3:
            ]
            assert await wait_for(lambda: any(n.get("method") == "ended" for n in events(a2, n2)), 5), n2[-3:]
