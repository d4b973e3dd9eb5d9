"""The whiteboard's drawing over time is kept with the session (issue 17 item 4: recordings keep what was
presented; R-INT-5): the room's board records what changed at most every second (the journal's kind
``board_step``), and a published recording's public track gives those steps with times from its start,
everything drawn before it started merged into its first step, so the watch page can rebuild the board at any
moment. Through the real WebSocket and the HTTP API, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
from typing import Any

from pycrdt import Array, Doc

from mediaserver.interaction.board import STEP_SECONDS
from mediaserver.store.models import LibraryFile, Recording
from signaling import keys
from tests.api.conftest import call, signup
from tests.api.test_event_rooms import ws_room
from tests.signaling.test_board import Board


async def _steps(anon: Any, token: str, n: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    for _ in range(100):  # the journal writes in batches
        async with anon.get(f"/r/{token}/track") as r:
            assert r.status == 200
            got = (await r.json())["board"]
        if len(got) >= n:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(got)


def board_at(steps: list[dict[str, Any]], t: float) -> list[str]:
    """The shape ids of the board's first page once the steps up to ``t`` are applied (as the page does)."""
    doc: Doc[Any] = Doc()
    for s in steps:
        if s["t"] <= t:
            doc.apply_update(base64.b64decode(s["update"]))
    pages = doc.get("pages", type=Array)
    return [shape["id"] for shape in pages[0].to_py()] if len(pages) else []


async def test_a_recordings_track_rebuilds_the_board_at_each_moment(api):
    http, me = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Drawn"})
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    [session] = (await call(http, "GET", "/api/v1/history", 200))["items"]
    async with ws_room(api) as room:
        host, joined = await room.enter(started["hostToken"])
        mine = Board(joined)
        first = mine.draw(points=(10, 10, 40, 40))
        await host.ok("board.update", update=first)
        await asyncio.sleep(STEP_SECONDS + 0.3)  # the first step is recorded
        mid = dt.datetime.now(dt.timezone.utc)
        await asyncio.sleep(0.2)
        await host.ok("board.update", update=mine.draw(points=(50, 50, 90, 90)))
        await asyncio.sleep(STEP_SECONDS + 0.3)
        await host.ok("board.update", update=mine.draw(points=(100, 100, 140, 140)))
    ids = [s["id"] for s in mine.shapes()]
    # a recording started between the first and the second stroke, published
    async with api.app[keys.DB].tx() as s:
        webm = LibraryFile(
            account_id=me["account"]["id"], name="drawn.webm", source="recording", storage_key="rec-drawn"
        )
        s.add(webm)
        await s.flush()
        rec = Recording(
            file_id=webm.id,
            account_id=me["account"]["id"],
            event_id=ev["id"],
            session_id=session["sessionId"],
            name="Drawn recording",
            status="ready",
            started_at=mid,
            public_token="t" * 24,
        )
        s.add(rec)
    anon = api.client()
    steps = await _steps(anon, "t" * 24, 3)
    assert steps[0]["t"] == 0 and 0 < steps[1]["t"] < steps[2]["t"], steps
    assert board_at(steps, 0) == ids[:1]  # drawn before the recording: its first moment has it
    assert board_at(steps, steps[1]["t"]) == ids[:2]
    assert board_at(steps, steps[2]["t"]) == ids
    assert steps[2]["t"] - steps[1]["t"] >= STEP_SECONDS - 0.05  # at most one step a second
