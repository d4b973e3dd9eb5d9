"""Polls and tests live in an event's room through the real WebSocket (R-INT-3, issue 16): the staff launch
and close, attendees cannot; each person answers once; a test is scored; the staff get the correct answers
and the results, attendees neither until the host shows the results; a late joiner gets the open poll (without
correct answers for attendees); 200 answers in one tick are one results event to the staff; an option's image
is served from its signed URL. The event and its polls are made through the HTTP API (SQLite)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from mediaserver.rtc import tokens
from signaling import keys
from tests.api.conftest import api, call, paid, signup, smtp  # noqa: F401  (the real server and its fixtures)
from tests.api.test_event_rooms import room_token, ws_room
from tests.api.test_on_demand import upload
from tests.api.test_polls import PNG, TEST
from tests.conftest import SECRET
from tests.signaling.client import drain, events, wait_event


@pytest.fixture
async def database_url(tmp_path: Any) -> str:
    """The live part needs one backend: SQLite (tests/api/test_polls.py covers PostgreSQL too)."""
    return f"sqlite+aiosqlite:///{tmp_path}/control.db"


async def live_event(
    served: Any, plan: str | None = None
) -> tuple[aiohttp.ClientSession, dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A signed-up organiser's permanent event with the test TEST, started: (http, event, test, start)."""
    http, _ = await signup(served)
    if plan:
        await paid(http, plan)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Class"})
    quiz = await call(http, "POST", f"/api/v1/events/{ev['id']}/polls", 201, json=TEST)
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    return http, ev, quiz, started


ANN_RIGHT = [
    {"question": 1, "options": [2]},
    {"question": 2, "options": [1, 3]},
    {"question": 3, "text": "Paris"},
]


async def test_staff_run_a_test_attendees_answer_once_and_are_scored(api):  # noqa: F811
    http, ev, quiz, started = await live_event(api)
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        ann, joined = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        bob, _ = await room.enter(await room_token(api, ev["roomId"], "Bob", "bob@example.test"))
        assert joined["interaction"]["polls"] == {"poll": None, "answered": False, "results": None}

        # an attendee can neither launch, close, nor show results; nothing is open yet to answer
        assert "host and presenters" in await ann.err("poll.launch", "forbidden", poll=quiz["id"])
        await ann.err("poll.close", "forbidden")
        await ann.err("poll.showResults", "forbidden", shown=True)
        assert "no poll is open" in await ann.err("poll.answer", "no_poll", answers=ANN_RIGHT)
        await host.err("poll.launch", "bad_request", poll="one")
        assert "no such poll" in await host.err("poll.launch", "not_found", poll=quiz["id"] + 100)

        opened = await host.ok("poll.launch", poll=quiz["id"])
        assert opened["state"] == "open" and opened["correct"] == {"1": [2], "2": [1, 3], "3": ["Paris"]}
        assert "one poll at a time" in await host.err("poll.launch", "poll_open", poll=quiz["id"])
        seen = await wait_event(ann, "poll")
        assert seen["name"] == "Quiz" and seen["type"] == "test" and "correct" not in seen
        assert all("correct" not in o for q in seen["questions"] for o in q["options"])
        assert "accepted" not in json.dumps(seen)
        assert (await wait_event(host, "pollKey"))["correct"]["2"] == [1, 3]

        # answers are checked against the question kinds
        bad = [
            ([{"question": 1, "options": [1, 2]}], "bad_request", "exactly one option"),
            ([{"question": 9, "options": [1]}], "bad_request", "no question 9"),
            ([{"question": 2, "options": [7]}], "bad_request", "options of question 2 are [1, 2, 3]"),
            ([{"question": 3, "text": "x" * 501}], "too_long", "at most 500 characters; this one has 501"),
            ([{"question": 3}], "bad_request", "needs a 'text'"),
            ([{"question": 1, "options": [2]}, {"question": 1, "options": [2]}], "bad_request", "twice"),
            ("all of them", "bad_request", "non-empty list"),
        ]
        for answers, code, words in bad:
            assert words in await ann.err("poll.answer", code, answers=answers)
        assert "closed" in await ann.err("poll.answer", "poll_closed", poll=quiz["id"] + 1, answers=ANN_RIGHT)
        ok = await ann.ok("poll.answer", launch=opened["launch"], answers=ANN_RIGHT)
        assert ok == {"launch": opened["launch"], "recorded": True, "score": 4.0, "maxScore": 4.0}
        assert "already" in await ann.err("poll.answer", "answered", answers=ANN_RIGHT)
        # once per person, whatever connection they come back on
        again, rejoined = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        assert rejoined["interaction"]["polls"]["answered"] is True
        # and their score with it (a page that reloads shows it again)
        assert rejoined["interaction"]["polls"]["mine"] == {
            "launch": opened["launch"],
            "score": 4.0,
            "maxScore": 4.0,
        }
        await again.err("poll.answer", "answered", answers=ANN_RIGHT)
        half = await bob.ok(
            "poll.answer", answers=[{"question": 1, "options": [2]}, {"question": 2, "options": [1]}]
        )
        assert half["score"] == 2.0

        # the staff get the results, the attendees do not (until shown)
        res = await wait_event(host, "pollResults", lambda e: e["respondents"] == 2)
        assert res["questions"][0]["counts"] == {"1": 0, "2": 2} and res["averageScore"] == 3.0
        short = await wait_event(host, "pollShortAnswers")
        assert short["answers"] == [{"question": 3, "text": "Paris", "name": "Ann"}]
        await drain(bob)
        assert events(bob, "pollResults") == [] and events(bob, "pollShortAnswers") == []

        # a late joiner gets the open poll, without the correct answers; a late presenter with them
        late, snap = await room.enter(await room_token(api, ev["roomId"], "Lea", "lea@example.test"))
        p = snap["interaction"]["polls"]
        assert p["poll"]["launch"] == opened["launch"] and p["poll"]["state"] == "open" and not p["answered"]
        assert "correct" not in json.dumps(p) and "accepted" not in json.dumps(p) and p["results"] is None
        assert "mine" not in p  # nothing answered, no score
        host2, hsnap = await room.enter(started["hostToken"])
        assert hsnap["interaction"]["polls"]["poll"]["correct"]["1"] == [2]
        assert hsnap["interaction"]["polls"]["results"]["respondents"] == 2

        # closing: no more answers; the results shown to everyone, with the correct answers now
        closed = await host.ok("poll.close")
        assert closed["respondents"] == 2 and closed["state"] == "closed"
        await wait_event(bob, "poll", lambda e: e["state"] == "closed")
        assert "no poll is open" in await late.err("poll.answer", "no_poll", answers=ANN_RIGHT)
        await host.ok("poll.showResults", shown=True)
        shown = await wait_event(bob, "pollResults")
        assert shown["respondents"] == 2 and shown["correct"]["1"] == [2] and shown["state"] == "closed"
        assert events(bob, "pollShortAnswers") == []  # the short answers themselves stay with the staff
        late2, snap2 = await room.enter(await room_token(api, ev["roomId"], "Max", "max@example.test"))
        assert snap2["interaction"]["polls"]["results"]["respondents"] == 2
        assert snap2["interaction"]["polls"]["poll"]["state"] == "closed"
        del host2, late2

    await api.app[keys.ROOMS].journal.flush()
    answers = await call(http, "GET", f"/api/v1/events/{ev['id']}/polls/{quiz['id']}/answers", 200)
    assert [(a["name"], a["email"], a["score"]) for a in answers["items"]] == [
        ("Ann", "ann@example.test", 4.0),
        ("Bob", "bob@example.test", 2.0),
    ]


