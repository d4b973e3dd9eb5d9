"""An event's room and its event are one thing, on SQLite and PostgreSQL: the host's Start and End buttons
in the room (the `start` and `end` host actions over the WebSocket, as the room page sends them) go through
the event's life cycle like the API's start and end: one live event per account (R-ROOM-5), the session in
the history and the event's kind-specific fate (R-ROOM-4, R-STAT-2), the webhooks, the thank-you e-mails
(R-STAT-3). The room page shows a refusal's reason. The dial-in PIN of the invitations is the room's own
and not derived from its ID (R-ROOM-10, R-INT-6)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from signaling import keys
from tests.api.conftest import call, hook_receiver, loopback, signup, text_of
from tests.signaling.client import Client

UTC = dt.timezone.utc


# ---------------------------------------------------------------- helpers (the room page's ways in)


def host_key(ev: dict[str, Any]) -> str:
    return ev["hostUrl"].split("host=")[1]


async def room_token(api: Any, room_id: str, name: str, email: str, **extra: Any) -> str:
    """The room page's join by room ID (POST /api/v1/rooms/{id}/join): the event's access rules, then a join
    token; ``hostKey`` / ``presenterKey`` as the host's and presenters' links carry them."""
    got = await call(
        api.client(),
        "POST",
        f"/api/v1/rooms/{room_id}/join",
        200,
        json={"name": name, "email": email, **extra},
    )
    return got["token"]


class Room:
    """WebSocket clients of one test, all closed at the end."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.stack = contextlib.AsyncExitStack()

    async def connect(self) -> Client:
        http = await self.stack.enter_async_context(aiohttp.ClientSession())
        ws = await self.stack.enter_async_context(
            http.ws_connect(self.api.base_url.replace("http", "ws") + "/ws")
        )
        return Client(ws)

    async def enter(self, token: str) -> tuple[Client, dict[str, Any]]:
        """Connect and join with a token: the client and the join's result."""
        c = await self.connect()
        return c, await c.ok("join", token=token)


@contextlib.asynccontextmanager
async def ws_room(api: Any) -> AsyncIterator[Room]:
    room = Room(api)
    async with room.stack:
        yield room


async def event(http: aiohttp.ClientSession, eid: int) -> dict[str, Any]:
    return await call(http, "GET", f"/api/v1/events/{eid}", 200)


