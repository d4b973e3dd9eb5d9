"""Issue 14 findings 7, 13 and 17, on a real server: rooms cost memory whoever makes them, so creating them
anonymously is rate-limited, capped per node, off by default on a network address, and an empty room is
freed (finding 7); a person the host removed stays out with a new token (finding 13); an event's room ID is
never taken by someone else's room (finding 17). Also: a WebSocket the client closes while the server answers
is no error in the server's log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import struct
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from mediaserver.rtc import tokens
from tests.api.conftest import call, signup
from tests.conftest import API_KEY, SECRET, serve
from tests.signaling.client import Client, make_offer

KEY = API_KEY


@contextlib.asynccontextmanager
async def running(tmp_path: Path, **overrides: Any) -> AsyncIterator[dict[str, Any]]:
    """The real application in this event loop (as tests/conftest.py's ``server``), with settings changed."""
    from aiohttp import web

    from mediaserver.app import build
    from mediaserver.config import Settings
    from signaling import keys

    settings = Settings(
        http_port=0,
        rtc_port=0,
        secret=SECRET,
        api_key=KEY,
        data_dir=str(tmp_path / "data"),
        **{"workers": "1", **overrides},  # one worker: its port is the one the tests reach
    ).finish()
    app = build(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield {
            "base_url": f"http://127.0.0.1:{runner.addresses[0][1]}",
            "rooms": app[keys.ROOMS],
            "media": app[keys.MEDIA].first,
        }
    finally:
        await runner.cleanup()


async def create(http: aiohttp.ClientSession, base: str, key: str | None = None, **body: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.post(f"{base}/api/v1/rooms", json=body, headers=headers) as r:
        return r.status, await r.json()


async def join_token(
    http: aiohttp.ClientSession, base: str, room: str, name: str, email: str, **more: Any
) -> Any:
    async with http.post(
        f"{base}/api/v1/rooms/{room}/join", json={"name": name, "email": email, **more}
    ) as r:
        return r.status, await r.json()


async def ws(http: aiohttp.ClientSession, base: str) -> Client:
    return Client(await http.ws_connect(base.replace("http", "ws") + "/ws"))


# ---------------------------------------------------------------- finding 7: creating rooms


def _post_room(base: str, key: str | None = None) -> int:
    req = urllib.request.Request(
        f"{base}/api/v1/rooms",
        data=b"{}",
        method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def test_open_room_creation_is_off_by_default_on_a_network_address(tmp_path):
    """Issue 14 finding 7: `mediaserver serve` on 0.0.0.0 asks for the API key to create a room unless the
    operator turns open creation on; on loopback (the newcomer's default) it stays open."""
    with serve(tmp_path / "net", MEDIASERVER_HTTP_HOST="0.0.0.0", MEDIASERVER_API_KEY=KEY) as (base, _p, _l):
        assert _post_room(base) == 401
        assert _post_room(base, KEY) == 201
    with serve(
        tmp_path / "open",
        MEDIASERVER_HTTP_HOST="0.0.0.0",
        MEDIASERVER_API_KEY=KEY,
        MEDIASERVER_OPEN_ROOM_CREATION="true",
    ) as (base, _p, _l):
        assert _post_room(base) == 201
    with serve(tmp_path / "loop", MEDIASERVER_API_KEY=KEY) as (base, _p, _l):
        assert _post_room(base) == 201


async def test_room_creation_is_rate_limited_per_address(server):
    """Issue 14 finding 7: one address creates at most room_creation_rate (10) rooms a minute without the API
    key; refusals do not count; the API key is not limited."""
    base = server["base_url"]
    async with aiohttp.ClientSession() as http:
        assert (await create(http, base, type="party"))[0] == 400  # refused: not counted
        for _ in range(10):
            assert (await create(http, base))[0] == 201
        status, body = await create(http, base)
        assert status == 429 and body["error"]["code"] == "rate_limited", body
        assert re.search(r"try again in \d+ s", body["error"]["message"]), body
        assert (await create(http, base, key=KEY))[0] == 201
    assert sum(1 for r in server["rooms"].rooms.values() if not r.settings.adhoc) == 11


async def test_rooms_per_node_are_capped(tmp_path):
    """Issue 14 finding 7: max_rooms instant and ad-hoc rooms per node, then 503 too_many_rooms (the API key
    too), for POST /api/v1/rooms and for an ad-hoc room a token names."""
    async with running(tmp_path, max_rooms=3) as srv, aiohttp.ClientSession() as http:
        base = srv["base_url"]
        for _ in range(2):
            assert (await create(http, base))[0] == 201
        c = await ws(http, base)
        await c.ok("join", token=tokens.issue(SECRET, "adhoc-1", "presenter", "a", "a"))
        status, body = await create(http, base, key=KEY)
        assert status == 503 and body["error"]["code"] == "too_many_rooms", body
        d = await ws(http, base)
        await d.err("join", "too_many_rooms", token=tokens.issue(SECRET, "adhoc-2", "presenter", "b", "b"))
        assert len(srv["rooms"].rooms) == 3
        await c.ok("leave")  # the ad-hoc room goes with its last participant: room for one more
        assert (await create(http, base))[0] == 201


async def test_empty_rooms_are_freed_after_the_idle_timeout(tmp_path):
    """Issue 14 finding 7: an instant room nobody joined is freed room_idle_timeout seconds after it was
    made, one whose people left that long after the last left; a room with someone in it stays."""
    async with running(tmp_path, room_idle_timeout=0.6) as srv, aiohttp.ClientSession() as http:
        base = srv["base_url"]
        _, never = await create(http, base)
        _, used = await create(http, base)
        status, got = await join_token(http, base, used["id"], "Ann", "ann@example.test")
        assert status == 200, got
        c = await ws(http, base)
        await c.ok("join", token=got["token"])
        await asyncio.sleep(1.5)
        rooms = srv["rooms"].rooms
        assert never["id"] not in rooms and used["id"] in rooms  # someone is in it
        async with http.get(f"{base}/api/v1/rooms/{never['id']}") as r:
            assert r.status == 404
        await c.ok("leave")
        await asyncio.sleep(0.2)
        assert used["id"] in rooms  # not at once: people come back within the timeout
        await asyncio.sleep(1.3)
        assert used["id"] not in rooms
        # the token of a freed room makes no ad-hoc room of its ID
        d = await ws(http, base)
        await d.err("join", "ended", token=got["token"])
        assert used["id"] not in rooms


@pytest.mark.parametrize("api", [{"room_idle_timeout": 0.5}], indirect=True)
async def test_a_live_events_room_is_not_freed_while_empty(api):
    """Issue 14 finding 7: an event's room is governed by its event: empty but live, it stays; once the
    session ended it is freed like any other."""
    from signaling import keys

    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Live"})
    await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    rooms = api.app[keys.ROOMS].rooms
    assert ev["roomId"] in rooms
    await asyncio.sleep(1.5)
    assert ev["roomId"] in rooms and rooms[ev["roomId"]].settings.state == "live"
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    await asyncio.sleep(1.5)
    assert ev["roomId"] not in rooms


# ---------------------------------------------------------------- finding 8: people per room


async def test_a_full_room_refuses_more_people_than_its_capacity_can_hold(server):
    """Issue 14 finding 8: a room of capacity 1 seats one, keeps one more in its waiting room (R-ROOM-8),
    and refuses the next with room_full (409); its host still comes in."""
    base = server["base_url"]
    async with aiohttp.ClientSession() as http:
        _, room = await create(http, base, capacity=1)
        people, clients = [], []
        for i in range(2):
            _, got = await join_token(http, base, room["id"], f"P{i}", f"p{i}@example.test")
            clients.append(await ws(http, base))
            joined = await clients[-1].ok("join", token=got["token"])
            people.append(joined["participant"]["status"])
        assert people == ["joined", "waiting"]
        assert len(server["rooms"].rooms[room["id"]].participants) == 2
        _, got = await join_token(http, base, room["id"], "Late", "late@example.test")
        c = await ws(http, base)
        message = await c.err("join", "room_full", token=got["token"])
        assert "full" in message
        _, got = await join_token(http, base, room["id"], "Host", "h@example.test", hostKey=room["hostKey"])
        h = await ws(http, base)
        assert (await h.ok("join", token=got["token"]))["participant"]["role"] == "host"
        assert len(server["rooms"].rooms[room["id"]].participants) == 3


# ---------------------------------------------------------------- finding 13: removal holds for the person


async def test_a_removed_person_cannot_come_back_with_a_new_token(server):
    """Issue 14 finding 13: the host removes someone; another token for the same e-mail address (one they
    had asked for before, or a new one, whatever the address's case) is refused while the room lasts;
    someone else still comes in."""
    base = server["base_url"]
    async with aiohttp.ClientSession() as http:
        _, room = await create(http, base, type="meeting")
        _, got = await join_token(
            http, base, room["id"], "Host", "host@example.test", hostKey=room["hostKey"]
        )
        host = await ws(http, base)
        await host.ok("join", token=got["token"])
        _, got = await join_token(http, base, room["id"], "Mallory", "mallory@example.test")
        _, spare = await join_token(http, base, room["id"], "Mal", "MALLORY@example.test")
        mallory = await ws(http, base)
        pid = (await mallory.ok("join", token=got["token"]))["participant"]["id"]
        await host.ok("host", action="remove", participant=pid)
        await mallory.note("removed")
        c = await ws(http, base)
        await c.err("join", "removed", token=spare["token"])
        for email in ("mallory@example.test", "Mallory@Example.TEST"):
            status, again = await join_token(http, base, room["id"], "Mal", email)
            assert status == 403 and again["error"]["code"] == "removed", again
        _, other = await join_token(http, base, room["id"], "Bob", "bob@example.test")
        bob = await ws(http, base)
        await bob.ok("join", token=other["token"])


async def test_a_removed_invitee_stays_out_by_invitation_and_by_e_mail(api):
    """Issue 14 finding 13 in an event's room: the host removes an invitee; neither her invitation nor her
    e-mail address (the event is open: an e-mail is enough) gets her a token again, and a token she had
    asked for before is refused by the room, for the session's lifetime."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Talk"})
    invs = await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["ann@example.test"]}
    )
    invitation = invs["items"][0]["token"]
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    path = f"/api/v1/rooms/{ev['roomId']}/join"
    guest = api.client()
    mine = await call(guest, "POST", path, 200, json={"token": invitation, "name": "Ann"})
    spare = await call(guest, "POST", path, 200, json={"name": "Ann B", "email": "ann@example.test"})
    async with aiohttp.ClientSession() as session:
        host = await ws(session, api.base_url)
        await host.ok("join", token=started["hostToken"])
        ann = await ws(session, api.base_url)
        pid = (await ann.ok("join", token=mine["token"]))["participant"]["id"]
        await host.ok("host", action="remove", participant=pid)
        again = await ws(session, api.base_url)
        await again.err("join", "removed", token=spare["token"])
        for body in ({"token": invitation, "name": "Ann"}, {"name": "A.", "email": "ANN@example.test"}):
            async with guest.post(path, json=body) as r:
                assert r.status == 403 and (await r.json())["error"]["code"] == "removed", body
        other = await call(guest, "POST", path, 200, json={"name": "Bo", "email": "bo@example.test"})
        await (await ws(session, api.base_url)).ok("join", token=other["token"])


async def test_a_removed_api_token_holder_stays_out_under_the_same_subject(server):
    """Issue 14 finding 13: for tokens of the API (POST /api/v1/tokens) the removal holds for the token's
    subject (``identity``): a new token with the same identity is refused."""
    base = server["base_url"]
    async with aiohttp.ClientSession() as http:
        host = await ws(http, base)
        await host.ok("join", token=tokens.issue(SECRET, "api-room", "host", "h", "h"))

        async def issued(identity: str) -> str:
            async with http.post(
                f"{base}/api/v1/tokens",
                json={"room": "api-room", "role": "attendee", "name": "x", "identity": identity},
                headers={"Authorization": f"Bearer {KEY}"},
            ) as r:
                assert r.status == 201
                return str((await r.json())["token"])

        c = await ws(http, base)
        pid = (await c.ok("join", token=await issued("encoder-7")))["participant"]["id"]
        await host.ok("host", action="remove", participant=pid)
        again = await ws(http, base)
        await again.err("join", "removed", token=await issued("encoder-7"))
        await again.ok("join", token=await issued("encoder-8"))


# ---------------------------------------------------------------- finding 17: an event's room ID


async def test_no_adhoc_room_takes_an_events_room_id(api):
    """Issue 14 finding 17: a token of the API naming an event's room ID makes no ad-hoc room (409
    event_room), so the event never adopts a room someone else made: its room is the event's own."""
    from signaling import keys

    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Mine"})
    rooms = api.app[keys.ROOMS]
    assert ev["roomId"] not in rooms.rooms
    async with aiohttp.ClientSession() as session:
        got = await call(
            api.client(KEY), "POST", "/api/v1/tokens", 201, json={"room": ev["roomId"], "role": "host"}
        )
        c = await ws(session, api.base_url)
        message = await c.err("join", "event_room", token=got["token"])
        assert ev["roomId"] in message
        assert ev["roomId"] not in rooms.rooms
        # WHIP too
        offer = await make_offer(video=1, audio=1)
        async with session.post(
            f"{api.base_url}/whip/{ev['roomId']}",
            data=offer,
            headers={"Authorization": f"Bearer {got['token']}", "Content-Type": "application/sdp"},
        ) as r:
            assert r.status == 409 and (await r.json())["error"]["code"] == "event_room"
        assert ev["roomId"] not in rooms.rooms
        # the event's own join opens the event's room, with the event's rules
        await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
        room = rooms.rooms[ev["roomId"]]
        assert room.settings.event and not room.settings.adhoc and room.control is not None


@pytest.mark.parametrize("api", [{"room_idle_timeout": 0.3}], indirect=True)
async def test_an_event_token_reopens_the_events_room_never_an_adhoc_one(api):
    """Issue 14 findings 7, 17: an event's lobby nobody is in is freed; a token the event issued before opens
    the event's room again as the event says (never an ad-hoc room of its ID)."""
    from signaling import keys

    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Later"})
    got = await call(
        api.client(),
        "POST",
        f"/api/v1/rooms/{ev['roomId']}/join",
        200,
        json={"name": "A", "email": "a@x.test"},
    )
    rooms = api.app[keys.ROOMS]
    assert rooms.rooms[ev["roomId"]].settings.state == "lobby"
    await asyncio.sleep(1.0)
    assert ev["roomId"] not in rooms.rooms  # freed: nobody came into the lobby
    async with aiohttp.ClientSession() as session:
        c = await ws(session, api.base_url)
        joined = await c.ok("join", token=got["token"])
        assert joined["participant"]["status"] == "lobby"
        room = rooms.rooms[ev["roomId"]]
        assert room.settings.event and not room.settings.adhoc


# ---------------------------------------------------------------- a socket closed mid-answer


def _frame(text: bytes, opcode: int = 0x1) -> bytes:
    """One masked WebSocket frame, as a client sends it (RFC 6455 5.2)."""
    mask = os.urandom(4)
    n = len(text)
    size = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + struct.pack("!H", n)
    if n >= 65536:
        size = bytes([0x80 | 127]) + struct.pack("!Q", n)
    return bytes([0x80 | opcode]) + size + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text))


def test_a_socket_closed_while_the_server_answers_is_no_error(tmp_path):
    """A client that resets its WebSocket's connection while the server still answers its messages (text and
    binary frames) is logged at debug level at most: no traceback, no 'Task exception was never retrieved'
    in the server's log."""
    offer = asyncio.run(make_offer(video=1, audio=1))
    with serve(tmp_path, MEDIASERVER_SECRET=SECRET, MEDIASERVER_LOG_JSON="false") as (base, _p, log):
        port = int(base.rsplit(":", 1)[1])
        for n in range(12):
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(
                    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                assert b" 101 " in s.recv(4096)
                join = tokens.issue(SECRET, f"gone-{n}", "presenter", "p", f"p{n}")
                msgs = _frame(json.dumps({"id": 1, "method": "join", "params": {"token": join}}).encode())
                for i in range(20):
                    if n % 2:
                        msgs += _frame(b"abc", opcode=0x2)  # binary: refused with an error message
                    else:
                        body = {"id": 2 + i, "method": "publish", "params": {"sdp": offer}}
                        msgs += _frame(json.dumps(body).encode())
                s.sendall(msgs)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
        time.sleep(1.5)
        text = log.read_text()
    assert "gone-11" in text  # the server did take them in
    assert "Traceback" not in text and "never retrieved" not in text and " ERROR " not in text, text
