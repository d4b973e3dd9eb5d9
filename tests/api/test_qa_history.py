"""The Q&A list and the call to action's clicks kept with an event's session (issue 16, R-INT-2, R-INT-4,
R-STAT-2), on SQLite and PostgreSQL: what people do over the WebSocket in an event's room is written through
the room's journal; the questions come back through the API with their final state and votes, as JSON pages
and as CSV and XLSX downloads ("the list is exported with the chat"; formula-looking cells defused); each
person's click on a call to action is stored once and the sessions' history counts them; another account sees
nothing."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import openpyxl
import sqlalchemy as sa

from mediaserver.store.models import CtaClick, SessionQuestion
from signaling import keys
from tests.api.conftest import call, signup
from tests.api.test_chat_history import _download, _session_id
from tests.api.test_event_rooms import host_key, room_token, ws_room
from tests.api.test_permissions import _world
from tests.signaling.test_interaction import wait_event

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def test_a_sessions_questions_and_clicks_are_kept_exported_and_counted(api: Any) -> None:
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Asky"})
    rid = ev["roomId"]
    journal = api.app[keys.ROOMS].journal
    async with ws_room(api) as room:
        host, _h = await room.enter(
            await room_token(api, rid, "Olga", "olga@example.test", hostKey=host_key(ev))
        )
        await host.ok("host", action="start")
        ann, _a = await room.enter(await room_token(api, rid, "Ann", "ann@example.test"))
        bob, _b = await room.enter(await room_token(api, rid, "Bob", "bob@example.test"))
        # R-INT-2: the host opens Q&A; questions are asked, upvoted, answered, dismissed, one published
        await host.ok("qa.open")
        q1 = (await ann.ok("qa.ask", text="What about pricing?"))["id"]
        q2 = (await bob.ok("qa.ask", text='=HYPERLINK("http://evil.example","x")'))["id"]
        q3 = (await ann.ok("qa.ask", text="Off topic"))["id"]
        await bob.ok("qa.upvote", id=q1)
        await host.ok("qa.upvote", id=q1)
        await bob.ok("qa.upvote", id=q1)  # a second vote of the same person changes nothing
        await ann.ok("qa.upvote", id=q2)
        await host.ok("qa.answer", id=q1)
        await host.ok("qa.dismiss", id=q3)
        await host.ok("qa.publish", id=q2)
        await wait_event(ann, "questionPublished")
        await journal.flush()
        async with api.app[keys.DB].read() as s:  # before the close: no final state yet
            closed = list(await s.scalars(sa.select(SessionQuestion.closed_at)))
        assert closed == [None, None, None], closed
        await host.ok("qa.close")
        # R-INT-4: the call to action; Ann clicks twice (counted once), Bob once, the host never counts
        await host.ok("cta.show", text="Buy the course", button="Buy", url="https://shop.example/c")
        assert (await ann.ok("cta.click"))["counted"] is True
        assert (await ann.ok("cta.click"))["counted"] is False
        assert (await bob.ok("cta.click"))["counted"] is True
        assert (await host.ok("cta.click"))["counted"] is False
        await journal.flush()
    assert journal.failed == 0

    sid = await _session_id(http, "Asky")
    base = f"/api/v1/events/{ev['id']}/sessions/{sid}/questions"
    got = await call(http, "GET", base + "?limit=100", 200)
    assert got["total"] == 3
    by_id = {q["questionId"]: q for q in got["items"]}
    assert [q["questionId"] for q in got["items"]] == [q1, q2, q3]
    assert (by_id[q1]["state"], by_id[q1]["votes"], by_id[q1]["from"]["name"]) == ("answered", 2, "Ann")
    assert (by_id[q2]["state"], by_id[q2]["votes"], by_id[q2]["from"]["name"]) == ("open", 1, "Bob")
    assert (by_id[q3]["state"], by_id[q3]["votes"]) == ("dismissed", 0)
    assert by_id[q2]["publishedAt"] is not None and by_id[q1]["publishedAt"] is None
    assert all(q["closedAt"] is not None and q["private"] is False for q in got["items"])
    two = await call(http, "GET", base + "?limit=1&offset=1", 200)
    assert [q["questionId"] for q in two["items"]] == [q2] and two["total"] == 3

    # CSV parsed back: final states and votes, the formula defused
    rows = list(
        csv.reader(io.StringIO((await _download(http, base + ".csv", "text/csv")).decode("utf-8-sig")))
    )
    assert rows[0] == ["asked_at", "name", "role", "text", "state", "votes", "private", "published"]
    assert [r[1:7] for r in rows[1:]] == [
        ["Ann", "attendee", "What about pricing?", "answered", "2", ""],
        ["Bob", "attendee", '\'=HYPERLINK("http://evil.example","x")', "open", "1", ""],
        ["Ann", "attendee", "Off topic", "dismissed", "0", ""],
    ], rows
    assert rows[2][7].endswith("Z") and rows[1][7] == "" and all(r[0].endswith("Z") for r in rows[1:])

    # XLSX read back with openpyxl: the same rows, the formula a string cell
    wb = openpyxl.load_workbook(io.BytesIO(await _download(http, base + ".xlsx", XLSX)))
    sheet = wb["questions"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("asked_at", "name", "role", "text", "state", "votes", "private", "published")
    assert [v[1:6] for v in values[1:]] == [
        ("Ann", "attendee", "What about pricing?", "answered", 2),
        ("Bob", "attendee", '=HYPERLINK("http://evil.example","x")', "open", 1),
        ("Ann", "attendee", "Off topic", "dismissed", 0),
    ]
    assert sheet["D3"].data_type == "s"

    # the clicks: stored once per person; the sessions' history counts them (R-STAT-2)
    async with api.app[keys.DB].read() as s:
        clicks = list(
            await s.execute(
                sa.select(CtaClick.name, CtaClick.role, CtaClick.text, CtaClick.url, CtaClick.session_id)
            )
        )
    assert sorted(clicks) == [
        ("Ann", "attendee", "Buy the course", "https://shop.example/c", sid),
        ("Bob", "attendee", "Buy the course", "https://shop.example/c", sid),
    ], clicks
    [item] = [h for h in (await call(http, "GET", "/api/v1/history", 200))["items"] if h["sessionId"] == sid]
    assert item["ctaClicks"] == 2

    # another account: neither the event nor its session's questions exist for it
    other, _ = await signup(api)
    for suffix in ("", ".csv", ".xlsx"):
        assert (await call(other, "GET", base + suffix, 404))["error"]["code"] == "not_found"
    assert (await call(other, "GET", "/api/v1/history", 200))["items"] == []
    await call(api.client(), "GET", base, 401)


async def test_lobby_questions_and_clicks_join_the_session_that_starts(api: Any) -> None:
    """A question asked and a click made while the event waits in the lobby (no session yet) belong to the
    session that starts next, as the chat's lobby messages do; a record of an instant room is not kept."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Lobby"})
    journal = api.app[keys.ROOMS].journal
    now = int(time.time() * 1000)
    who = {"id": "p1", "name": "Ann", "role": "attendee"}
    q = {"id": "q1", "text": "early?", "from": who, "at": now, "state": "open", "votes": 0, "private": False}
    journal.record(ev["roomId"], "question", {**q, "event": "asked"})
    journal.record(ev["roomId"], "question", {**q, "votes": 3, "event": "closed"})
    click = {"cta": "c1", "text": "Go", "url": "https://x.example", "from": who, "person": "k", "at": now}
    journal.record(ev["roomId"], "ctaClick", click)
    journal.record("000000000", "ctaClick", click)  # no event has this room
    await journal.flush()
    await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    sid = await _session_id(http, "Lobby")
    got = await call(http, "GET", f"/api/v1/events/{ev['id']}/sessions/{sid}/questions", 200)
    assert [(x["text"], x["votes"]) for x in got["items"]] == [("early?", 3)]
    [item] = (await call(http, "GET", "/api/v1/history", 200))["items"]
    assert item["ctaClicks"] == 1
    async with api.app[keys.DB].read() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(CtaClick)) == 1
    assert journal.failed == 0


