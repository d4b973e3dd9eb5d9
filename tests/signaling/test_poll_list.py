"""``poll.list`` (R-INT-3, issue 16 item 9): the room page's Polls tab lists the event's saved polls and tests
for the host and presenters, whose room link is no API key: only this event's polls (id, name, kind, how many
questions), by id; attendees are refused; a room without an event has none (409 ``no_event``). Real server
and WebSocket; the event and its polls through the HTTP API (SQLite)."""

from __future__ import annotations

from typing import Any

import pytest

from mediaserver.rtc import tokens
from tests.api.conftest import api, call, signup, smtp  # noqa: F401  (the real server and its fixtures)
from tests.api.test_event_rooms import room_token, ws_room
from tests.api.test_polls import TEST, poll_body
from tests.conftest import SECRET


@pytest.fixture
async def database_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/control.db"


async def test_the_staff_list_their_events_polls_attendees_cannot(api):  # noqa: F811
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Class"})
    quiz = await call(http, "POST", f"/api/v1/events/{ev['id']}/polls", 201, json=TEST)
    mood = await call(http, "POST", f"/api/v1/events/{ev['id']}/polls", 201, json=poll_body())
    other = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Other"})
    await call(http, "POST", f"/api/v1/events/{other['id']}/polls", 201, json=poll_body(name="Elsewhere"))
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        ann, _ = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        assert await host.ok("poll.list") == {
            "polls": [
                {"id": quiz["id"], "name": "Quiz", "kind": "test", "questions": 3},
                {"id": mood["id"], "name": "Mood", "kind": "poll", "questions": 1},
            ]
        }
        assert "host and presenters" in await ann.err("poll.list", "forbidden")
        # a room without an event (ad hoc) has no polls to list
        adhoc = tokens.issue(SECRET, "adhoc-poll-room", "host", "Hal", "hal")
        hal, _ = await room.enter(adhoc)
        assert "this room has none" in await hal.err("poll.list", "no_event")