async def history(http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    return (await call(http, "GET", "/api/v1/history", 200))["items"]


class Hooks:
    def __init__(self) -> None:
        self.got: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append(json.loads(await request.read()))
        return web.Response(text="ok")

    async def wait(self, type_: str, name: str, timeout: float = 15) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for h in self.got:
                if h["type"] == type_ and h["data"]["event"]["name"] == name:
                    return h
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {type_} webhook for {name!r}: {[h['type'] for h in self.got]}")

    def of(self, type_: str, name: str) -> list[dict[str, Any]]:
        return [h for h in self.got if h["type"] == type_ and h["data"]["event"]["name"] == name]


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    h = Hooks()
    async with hook_receiver(h.handle) as h.url:  # type: ignore[attr-defined]
        yield h


# ---------------------------------------------------------------- start and end in the room (R-ROOM-4, -5)


@loopback
async def test_in_room_start_obeys_one_live_event_and_runs_the_events_life_cycle(api, hooks):
    http, _ = await signup(api)
    await call(
        http,
        "POST",
        "/api/v1/webhooks",
        201,
        json={"url": hooks.url, "events": ["event.started", "event.ended"]},
    )
    a = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "A"})
    starts = dt.datetime.now(UTC) + dt.timedelta(hours=1)
    b = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "scheduled", "name": "B", "startsAt": starts.isoformat()},
    )
    # Gina is invited: the thank-you mail goes to invited addresses only (issue 14 finding 9)
    await call(
        http, "POST", f"/api/v1/events/{b['id']}/invitations", 201, json={"emails": ["gina@example.test"]}
    )
    [invitation] = await api.mail.wait("gina@example.test")
    api.mail.messages.remove(invitation)
    await call(http, "POST", f"/api/v1/events/{a['id']}/start", 200)
    async with ws_room(api) as room:
        host, joined = await room.enter(
            await room_token(api, b["roomId"], "Olga", "olga@example.test", hostKey=host_key(b))
        )
        assert joined["participant"]["role"] == "host" and joined["room"]["state"] == "lobby"
        guest, lobby = await room.enter(await room_token(api, b["roomId"], "Gina", "gina@example.test"))
        assert lobby["participant"]["status"] == "lobby"

        # A is live: B's Start button is refused with the reason, and nothing of B moved
        why = await host.err("host", "live_event_running", action="start")
        assert "'A'" in why and "parallel" in why, why
        assert api.app[keys.ROOMS].find(b["roomId"]).settings.state == "lobby"
        assert (await event(http, b["id"]))["status"] == "planned"
        assert [h["name"] for h in await history(http)] == ["A"]
        assert not hooks.of("event.started", "B")

        # A ends: now B's Start button starts the event itself
        await call(http, "POST", f"/api/v1/events/{a['id']}/end", 200)
        result = await host.ok("host", action="start")
        assert result["event"]["status"] == "live" and result["event"]["roomId"] == b["roomId"]
        assert (await host.note("roomUpdated"))["params"]["room"]["state"] == "live"
        await guest.note("admitted")  # the lobby comes in (R-ROOM-8)
        assert (await event(http, b["id"]))["status"] == "live"
        sessions = await history(http)
        assert [h["name"] for h in sessions] == ["B", "A"] and sessions[0]["endedAt"] is None
        assert sessions[0]["sessionId"] == result["session"]
        started = await hooks.wait("event.started", "B")
        assert started["data"]["session"] == result["session"]
        # the API agrees: B is the account's live event, A cannot start beside it
        err = await call(http, "POST", f"/api/v1/events/{a['id']}/start", 409)
        assert err["error"]["code"] == "live_event_running"
        assert await host.err("host", "conflict", action="start")  # already live

        # the room's End button ends the event: history, webhook, thank-you e-mail
        await host.ok("host", action="end")
        assert (await guest.note("ended"))["params"]["by"] == joined["participant"]["id"]
    ended = await event(http, b["id"])
    assert ended["status"] == "done"  # a scheduled event goes to the history (R-ROOM-4)
    [session] = [h for h in await history(http) if h["name"] == "B"]
    assert session["endedAt"] is not None and session["participants"] == 2
    await hooks.wait("event.ended", "B")
    [thanks] = await api.mail.wait("gina@example.test")
    assert "B" in thanks["Subject"] or "B" in text_of(thanks)
    # after B's day the clock keeps it: it ran (before the fix an in-room start left ran unset and it was
    # deleted)
    await api.app[keys.DISPATCHER].sweep(starts + dt.timedelta(days=3))
    assert [h["name"] for h in await history(http)].count("B") == 1
    assert (await event(http, b["id"]))["status"] == "done"


async def test_in_room_end_of_a_permanent_event_lets_the_next_start_from_its_room(api):
    """R-ROOM-4: a permanent event waits for its next session after the room's End; the account's next
    event may start at once from its own room (R-ROOM-5: events follow each other)."""
    http, _ = await signup(api)
    a = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "A"})
    b = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "B"})
    started = await call(http, "POST", f"/api/v1/events/{a['id']}/start", 200)
    async with ws_room(api) as room:
        host_a, _ = await room.enter(started["hostToken"])
        host_b, _ = await room.enter(
            await room_token(api, b["roomId"], "Olga", "olga@example.test", hostKey=host_key(b))
        )
        await host_b.err("host", "live_event_running", action="start")
        await host_a.ok("host", action="end")
        # no waiting for a clock: A's session is closed by the End itself
        assert (await event(http, a["id"]))["status"] == "planned"
        assert all(h["endedAt"] is not None for h in await history(http))
        await host_b.ok("host", action="start")
        assert (await event(http, b["id"]))["status"] == "live"
        # the API's start of A is refused now, and the room of A (a new session) cannot start either
        await call(http, "POST", f"/api/v1/events/{a['id']}/start", 409)
        host_a2, _ = await room.enter(
            await room_token(api, a["roomId"], "Olga", "olga@example.test", hostKey=host_key(a))
        )
        await host_a2.err("host", "live_event_running", action="start")
    assert [h["name"] for h in await history(http)] == ["B", "A"]


# ---------------------------------------------------------------- the room page shows the refusal


