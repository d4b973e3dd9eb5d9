"""What was on the stage, and when, is kept with the session (issue 17 item 4: recordings keep what was
presented): each change of the document, the shared video and the board's place is one row of the session's
track (through the room's journal); the track is read through the API for the session and for a recording's
span (times from its start, the state in force at its start first). Through the real WebSocket and the
HTTP API."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest

from mediaserver.store.models import Recording
from signaling import keys
from tests.api.conftest import api, call, signup, smtp  # noqa: F401  (the real server and its fixtures)
from tests.api.test_event_rooms import ws_room
from tests.signaling.test_presentation import PDF, room_upload, show_when_ready


@pytest.fixture
async def database_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/control.db"


async def _track(http: Any, path: str, n: int) -> list[dict[str, Any]]:
    for _ in range(100):  # the journal writes in batches
        got = (await call(http, "GET", path, 200))["items"]
        if len(got) >= n:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(got)


async def test_the_sessions_stage_track_and_a_recordings(api):  # noqa: F811
    http, me = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Track"})
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    deck = await room_upload(api, started["hostToken"], ev["roomId"], "deck.pdf", PDF)
    [session] = (await call(http, "GET", "/api/v1/history", 200))["items"]
    path = f"/api/v1/events/{ev['id']}/sessions/{session['sessionId']}/stage"
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        await show_when_ready(host, deck)
        await host.ok("doc.page", page=2)
        await host.err("doc.page", "bad_request", page=0)  # refused: nothing recorded
        await host.ok("doc.page", page=2)  # no change: nothing recorded
        mid = dt.datetime.now(dt.timezone.utc)
        await asyncio.sleep(0.05)
        await host.ok("player.load", youtube="dQw4w9WgXcQ", position=3)
        await host.ok("board.show", shown=True)
    track = await _track(http, path, 4)
    stages = [c["stage"] for c in track]
    assert [(s["doc"] or {}).get("page") for s in stages] == [1, 2, None, None]
    assert stages[0]["doc"]["file"]["name"] == "deck.pdf" and stages[0]["player"]["source"] is None
    assert stages[2]["player"]["source"] == {"kind": "youtube", "id": "dQw4w9WgXcQ"}
    assert stages[2]["player"]["playing"] and stages[2]["player"]["position"] == 3
    assert "url" not in stages[2]["player"]["source"]  # no signed URL is kept
    assert stages[3]["board"] == {"shown": True, "page": 0} and stages[3]["player"]["source"] is None
    assert [c["t"] for c in track] == sorted(c["t"] for c in track) and track[0]["t"] >= 0

    # a recording started mid-way: its track starts with the stage then in force, at t 0
    async with api.app[keys.DB].tx() as s:
        rec = Recording(
            account_id=me["account"]["id"],
            event_id=ev["id"],
            session_id=session["sessionId"],
            name="Track recording",
            status="ready",
            started_at=mid,
        )
        s.add(rec)
        await s.flush()
        rec_id = rec.id
    got = (await call(http, "GET", f"/api/v1/recordings/{rec_id}/stage", 200))["items"]
    assert got[0]["t"] == 0 and got[0]["stage"]["doc"]["page"] == 2
    assert [c["stage"]["board"]["shown"] for c in got] == [False, False, True]
    assert 0 < got[1]["t"] <= got[2]["t"]  # (the two may fall in the same millisecond)
    other, _ = await signup(api, "other@example.test")
    await call(other, "GET", f"/api/v1/recordings/{rec_id}/stage", 404)
    await call(other, "GET", path, 404)