async def test_200_answers_in_one_tick_are_one_results_event_for_the_staff(api):  # noqa: F811
    http, ev, quiz, started = await live_event(api, "live")  # 1,000 attendees
    poll = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/polls",
        201,
        json={
            "name": "Crowd",
            "kind": "poll",
            "questions": [{"text": "Yes?", "kind": "single", "options": [{"text": "yes"}, {"text": "no"}]}],
        },
    )
    fan = api.app[keys.FANOUT]
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        crowd = []
        for i in range(200):
            token = tokens.issue(
                SECRET, ev["roomId"], "attendee", f"a{i}", f"a{i}", email=f"a{i}@example.test", adhoc=False
            )
            crowd.append((await room.enter(token))[0])
        await host.ok("poll.launch", poll=poll["id"])
        await wait_event(host, "pollResults")  # the launch's (empty) results
        await fan.stop()  # the ticks are ours now: every answer below falls into one
        try:
            n = len(events(host, "pollResults"))
            replies = await asyncio.gather(
                *(
                    c.ok("poll.answer", answers=[{"question": 1, "options": [1 + i % 2]}])
                    for i, c in enumerate(crowd)
                )
            )
            assert all(r["recorded"] for r in replies)
            frames = fan.frames
            fan.flush()
            assert fan.frames - frames == 1  # one frame, for the staff (the attendees get nothing)
            await drain(host)
            got = events(host, "pollResults")[n:]
            assert len(got) == 1 and got[0]["respondents"] == 200
            assert got[0]["questions"][0]["counts"] == {"1": 100, "2": 100}
            await drain(crowd[0])
            assert events(crowd[0], "pollResults") == []
        finally:
            fan.start()
    await api.app[keys.ROOMS].journal.flush()
    page = await call(http, "GET", f"/api/v1/events/{ev['id']}/polls/{poll['id']}/answers?limit=1", 200)
    assert page["total"] == 200


async def test_an_options_image_is_served_from_its_signed_url(api):  # noqa: F811
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Pets"})
    png = await upload(http, "cat.png", PNG)
    pets = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/polls",
        201,
        json={
            "name": "Pets",
            "kind": "poll",
            "questions": [
                {
                    "text": "Which?",
                    "kind": "multiple",
                    "options": [{"imageFileId": png["id"]}, {"text": "a dog"}],
                }
            ],
        },
    )
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        ann, _ = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        await host.ok("poll.launch", poll=pets["id"])
        seen = await wait_event(ann, "poll")
        [cat, dog] = seen["questions"][0]["options"]
        assert cat["image"].startswith("/play/") and dog["image"] is None and dog["text"] == "a dog"
    async with aiohttp.ClientSession() as anyone, anyone.get(api.base_url + cat["image"]) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/png" and await r.read() == PNG
    # the file is no longer an option's image: its URL stops working
    await call(
        http,
        "PUT",
        f"/api/v1/events/{ev['id']}/polls/{pets['id']}",
        200,
        json={"name": "Pets", "kind": "poll", "questions": [{"text": "Which?", "kind": "short"}]},
    )
    async with aiohttp.ClientSession() as anyone, anyone.get(api.base_url + cat["image"]) as r:
        assert r.status == 410
