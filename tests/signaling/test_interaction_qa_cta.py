"""Q&A mode (R-INT-2) and the call to action (R-INT-4) through the real WebSocket (issue 16): who may do what
is checked on the server, one upvote and one counted click per person (also across a reconnection), counts
aggregated per tick, the published question and the call to action reach everyone and late joiners, closing
Q&A ends it, the 54-character limit counts characters (Cyrillic), and bad input is refused precisely and
changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from signaling import keys
from tests.signaling.client import Client, drain, events, wait_event
from tests.signaling.test_rooms import create, join_token


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(server["base_url"]) as s:
        yield s


async def token_for(http, room: dict, name: str, role: str = "attendee") -> str:
    keys_ = {"host": {"hostKey": room["hostKey"]}, "presenter": {"presenterKey": room["presenterKey"]}}
    status, body = await join_token(http, room["id"], name, **keys_.get(role, {}))
    assert status == 200 and body["role"] == role, body
    return body["token"]


async def enter_with(connect, token: str) -> tuple[Client, dict[str, Any]]:
    c = await connect()
    return c, await c.ok("join", token=token)


async def enter(http, connect, room: dict, name: str, role: str = "attendee"):
    return await enter_with(connect, await token_for(http, room, name, role))


@pytest.fixture
async def webinar(http, connect):
    """A webinar with its host and two attendees, seated; (room, host, ann, bob, their join results)."""
    room = await create(http, type="webinar", name="Talk")
    host, h = await enter(http, connect, room, "hanna", "host")
    ann, a = await enter(http, connect, room, "ann")
    bob, b = await enter(http, connect, room, "bob")
    return room, host, ann, bob, {"host": h, "ann": a, "bob": b}


async def opened(host: Client, *others: Client) -> None:
    assert await host.ok("qa.open") == {"open": True}
    for c in (host, *others):
        await wait_event(c, "qa", lambda e: e["open"])


# ---------------------------------------------------------------- Q&A (R-INT-2)


async def test_only_the_host_opens_qa_and_nothing_is_asked_while_it_is_closed(http, connect, webinar):
    room, host, ann, bob, joined = webinar
    assert joined["ann"]["interaction"]["qa"] == {
        "open": False,
        "questions": [],
        "voted": [],
        "published": None,
        "mine": [],
    }
    await ann.err("qa.ask", "qa_closed", text="is this on?")
    await host.err("qa.ask", "qa_closed", text="and for me?")
    await ann.err("qa.open", "forbidden")
    await opened(host, ann, bob)
    q = await ann.ok("qa.ask", text="When is the next session?")
    for c in (host, bob):
        e = await wait_event(c, "question")
        assert e["id"] == q["id"] and e["text"] == "When is the next session?" and e["state"] == "open"
        assert e["votes"] == 0 and e["from"]["name"] == "ann" and e["private"] is False
    # the staff's commands, refused to an attendee whatever a page shows
    for method, params in [
        ("qa.answer", {"id": q["id"]}),
        ("qa.dismiss", {"id": q["id"]}),
        ("qa.publish", {"id": q["id"]}),
        ("qa.unpublish", {}),
        ("qa.close", {}),
    ]:
        msg = await bob.err(method, "forbidden", **params)
        assert "only the host" in msg
    await drain(ann)
    assert [e["state"] for e in events(ann, "question")] == ["open"]
    assert events(ann, "questionPublished") == [] and events(ann, "qa")[-1]["open"] is True
    # a presenter answers and dismisses (the staff) but publishes nothing and pops up no call to action
    pres, _ = await enter(http, connect, room, "pia", "presenter")
    assert await pres.ok("qa.answer", id=q["id"]) == {"id": q["id"], "state": "answered"}
    await pres.err("qa.publish", "forbidden", id=q["id"])
    await pres.err("qa.close", "forbidden")
    await pres.err("cta.show", "forbidden", text="Buy", button="Go", url="https://example.org")


async def test_chat_messages_marked_as_questions(webinar):
    _room, host, ann, bob, joined = webinar
    await opened(host, ann, bob)
    own = await ann.ok("chat.send", text="How do I get the slides?")
    other = await bob.ok("chat.send", text="Will there be a recording?")
    private = await ann.ok("chat.send", text="Can I pay by invoice?", to="staff")
    # an attendee marks their own message, not someone else's
    await ann.err("qa.ask", "forbidden", message=other["id"])
    q1 = await ann.ok("qa.ask", message=own["id"])
    e = await wait_event(bob, "question", lambda e: e["id"] == q1["id"])
    assert (
        e["message"] == own["id"] and e["text"] == "How do I get the slides?" and e["from"]["name"] == "ann"
    )
    await ann.err("qa.ask", "already_asked", message=own["id"])
    # the host marks anyone's; the question is the sender's
    q2 = await host.ok("qa.ask", message=other["id"])
    e = await wait_event(ann, "question", lambda e: e["id"] == q2["id"])
    assert e["from"]["id"] == joined["bob"]["participant"]["id"] and e["from"]["name"] == "bob"
    # a private message to the staff makes a private question: the staff and the asker only
    q3 = await ann.ok("qa.ask", message=private["id"])
    assert (await wait_event(host, "question", lambda e: e["id"] == q3["id"]))["private"] is True
    assert (await wait_event(ann, "question", lambda e: e["id"] == q3["id"]))["private"] is True
    await drain(bob)
    assert [e["id"] for e in events(bob, "question")] == [q1["id"], q2["id"]]
    await bob.err("qa.upvote", "not_found", id=q3["id"])  # bob cannot see it, so cannot vote on it
    await ann.err("qa.ask", "not_found", message="m999999")


async def test_one_upvote_per_person_counted_once_a_tick_and_across_a_reconnection(http, connect, webinar):
    room, host, ann, bob, _joined = webinar
    await opened(host, ann, bob)
    bob_token = await token_for(http, room, "bob")  # the same person (their e-mail) with a new token
    q = await ann.ok("qa.ask", text="Is the API rate-limited?")
    qid = q["id"]
    assert await bob.ok("qa.upvote", id=qid) == {"id": qid, "votes": 1, "voted": True}
    assert await bob.ok("qa.upvote", id=qid) == {"id": qid, "votes": 1, "voted": True}  # idempotent
    assert (await host.ok("qa.upvote", id=qid))["votes"] == 2
    # five more people vote at once: one questionVotes event with the total, not one per vote
    others = [(await enter(http, connect, room, f"v{i}"))[0] for i in range(5)]
    await drain(ann, 0.3)
    before = len(events(ann, "questionVotes"))
    await asyncio.gather(*(c.ok("qa.upvote", id=qid) for c in others))
    e = await wait_event(ann, "questionVotes", lambda e: e["votes"].get(qid) == 7)
    await drain(ann, 0.3)
    assert len(events(ann, "questionVotes")) - before <= 2, events(ann, "questionVotes")
    assert events(ann, "questionVotes")[-1]["votes"] == {qid: 7} and e["votes"] == {qid: 7}

    # bob comes back on a new connection: his vote is still his, and still one
    await bob.ws.close()
    bob2, res = await enter_with(connect, bob_token)
    assert res["interaction"]["qa"]["voted"] == [qid]
    assert [x["votes"] for x in res["interaction"]["qa"]["questions"]] == [7]
    assert (await bob2.ok("qa.upvote", id=qid))["votes"] == 7
    # and takes it back
    assert await bob2.ok("qa.upvote", id=qid, up=False) == {"id": qid, "votes": 6, "voted": False}
    assert (await wait_event(ann, "questionVotes", lambda e: e["votes"].get(qid) == 6))["votes"] == {qid: 6}


async def test_answered_and_dismissed_and_what_a_late_joiner_sees(http, connect, webinar):
    room, host, ann, bob, _joined = webinar
    await opened(host, ann, bob)
    a = (await ann.ok("qa.ask", text="first"))["id"]
    b = (await bob.ok("qa.ask", text="second"))["id"]
    c = (await bob.ok("qa.ask", text="third"))["id"]
    assert await host.ok("qa.answer", id=a) == {"id": a, "state": "answered"}
    assert await host.ok("qa.dismiss", id=b) == {"id": b, "state": "dismissed"}
    await wait_event(ann, "question", lambda e: e["id"] == b and e["state"] == "dismissed")
    assert (await wait_event(bob, "question", lambda e: e["id"] == a and e["state"] == "answered"))[
        "text"
    ] == ("first")
    await host.err("qa.upvote", "not_open", id=a)  # votes are for open questions
    late, res = await enter(http, connect, room, "late")
    snap = res["interaction"]["qa"]
    assert snap["open"] is True and [(q["id"], q["state"]) for q in snap["questions"]] == [
        (a, "answered"),
        (c, "open"),
    ]  # a dismissed question leaves the attendees' list
    # bob, back on a new connection, still sees his own dismissed question; the staff see all
    _bob2, res = await enter(http, connect, room, "bob")
    assert [q["id"] for q in res["interaction"]["qa"]["questions"]] == [a, b, c]
    # and is told which are his, so one dismissed after this snapshot stays on his list too (a new device)
    assert res["interaction"]["qa"]["mine"] == [b, c]
    assert snap["mine"] == []
    _host2, res = await enter(http, connect, room, "hanna", "host")
    assert [q["state"] for q in res["interaction"]["qa"]["questions"]] == ["answered", "dismissed", "open"]


async def test_the_host_publishes_a_question_to_everyone_and_late_joiners(http, connect, webinar):
    room, host, ann, bob, _joined = webinar
    await opened(host, ann, bob)
    q = (await ann.ok("qa.ask", text="Which browsers work?"))["id"]
    other = (await bob.ok("qa.ask", text="Off topic"))["id"]
    await host.ok("qa.publish", id=q)
    for c in (host, ann, bob):
        e = await wait_event(c, "questionPublished", lambda e: e["question"] is not None)
        assert e["question"]["id"] == q and e["question"]["text"] == "Which browsers work?"
    late, res = await enter(http, connect, room, "late")
    assert res["interaction"]["qa"]["published"]["id"] == q
    await host.ok("qa.unpublish")
    for c in (ann, bob, late):
        await wait_event(c, "questionPublished", lambda e: e["question"] is None)
    _late2, res = await enter(http, connect, room, "later")
    assert res["interaction"]["qa"]["published"] is None
    # a dismissed question is not published; dismissing the published one takes it down
    await host.ok("qa.dismiss", id=other)
    await host.err("qa.publish", "dismissed", id=other)
    await host.ok("qa.publish", id=q)
    await wait_event(bob, "questionPublished", lambda e: e["question"] and e["question"]["id"] == q)
    bob.notes.clear()
    await host.ok("qa.dismiss", id=q)
    await wait_event(bob, "questionPublished", lambda e: e["question"] is None)
    await host.err("qa.publish", "not_found", id="q999999")


async def test_closing_qa_ends_it_and_records_the_list(server, http, connect, webinar):
    room, host, ann, bob, _joined = webinar
    records: list[tuple[str, dict[str, Any]]] = []

    async def keep(_s, room_id, items):  # the journal's extension point a store registers for "question"
        records.extend((room_id, i) for i in items)

    journal = server["rooms"].journal
    journal.register("question", keep)
    await opened(host, ann, bob)
    q = (await ann.ok("qa.ask", text="Will you share the code?"))["id"]
    await bob.ok("qa.upvote", id=q)
    await host.ok("qa.publish", id=q)
    assert await host.ok("qa.close") == {"open": False, "questions": 1}
    for c in (ann, bob):
        await wait_event(c, "qa", lambda e: e["open"] is False)
    await ann.err("qa.upvote", "qa_closed", id=q)
    await ann.err("qa.ask", "qa_closed", text="one more?")
    _late, res = await enter(http, connect, room, "late")
    assert res["interaction"]["qa"] == {
        "open": False,
        "questions": [],
        "voted": [],
        "published": None,
        "mine": [],
    }
    await journal.flush()
    got = [(i["id"], i["event"], i["votes"]) for r, i in records if r == room["id"]]
    assert got == [(q, "asked", 0), (q, "published", 1), (q, "closed", 1)], got
    # opened again, Q&A starts from an empty list
    await host.ok("qa.open")
    _late2, res = await enter(http, connect, room, "later")
    assert res["interaction"]["qa"]["open"] is True and res["interaction"]["qa"]["questions"] == []


async def test_a_session_ended_with_qa_open_records_the_list_as_it_stands(server, webinar):
    room, host, ann, bob, _joined = webinar
    records: list[dict[str, Any]] = []

    async def keep(_s, _room_id, items):
        records.extend(items)

    journal = server["rooms"].journal
    journal.register("question", keep)
    await opened(host, ann, bob)
    q = (await ann.ok("qa.ask", text="Last one?"))["id"]
    await bob.ok("qa.upvote", id=q)
    await host.ok("host", action="end")
    await journal.flush()
    assert [(i["id"], i["event"], i["votes"]) for i in records] == [(q, "asked", 0), (q, "ended", 1)]


async def test_bad_questions_are_refused_precisely_and_change_nothing(server, webinar):
    room, host, ann, bob, _joined = webinar
    await opened(host, ann, bob)
    msg = await ann.err("qa.ask", "too_long", text="я" * 2001)
    assert "2000" in msg and "2001" in msg
    await ann.err("qa.ask", "bad_request", text="   ")
    await ann.err("qa.ask", "bad_request", text=42)
    assert "either" in await ann.err("qa.ask", "bad_request")
    assert "either" in await ann.err("qa.ask", "bad_request", text="x", message="m1")
    await ann.err("qa.ask", "bad_request", message=7)
    await ann.err("qa.upvote", "bad_request")
    await ann.err("qa.upvote", "not_found", id="q1")
    await host.err("qa.answer", "not_found", id="nope")
    await drain(host)
    assert events(host, "question") == []
    interaction = server["rooms"].find(room["id"]).interaction
    assert interaction.qa.questions == {}
    q = (await ann.ok("qa.ask", text="я" * 2000))["id"]  # 2,000 characters, whatever their bytes
    await ann.err("qa.upvote", "bad_request", id=q, up="yes")
    assert interaction.qa.questions[q].voters == set()
    # a flood of questions is throttled for its sender only
    codes = [(await ann.call("qa.ask", text=f"q {i}")).get("error", {}).get("code", "ok") for i in range(6)]
    assert "rate_limited" in codes, codes
    await bob.ok("qa.ask", text="mine still goes in")
    # a silenced person asks no questions either
    host_sees = await host.ok("chat.silence", participant=_joined["bob"]["participant"]["id"], silenced=True)
    assert host_sees == {"silenced": True}
    await bob.err("qa.ask", "silenced", text="again")


# ---------------------------------------------------------------- the call to action (R-INT-4)

CTA = {"button": "Купить", "url": "https://shop.example.org/buy?x=1"}


async def test_the_cta_description_is_54_characters_spaces_included(server, webinar):
    room, host, ann, bob, _joined = webinar
    await ann.err("cta.show", "forbidden", text="Buy", **CTA)  # only the host, checked on the server
    msg = await host.err("cta.show", "too_long", text="я" * 55, **CTA)
    assert "54" in msg and "55" in msg and "spaces included" in msg, msg
    msg = await host.err(
        "cta.show", "too_long", text="Скидка 20 % до конца вебинара! Успейте оформить заказ!!", **CTA
    )
    assert "55" in msg  # 55 with its spaces
    await host.err("cta.show", "bad_request", text="   ", **CTA)
    await host.err("cta.show", "bad_request", text="Buy", url=CTA["url"])  # no button
    await host.err("cta.show", "too_long", text="Buy", button="b" * 61, url=CTA["url"])
    for url in ("javascript:alert(1)", "ftp://example.org/x", "https://", "https://exa mple.org", 5):
        await host.err("cta.show", "bad_url", text="Buy", button="Go", url=url)
    for seconds in (0, -1, 86401, "10", True, 1.5):
        await host.err("cta.show", "bad_request", text="Buy", seconds=seconds, **CTA)
    await drain(ann)
    assert events(ann, "cta") == [] and server["rooms"].find(room["id"]).interaction.cta.current is None
    # 54 Cyrillic letters pass (108 bytes); so do 54 letters typed as letter + combining mark (NFC: 54)
    shown = await host.ok("cta.show", text="я" * 54, **CTA)
    e = await wait_event(ann, "cta", lambda e: e["cta"] is not None)
    assert e["cta"]["id"] == shown["id"] and e["cta"]["text"] == "я" * 54 and e["cta"]["until"] is None
    assert e["cta"]["button"] == "Купить" and e["cta"]["url"] == CTA["url"]
    again = await host.ok("cta.show", text="и\u0306" * 54, **CTA)
    e = await wait_event(bob, "cta", lambda e: e["cta"] is not None and e["cta"]["id"] == again["id"])
    assert e["cta"]["text"] == "й" * 54


async def test_cta_clicks_are_counted_once_per_person_for_the_staff(http, connect, webinar):
    room, host, ann, bob, _joined = webinar
    ann_token = await token_for(http, room, "ann")
    shown = await host.ok("cta.show", text="Get the recording", seconds=600, **CTA)
    await ann.err("cta.click", "cta_closed", id="c999999")  # not the one showing
    assert await ann.ok("cta.click", id=shown["id"]) == {"counted": True, "url": CTA["url"]}
    assert (await ann.ok("cta.click"))["counted"] is False  # one per person
    assert (await bob.ok("cta.click"))["counted"] is True
    assert (await host.ok("cta.click"))["counted"] is False  # the staff are not counted
    e = await wait_event(host, "ctaClicks", lambda e: e["clicks"] == 2)
    assert e["id"] == shown["id"]
    await drain(ann)
    assert events(ann, "ctaClicks") == []  # the count is the staff's
    # late joiners: the CTA is on their screen; the staff's snapshot has the count
    await ann.ws.close()
    ann2, res = await enter_with(connect, ann_token)
    assert (
        res["interaction"]["cta"]["cta"]["id"] == shown["id"] and res["interaction"]["cta"]["clicked"] is True
    )
    assert (await ann2.ok("cta.click"))["counted"] is False  # a reconnection does not count twice
    _host2, res = await enter(http, connect, room, "hanna", "host")
    assert res["interaction"]["cta"]["clicks"] == 2
    await bob.err("cta.close", "forbidden")
    assert await host.ok("cta.close") == {"closed": True, "clicks": 2}
    e = await wait_event(bob, "cta", lambda e: e["cta"] is None)
    assert e["closed"] == shown["id"] and e["reason"] == "host"
    await bob.err("cta.click", "cta_closed")
    assert await host.ok("cta.close") == {"closed": False, "clicks": 0}
    _late, res = await enter(http, connect, room, "late")
    assert res["interaction"]["cta"] == {"cta": None, "clicked": False}


async def test_cta_clicks_are_recorded_and_the_display_time_closes_it(server, http, connect, webinar):
    room, host, ann, bob, _joined = webinar
    records: list[dict[str, Any]] = []

    async def keep(_s, room_id, items):  # the extension point a statistics store registers for "ctaClick"
        records.extend(items)

    server["rooms"].journal.register("ctaClick", keep)
    shown = await host.ok("cta.show", text="Book a demo", seconds=1, **CTA)
    e = await wait_event(ann, "cta", lambda e: e["cta"] is not None)
    assert e["cta"]["until"] - e["cta"]["shownAt"] == 1000
    await bob.ok("cta.click")
    e = await wait_event(ann, "cta", lambda e: e["cta"] is None, timeout=3)
    assert e["reason"] == "expired" and e["closed"] == shown["id"]
    assert (await wait_event(host, "ctaClicks", lambda e: e.get("final")))["clicks"] == 1
    _late, res = await enter(http, connect, room, "late")
    assert res["interaction"]["cta"]["cta"] is None
    await server["rooms"].journal.flush()
    assert [(r["cta"], r["from"]["name"], r["url"]) for r in records] == [(shown["id"], "bob", CTA["url"])]
    assert server["app"][keys.FANOUT].dropped == 0
