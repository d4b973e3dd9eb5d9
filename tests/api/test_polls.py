"""Polls and tests of events through the real HTTP API and the room's WebSocket, on SQLite and PostgreSQL
(R-INT-3, R-STAT-1, issue 16): saved with precise validation errors, images from the file library, visible
only to those who manage the event, launched and answered live, results and answers per attendee stored
through the journal, CSV and XLSX exports, and the poll.closed webhook."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import time
from typing import Any

import openpyxl
from aiohttp import web

from signaling import keys
from tests.api.conftest import call, hook_receiver, loopback, signup
from tests.api.test_event_rooms import room_token, ws_room
from tests.api.test_on_demand import upload

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)

TEST = {
    "name": "Quiz",
    "kind": "test",
    "questions": [
        {
            "text": "2 + 2?",
            "kind": "single",
            "points": 2,
            "options": [{"text": "3"}, {"text": "4", "correct": True}],
        },
        {
            "text": "Primes?",
            "kind": "multiple",
            "options": [{"text": "2", "correct": True}, {"text": "4"}, {"text": "5", "correct": True}],
        },
        {"text": "Capital of France?", "kind": "short", "accepted": ["Paris"]},
    ],
}


def poll_body(**over: Any) -> dict[str, Any]:
    return {
        "name": "Mood",
        "kind": "poll",
        "questions": [
            {"text": "How is it?", "kind": "single", "options": [{"text": "good"}, {"text": "bad"}]}
        ],
        **over,
    }


async def test_polls_are_saved_checked_and_follow_their_event(api):
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Talk"})
    base = f"/api/v1/events/{ev['id']}/polls"
    quiz = await call(http, "POST", base, 201, json=TEST)
    assert quiz["kind"] == "test" and [q["id"] for q in quiz["questions"]] == [1, 2, 3]
    assert [o["correct"] for o in quiz["questions"][1]["options"]] == [True, False, True]
    assert quiz["questions"][2]["accepted"] == ["Paris"] and quiz["questions"][0]["points"] == 2
    assert (await call(http, "GET", f"{base}/{quiz['id']}", 200)) == quiz
    mood = await call(http, "POST", base, 201, json=poll_body())
    listed = await call(http, "GET", base, 200)
    assert [p["name"] for p in listed["items"]] == ["Quiz", "Mood"] and listed["total"] == 2
    changed = await call(http, "PUT", f"{base}/{mood['id']}", 200, json=poll_body(name="Mood 2"))
    assert changed["name"] == "Mood 2" and changed["id"] == mood["id"]

    # precise refusals, nothing saved
    async def refused(body: dict[str, Any], status: int, words: str) -> None:
        err = await call(http, "POST", base, status, json=body)
        assert words in err["error"]["message"], err

    one_correct = {
        **TEST,
        "questions": [{**TEST["questions"][0], "options": [{"text": "a", "correct": True}] * 2}],
    }
    await refused(one_correct, 400, "question 1: a single-choice question of a test has exactly one correct")
    with_key = poll_body(questions=[{**TEST["questions"][0]}])
    await refused(with_key, 400, "question 1: a poll has no correct answers")
    short_opts = poll_body(questions=[{"text": "why?", "kind": "short", "options": [{"text": "x"}] * 2}])
    await refused(short_opts, 400, "question 1: a short-answer question has no options")
    lonely = poll_body(questions=[{"text": "q", "kind": "single", "options": [{"text": "x"}]}])
    await refused(lonely, 400, "2 to 20 options")
    await refused(poll_body(kind="survey"), 400, "kind")
    await refused(poll_body(questions=[]), 400, "questions")
    long_text = poll_body(questions=[{"text": "x" * 1001, "kind": "short"}])
    await refused(long_text, 400, "text")

    # images: a PNG of the library is shown; a non-image, a missing file, another account's file are refused
    png = await upload(http, "cat.png", PNG)
    text_file = await upload(http, "notes.txt", b"hello")
    pic = poll_body(
        questions=[
            {"text": "Which?", "kind": "single", "options": [{"imageFileId": png["id"]}, {"text": "dog"}]}
        ]
    )
    with_image = await call(http, "POST", base, 201, json=pic)
    assert with_image["questions"][0]["options"][0]["imageFileId"] == png["id"]
    bad = json.loads(json.dumps(pic).replace(str(png["id"]), str(text_file["id"])))
    await refused(bad, 415, "question 1, option 1: 'notes.txt' is not an image")
    other, _ = await signup(api)
    theirs = await upload(other, "their.png", PNG)
    stolen = json.loads(json.dumps(pic).replace(str(png["id"]), str(theirs["id"])))
    await refused(stolen, 404, f"question 1, option 1: no file {theirs['id']}")

    # another account sees nothing of the event's polls, whatever the verb
    for method, path in (
        ("GET", base),
        ("GET", f"{base}/{quiz['id']}"),
        ("GET", f"{base}/{quiz['id']}/results"),
        ("GET", f"{base}/{quiz['id']}/answers"),
        ("GET", f"{base}/{quiz['id']}/export?format=xlsx"),
        ("DELETE", f"{base}/{quiz['id']}"),
    ):
        assert (await call(other, method, path, 404))["error"]["code"] == "not_found"
    await call(other, "POST", base, 404, json=poll_body())
    await call(other, "PUT", f"{base}/{quiz['id']}", 404, json=poll_body())
    their_ev = await call(other, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Theirs"})
    await call(http, "GET", f"/api/v1/events/{their_ev['id']}/polls/{quiz['id']}", 404)

    await call(http, "DELETE", f"{base}/{mood['id']}", 204)
    await call(http, "GET", f"{base}/{mood['id']}", 404)


async def wait_for(pred, timeout: float = 10) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = await pred()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


@loopback
async def test_a_test_launched_answered_and_closed_is_stored_exported_and_hooked(api):
    got: list[dict[str, Any]] = []

    async def receive(request: web.Request) -> web.Response:
        got.append(json.loads(await request.read()))
        return web.Response(text="ok")

    http, _ = await signup(api)
    async with hook_receiver(receive) as url:
        await call(http, "POST", "/api/v1/webhooks", 201, json={"url": url, "events": ["poll.closed"]})
        ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Class"})
        base = f"/api/v1/events/{ev['id']}/polls"
        quiz = await call(http, "POST", base, 201, json=TEST)
        started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
        # another account's host cannot launch this event's poll in its own room
        other, _ = await signup(api)
        their = await call(other, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "X"})
        their_start = await call(other, "POST", f"/api/v1/events/{their['id']}/start", 200)
        async with ws_room(api) as room:
            intruder, _ = await room.enter(their_start["hostToken"])
            assert "no such poll" in await intruder.err("poll.launch", "not_found", poll=quiz["id"])
            host, _ = await room.enter(started["hostToken"])
            ann, _ = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
            bob, _ = await room.enter(await room_token(api, ev["roomId"], "Bob", "bob@example.test"))
            await ann.err("poll.launch", "forbidden", poll=quiz["id"])
            opened = await host.ok("poll.launch", poll=quiz["id"])
            assert opened["correct"] == {"1": [2], "2": [1, 3], "3": ["Paris"]}
            a = await ann.ok(
                "poll.answer",
                answers=[
                    {"question": 1, "options": [2]},
                    {"question": 2, "options": [1, 3]},
                    {"question": 3, "text": " paris "},
                ],
            )
            assert a["score"] == 4.0 and a["maxScore"] == 4.0
            b = await bob.ok(
                "poll.answer", answers=[{"question": 1, "options": [1]}, {"question": 3, "text": "=1+1"}]
            )
            assert b["score"] == 0.0
            closed = await host.ok("poll.close")
            assert closed["respondents"] == 2 and closed["averageScore"] == 2.0

        hook = await wait_for(lambda: asyncio.sleep(0, [h for h in got if h["type"] == "poll.closed"]))
        data = hook[0]["data"]
        assert data["poll"] == {"id": quiz["id"], "name": "Quiz", "kind": "test"}
        assert data["event"]["id"] == ev["id"] and data["sessionId"] == started["sessionId"]
        res = data["results"]
        assert res["respondents"] == 2 and res["averageScore"] == 2.0 and res["maxScore"] == 4.0
        assert [o["count"] for o in res["questions"][0]["options"]] == [1, 1]
        assert res["questions"][0]["options"][1] == {"id": 2, "text": "4", "count": 1, "correct": True}

    results = await call(http, "GET", f"{base}/{quiz['id']}/results", 200)
    [launch] = results["launches"]
    assert launch["respondents"] == 2 and launch["sessionId"] == started["sessionId"]
    assert launch["closedAt"] is not None and launch["averageScore"] == 2.0
    assert [o["count"] for o in launch["questions"][1]["options"]] == [1, 0, 1]
    assert launch["questions"][2]["answered"] == 2
    answers = await call(http, "GET", f"{base}/{quiz['id']}/answers", 200)
    assert [(x["name"], x["email"], x["score"]) for x in answers["items"]] == [
        ("Ann", "ann@example.test", 4.0),
        ("Bob", "bob@example.test", 0.0),
    ]
    assert answers["items"][0]["answers"][2] == {"question": 3, "text": "paris", "options": None}

    async with http.get(f"{base}/{quiz['id']}/export?format=csv") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        assert "attachment" in r.headers["Content-Disposition"]
        rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert rows[0][3:] == ["name", "email", "answered", "question 1", "question 2", "question 3", "score"]
    assert rows[1][3:5] == ["Ann", "ann@example.test"] and rows[1][6:] == ["4", "2; 5", "paris", "4.0"]
    assert rows[2][8] == "'=1+1"  # never a formula in a spreadsheet
    async with http.get(f"{base}/{quiz['id']}/export?format=xlsx") as r:
        assert r.status == 200 and "spreadsheetml" in r.headers["Content-Type"]
        book = openpyxl.load_workbook(io.BytesIO(await r.read()))
    sheet = [list(row) for row in book.active.iter_rows(values_only=True)]
    assert sheet[1][3] == "Ann" and sheet[1][-1] == 4 and sheet[2][3] == "Bob"
    err = await call(http, "GET", f"{base}/{quiz['id']}/export?format=pdf", 400)
    assert "csv or xlsx" in err["error"]["message"]
    assert api.app[keys.ROOMS].journal.failed == 0


async def test_a_poll_open_when_the_session_ends_is_closed_with_its_results(api):
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Short"})
    base = f"/api/v1/events/{ev['id']}/polls"
    mood = await call(http, "POST", base, 201, json=poll_body())
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        ann, _ = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        await host.ok("poll.launch", poll=mood["id"])
        await ann.ok("poll.answer", answers=[{"question": 1, "options": [2]}])
        await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    await api.app[keys.ROOMS].journal.flush()
    [launch] = (await call(http, "GET", f"{base}/{mood['id']}/results", 200))["launches"]
    assert launch["closedAt"] is not None and launch["respondents"] == 1
    assert [o["count"] for o in launch["questions"][0]["options"]] == [0, 1]


async def test_an_automated_timelines_poll_item_launches_and_closes_the_poll(api):
    """R-AUTO-1: the timeline's poll item with a pollId runs that poll in the room for the item's time."""
    http, _ = await signup(api)
    start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)).replace(microsecond=0)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "automated", "name": "Robot", "startsAt": start.isoformat(), "durationMinutes": 5},
    )
    other = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Other"})
    mood = await call(http, "POST", f"/api/v1/events/{ev['id']}/polls", 201, json=poll_body())
    theirs = await call(http, "POST", f"/api/v1/events/{other['id']}/polls", 201, json=poll_body())

    def items(poll_id: int, component: str = "poll") -> dict[str, Any]:
        item = {"component": component, "start": 100, "duration": 50, "text": "Vote", "pollId": poll_id}
        return {"options": {"timeline": [item]}}

    err = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 404, json=items(theirs["id"]))
    assert f"timeline item 1: no poll {theirs['id']} of this event" in err["error"]["message"]
    err = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 400, json=items(mood["id"], "chat"))
    assert "'pollId' is for a poll item" in err["error"]["message"]
    await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json=items(mood["id"]))

    went_live = dt.datetime.now(dt.timezone.utc)
    await api.app[keys.DISPATCHER].sweep(went_live)  # the clock starts it
    play = api.app[keys.DISPATCHER].rounds[0]  # the dispatcher's round: here at chosen times
    joined = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "Ann", "email": "ann@example.test"},
    )
    shown = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/timeline",
        200,
        json={"token": joined["token"]},
    )
    assert [(i["component"], i["pollId"]) for i in shown["items"]] == [("poll", mood["id"])]
    async with ws_room(api) as room:
        ann, snap = await room.enter(joined["token"])
        assert snap["interaction"]["polls"]["poll"] is None
        await play(went_live + dt.timedelta(seconds=99))
        assert await ann.err("poll.answer", "no_poll", answers=[{"question": 1, "options": [1]}])
        await play(went_live + dt.timedelta(seconds=101))
        await play(went_live + dt.timedelta(seconds=102))  # launched once
        got = await ann.ok("poll.answer", answers=[{"question": 1, "options": [1]}])
        assert got["recorded"]
        await play(went_live + dt.timedelta(seconds=150))  # the item is over: closed
        assert await ann.err("poll.answer", "no_poll", answers=[{"question": 1, "options": [2]}])
        await play(went_live + dt.timedelta(seconds=120))  # never launched twice in a session
        await ann.err("poll.answer", "no_poll", answers=[{"question": 1, "options": [2]}])
    await api.app[keys.ROOMS].journal.flush()
    [launch] = (await call(http, "GET", f"/api/v1/events/{ev['id']}/polls/{mood['id']}/results", 200))[
        "launches"
    ]
    assert launch["respondents"] == 1 and launch["closedAt"] is not None


async def test_a_poll_named_with_a_control_character_still_exports(api):
    """Found by schemathesis: a name the API accepts with a control character (a vertical tab) made the XLSX
    export a 500 (openpyxl refuses control characters in a sheet's name)."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Odd"})
    body = json.dumps({**TEST, "name": "Quiz\u000b [1/2]"}).encode()
    async with http.post(
        f"/api/v1/events/{ev['id']}/polls", data=body, headers={"Content-Type": "application/json"}
    ) as r:
        assert r.status == 201, await r.text()
        poll = await r.json()
    for fmt in ("xlsx", "csv"):
        async with http.get(f"/api/v1/events/{ev['id']}/polls/{poll['id']}/export?format={fmt}") as r:
            assert r.status == 200, (fmt, await r.text())
            data = await r.read()
    book = openpyxl.load_workbook(io.BytesIO(await _xlsx(http, ev["id"], poll["id"])))
    assert book.active.title == "Quiz 12"
    assert data.decode("utf-8-sig").startswith("launch,")


async def _xlsx(http: Any, eid: int, pid: int) -> bytes:
    async with http.get(f"/api/v1/events/{eid}/polls/{pid}/export?format=xlsx") as r:
        return await r.read()
