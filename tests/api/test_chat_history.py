"""The chat kept with an event's session (issue 16, R-INT-1), on SQLite and PostgreSQL: messages sent over the
WebSocket by the people in an event's room are written through the room's journal and come back through the
API as JSON pages and as CSV and XLSX downloads (private ones marked, deleted ones marked, formula-looking
cells defused); the chat goes on after the host exits (R-ROOM-13); another account sees nothing; 5,000
messages are written in one transaction quickly."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Any

import aiohttp
import openpyxl
import pytest
import sqlalchemy as sa

from mediaserver.events import chat_history
from mediaserver.store.models import ChatMessage
from signaling import keys
from tests.api.conftest import call, signup
from tests.api.test_event_rooms import host_key, room_token, ws_room
from tests.api.test_permissions import _world
from tests.signaling.test_interaction import drain, events, wait_event

# timing bars (5,000 messages written, 10,000 exported, within seconds): CI runs this file alone
pytestmark = pytest.mark.alone


async def _download(http: aiohttp.ClientSession, path: str, content_type: str) -> bytes:
    async with http.get(path) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == content_type
        assert "attachment" in r.headers["Content-Disposition"]
        return await r.read()


async def _session_id(http: aiohttp.ClientSession, name: str) -> int:
    history = (await call(http, "GET", "/api/v1/history", 200))["items"]
    return int(next(h["sessionId"] for h in history if h["name"] == name))


async def test_a_sessions_chat_is_kept_listed_and_exported(api: Any) -> None:
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Chatty"})
    rid = ev["roomId"]
    journal = api.app[keys.ROOMS].journal
    async with ws_room(api) as room:
        # the host chats in the lobby, before the session: the session's start adopts the message
        host, joined = await room.enter(
            await room_token(api, rid, "Olga", "olga@example.test", hostKey=host_key(ev))
        )
        assert joined["room"]["state"] == "lobby"
        await host.ok("chat.send", text="Welcome, we start soon")
        await journal.flush()
        await host.ok("host", action="start")
        ann, a = await room.enter(await room_token(api, rid, "Ann", "ann@example.test"))
        bob, _b = await room.enter(await room_token(api, rid, "Bob", "bob@example.test"))
        ann_id = a["participant"]["id"]
        await ann.ok("chat.send", text="Hello everyone")
        await ann.ok("chat.send", text='=HYPERLINK("http://evil.example","click")', to="staff")
        await host.ok("chat.send", text="-2+3 is private for Ann", to=ann_id)
        rude = await bob.ok("chat.send", text="@everyone buy my stuff")
        await host.ok("chat.delete", id=rude["id"])
        # R-ROOM-13: the host exits (leaves); the room stays open and the others go on chatting
        await host.ok("leave")
        await ann.ok("chat.send", text="Still here after the host left")
        got = await wait_event(bob, "chat", lambda e: e["text"].startswith("Still here"))
        assert got["from"]["id"] == ann_id
        await bob.ok("chat.send", text="Me too")
        await wait_event(ann, "chat", lambda e: e["text"] == "Me too")
        await drain(bob)
        assert "=HYPERLINK" not in str(events(bob, "chat"))  # bob never saw Ann's private message
        await journal.flush()

    sid = await _session_id(http, "Chatty")
    base = f"/api/v1/events/{ev['id']}/sessions/{sid}/chat"
    page = await call(http, "GET", base + "?limit=100", 200)
    texts = [m["text"] for m in page["items"]]
    assert texts == [
        "Welcome, we start soon",
        "Hello everyone",
        '=HYPERLINK("http://evil.example","click")',
        "-2+3 is private for Ann",
        "@everyone buy my stuff",
        "Still here after the host left",
        "Me too",
    ], texts
    assert page["total"] == 7
    by_text = {m["text"]: m for m in page["items"]}
    question = by_text['=HYPERLINK("http://evil.example","click")']
    assert question["private"] is True and question["to"] == "staff" and question["from"]["name"] == "Ann"
    reply = by_text["-2+3 is private for Ann"]
    assert reply["private"] is True and reply["to"] == "Ann" and reply["from"]["role"] == "host"
    assert by_text["@everyone buy my stuff"]["deletedAt"] is not None
    assert by_text["Hello everyone"]["deletedAt"] is None and by_text["Hello everyone"]["private"] is False
    two = await call(http, "GET", base + "?limit=2&offset=1", 200)
    assert [m["text"] for m in two["items"]] == texts[1:3] and two["total"] == 7
    kept = await call(http, "GET", base + "?deleted=false&limit=100", 200)
    assert kept["total"] == 6 and "@everyone buy my stuff" not in [m["text"] for m in kept["items"]]
    assert (await call(http, "GET", base + "?deleted=maybe", 400))["error"]["code"] == "bad_request"

    # CSV: parsed back; private and deleted marked; cells a spreadsheet would run are defused
    raw = await _download(http, base + ".csv", "text/csv")
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["sent_at", "name", "role", "to", "private", "deleted", "text"]
    body = {r[6]: r for r in rows[1:]}
    assert len(rows) == 8
    assert '\'=HYPERLINK("http://evil.example","click")' in body
    assert body['\'=HYPERLINK("http://evil.example","click")'][3:5] == ["staff", "yes"]
    assert body["'-2+3 is private for Ann"][1:5] == ["Olga", "host", "Ann", "yes"]
    assert body["'@everyone buy my stuff"][5] == "yes"
    assert body["Hello everyone"][1:6] == ["Ann", "attendee", "", "", ""]
    assert all(r[0].endswith("Z") for r in rows[1:])

    # XLSX: read back with openpyxl; the same rows, texts as text (never formulas)
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    wb = openpyxl.load_workbook(io.BytesIO(await _download(http, base + ".xlsx", xlsx)))
    sheet = wb["chat"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0][1:] == ("name", "role", "to", "private", "deleted", "text")
    assert [v[6] for v in values[1:]] == texts
    formula = next(c for c in sheet["G"] if str(c.value).startswith("=HYPERLINK"))
    assert formula.data_type == "s"
    assert values[4][1:6] == ("Olga", "host", "Ann", "yes", None)
    no_deleted = openpyxl.load_workbook(io.BytesIO(await _download(http, base + ".xlsx?deleted=false", xlsx)))
    assert no_deleted["chat"].max_row == 7

    # another account: neither the event nor its session's chat exists for it
    other, _ = await signup(api)
    for suffix in ("", ".csv", ".xlsx"):
        err = await call(other, "GET", base + suffix, 404)
        assert err["error"]["code"] == "not_found"
    # a session of another event of the same account is not this event's
    ev2 = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Other"})
    await call(http, "GET", f"/api/v1/events/{ev2['id']}/sessions/{sid}/chat", 404)
    await call(api.client(), "GET", base, 401)


async def test_instant_rooms_chat_is_not_kept(api: Any) -> None:
    """Only an event's room keeps its chat: an instant room (POST /api/v1/rooms) belongs to no event
    (docs/api.md says so); its chat works and is not written."""
    http = api.client()
    async with http.post("/api/v1/rooms", json={"type": "webinar", "name": "Quick"}) as r:
        assert r.status == 201, await r.text()
        quick = await r.json()
    async with ws_room(api) as room:
        token = await room_token(api, quick["id"], "Hanna", "hanna@example.test", hostKey=quick["hostKey"])
        host, _ = await room.enter(token)
        await host.ok("chat.send", text="not kept")
        assert (await wait_event(host, "chat"))["text"] == "not kept"
    journal = api.app[keys.ROOMS].journal
    await journal.flush()
    assert journal.failed == 0
    async with api.app[keys.DB].read() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(ChatMessage)) == 0


async def test_5000_messages_are_written_in_one_transaction_quickly(api: Any) -> None:
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Busy"})
    await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    now = int(time.time() * 1000)
    batch = [
        {
            "id": f"m{i}",
            "from": {"id": f"p{i % 500}", "name": f"Person {i % 500}", "role": "attendee"},
            "text": f"message number {i} " + "x" * 80,
            "at": now + i,
            "private": i % 10 == 0,
            **({"to": "staff"} if i % 10 == 0 else {}),
        }
        for i in range(5000)
    ]
    db = api.app[keys.DB]
    t0 = time.perf_counter()
    async with db.tx() as s:  # one journal batch's transaction
        await chat_history.write_messages(s, ev["roomId"], batch)
    one_tx = time.perf_counter() - t0
    # the same through the journal itself (batches of journal.BATCH, each one transaction)
    journal = api.app[keys.ROOMS].journal
    t0 = time.perf_counter()
    for item in batch:
        journal.record(ev["roomId"], "chat", {**item, "id": "j" + item["id"]})
    await journal.flush()
    through_journal = time.perf_counter() - t0
    print(
        f"\n{db.url.get_backend_name()}: 5,000 messages in one transaction {one_tx * 1000:.0f} ms; "
        f"through the journal {through_journal * 1000:.0f} ms"
    )
    assert one_tx < 5 and through_journal < 10, (one_tx, through_journal)
    assert journal.failed == 0 and journal.dropped == 0
    sid = await _session_id(http, "Busy")
    page = await call(http, "GET", f"/api/v1/events/{ev['id']}/sessions/{sid}/chat?limit=1", 200)
    assert page["total"] == 10000
    # the exports of those 10,000 messages, timed (made in a thread: the event loop stays free)
    took = {}
    for ext in ("csv", "xlsx"):
        t0 = time.perf_counter()
        async with http.get(f"/api/v1/events/{ev['id']}/sessions/{sid}/chat.{ext}") as r:
            assert r.status == 200
            size = len(await r.read())
        took[ext] = (time.perf_counter() - t0, size)
    print(
        "exports of 10,000 messages: "
        + ", ".join(f"{k} {t * 1000:.0f} ms {n // 1024} KiB" for k, (t, n) in took.items())
    )
    assert all(t < 20 for t, _ in took.values()), took


async def test_who_reads_a_sessions_chat_is_who_sees_the_event(api: Any) -> None:
    """The chat follows the event's own visibility (R-ACC-2, -3), role by role: the main account (session and
    API key), an additional user, a sub-account and the main account acting as it."""
    w = await _world(api)
    [live] = (await w.do("main", "GET", "/api/v1/history", 200))["items"]  # the world's live instant event
    ev, sid = {"id": live["eventId"], "roomId": live["roomId"]}, live["sessionId"]
    journal = api.app[keys.ROOMS].journal
    sender = {"id": "p1", "name": "Ann", "role": "attendee"}
    journal.record(ev["roomId"], "chat", {"id": "m1", "from": sender, "text": "hi", "at": time.time() * 1000})
    await journal.flush()
    got = await w.do("main", "GET", f"/api/v1/events/{ev['id']}/sessions/{sid}/chat", 200)
    assert [m["text"] for m in got["items"]] == ["hi"]
    seen = {}
    for role in ("main", "main_key", "additional", "additional_key", "sub", "sub_key", "login_as"):
        async with w.http.get(f"/api/v1/events/{ev['id']}", headers=w.headers[role]) as r:
            expected = r.status
        for suffix in ("", ".csv", ".xlsx"):
            path = f"/api/v1/events/{ev['id']}/sessions/{sid}/chat{suffix}"
            async with w.http.get(path, headers=w.headers[role]) as r:
                assert r.status == expected, (role, suffix, r.status, expected)
        seen[role] = expected
    assert seen["main"] == seen["main_key"] == 200 and seen["sub"] == 404, seen


async def test_a_lobby_message_written_after_the_start_belongs_to_that_session(api: Any) -> None:
    """The journal writes a few tenths of a second late: a message sent in the lobby and written after the
    start has passed (its adoption of lobby messages done) still belongs to the session that started; one
    sent during a session that has ended since belongs to that session, and one sent after the last session
    to none yet (the next start adopts it)."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Late"})
    await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    before_second = int(time.time() * 1000)
    await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    after_both = int(time.time() * 1000) + 1
    second, first = (await call(http, "GET", "/api/v1/history", 200))["items"]
    during_first = int(dt.datetime.fromisoformat(first["startedAt"]).timestamp() * 1000) + 1
    journal = api.app[keys.ROOMS].journal
    sender = {"id": "p1", "name": "Ann", "role": "attendee"}
    for text, at in (("during the first", during_first), ("lobby", before_second), ("after", after_both)):
        journal.record(ev["roomId"], "chat", {"id": text, "from": sender, "text": text, "at": at})
    await journal.flush()
    async with api.app[keys.DB].read() as s:
        rows = dict(list(await s.execute(sa.select(ChatMessage.text, ChatMessage.session_id))))
    assert rows == {"during the first": first["sessionId"], "lobby": second["sessionId"], "after": None}, rows