async def test_the_sessions_end_with_qa_open_writes_the_final_votes(api: Any) -> None:
    """The host ends the session with Q&A still open: each question's final state and votes are written then
    (votes alone are not written one by one)."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Ending"})
    rid = ev["roomId"]
    journal = api.app[keys.ROOMS].journal
    async with ws_room(api) as room:
        host, _h = await room.enter(
            await room_token(api, rid, "Olga", "olga@example.test", hostKey=host_key(ev))
        )
        await host.ok("host", action="start")
        ann, _a = await room.enter(await room_token(api, rid, "Ann", "ann@example.test"))
        await host.ok("qa.open")
        qid = (await ann.ok("qa.ask", text="Will there be a recording?"))["id"]
        await ann.ok("qa.upvote", id=qid)
        await host.ok("qa.upvote", id=qid)
        await journal.flush()
        async with api.app[keys.DB].read() as s:
            assert list(await s.execute(sa.select(SessionQuestion.votes, SessionQuestion.closed_at))) == [
                (0, None)
            ]
        await host.ok("host", action="end")
        await journal.flush()
    sid = await _session_id(http, "Ending")
    [q] = (await call(http, "GET", f"/api/v1/events/{ev['id']}/sessions/{sid}/questions", 200))["items"]
    assert (q["questionId"], q["state"], q["votes"]) == (qid, "open", 2) and q["closedAt"] is not None, q
    assert journal.failed == 0


async def test_who_reads_a_sessions_questions_is_who_sees_the_event(api: Any) -> None:
    """The Q&A list follows the event's own visibility (R-ACC-2, -3), as the chat does, role by role."""
    w = await _world(api)
    [live] = (await w.do("main", "GET", "/api/v1/history", 200))["items"]  # the world's live instant event
    ev, sid = {"id": live["eventId"], "roomId": live["roomId"]}, live["sessionId"]
    journal = api.app[keys.ROOMS].journal
    who = {"id": "p1", "name": "Ann", "role": "attendee"}
    q = {"id": "q1", "text": "hi?", "from": who, "at": time.time() * 1000, "state": "open", "votes": 0}
    journal.record(ev["roomId"], "question", {**q, "event": "asked"})
    await journal.flush()
    got = await w.do("main", "GET", f"/api/v1/events/{ev['id']}/sessions/{sid}/questions", 200)
    assert [x["text"] for x in got["items"]] == ["hi?"]
    seen = {}
    for role in ("main", "main_key", "additional", "additional_key", "sub", "sub_key", "login_as"):
        async with w.http.get(f"/api/v1/events/{ev['id']}", headers=w.headers[role]) as r:
            expected = r.status
        for suffix in ("", ".csv", ".xlsx"):
            path = f"/api/v1/events/{ev['id']}/sessions/{sid}/questions{suffix}"
            async with w.http.get(path, headers=w.headers[role]) as r:
                assert r.status == expected, (role, suffix, r.status, expected)
        seen[role] = expected
    assert seen["main"] == seen["main_key"] == 200 and seen["sub"] == 404, seen