def _page_refusal(base: str, room_id: str, key: str) -> tuple[str, dict[str, Any]]:
    """Headless Chromium: the host opens B's room with the host link, joins, presses Start; returns the
    toast's text and the page's state."""
    from tests.e2e import browser

    with browser.chromium() as d:
        d.get(f"{base}/room/{room_id}?host={key}")
        state = "return window.roomState ? JSON.parse(JSON.stringify(window.roomState)) : {};"
        assert browser.poll(lambda: d.execute_script(state).get("event"), bool, 15, 0.2), browser.console(d)
        for css, value in (("#join-name", "Olga"), ("#join-email", "olga@example.test")):
            d.execute_script(
                "const e = document.querySelector(arguments[0]); e.value = arguments[1];", css, value
            )
        d.execute_script("document.querySelector('#join-submit').click();")
        st = browser.poll(
            lambda: d.execute_script(state),
            lambda s: s.get("screen") == "room" and s.get("role") == "host",
            20,
            0.2,
        )
        assert st.get("screen") == "room", (st, browser.console(d))
        d.execute_script("document.querySelector('#btn-host').click();")
        assert not d.execute_script("return document.querySelector('#host-start-box').hidden;")
        d.execute_script("document.querySelector('#host-start').click();")
        toast = (
            "const t = document.querySelector('#toast'); "
            "return t.hidden ? '' : t.className + '|' + t.textContent;"
        )
        shown = browser.poll(lambda: d.execute_script(toast), bool, 10, 0.1)
        return shown, d.execute_script(state)


@pytest.mark.timeout(120)
async def test_the_room_page_shows_why_start_is_refused(api):
    from tests.e2e import browser

    if browser.missing():
        pytest.skip(f"needs headless Chromium: {browser.missing()}")
    http, _ = await signup(api)
    a = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Morning talk"})
    b = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "B"})
    await call(http, "POST", f"/api/v1/events/{a['id']}/start", 200)
    shown, st = await asyncio.to_thread(_page_refusal, api.base_url, b["roomId"], host_key(b))
    kind, _, message = shown.partition("|")
    assert "error" in kind and "'Morning talk'" in message and "parallel-sessions add-on" in message, shown
    assert not message.startswith("Something went wrong"), shown  # the reason itself, not a generic failure
    assert st["room"]["state"] == "lobby"
    assert (await event(http, b["id"]))["status"] == "planned"


# ---------------------------------------------------------------- the dial-in PIN (R-ROOM-10, R-INT-6)


def _pin_of(mail_text: str) -> str:
    m = re.search(r"\(PIN (\d{6})\)", mail_text)
    assert m, mail_text
    return m.group(1)


async def test_invitations_carry_the_rooms_own_pin_which_is_not_derived_from_the_room_id(api):
    http, _ = await signup(api)
    pins = set()
    for n in range(3):
        ev = await call(
            http,
            "POST",
            "/api/v1/events",
            201,
            json={"kind": "permanent", "name": f"Dial {n}", "dialIn": True},
        )
        who = f"caller{n}@example.test"
        await call(http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": [who]})
        [msg] = await api.mail.wait(who)
        pin = _pin_of(text_of(msg))
        assert pin != f"{int(ev['roomId']) % 1_000_000:06d}" and pin not in ev["roomId"], (pin, ev["roomId"])
        pins.add(pin)
        # the room reports the same PIN to the people let in, before the start and in every session
        async with ws_room(api) as room:
            _, joined = await room.enter(await room_token(api, ev["roomId"], "Guest", who))
            assert joined["room"]["pin"] == pin
        for _ in range(2):
            started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
            async with ws_room(api) as room:
                _, joined = await room.enter(started["hostToken"])
                assert joined["room"]["pin"] == pin
            await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
        # a re-sent invitation carries the same PIN
        await call(http, "POST", f"/api/v1/events/{ev['id']}/invitations/resend", 200, json={})
        msgs = [m for m in await api.mail.wait(who, 3) if m["Subject"].startswith("Invitation")]  # and thanks
        assert len(msgs) == 2 and _pin_of(text_of(msgs[-1])) == pin
        # and anyone who only knows the room ID does not get it from the room's public info
        info = await call(api.client(), "GET", f"/api/v1/rooms/{ev['roomId']}", 200)
        assert "pin" not in info and pin not in json.dumps(info)
    assert len(pins) == 3
