"""The standby copy of a room's interaction on an edge (issue 19 item 5, R-INT-1..4, R-MEDIA-8): the owner's
entries, through the stream's own encoding, make a copy that answers every member's snapshot as the owner
does (staff-only items stay the staff's) and, once taken over, takes the owner's commands on the same state:
the host answers and publishes a question asked before, the poll asked before takes answers (one per
person, counted on from the same results), a raised hand is granted or lowered, a click counts once."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from dataclasses import dataclass
from typing import Any

import pytest

from mediaserver.cluster.interaction import _entries, _wire
from mediaserver.errors import ControlError
from mediaserver.interaction.log import Entry
from mediaserver.interaction.room import Interaction


@dataclass
class M:
    id: str
    name: str
    role: str
    person_key: str
    floor: bool = False


HOST = M("p-host", "Host", "host", "host@x")
PRES = M("p-pres", "Pres", "presenter", "pres@x")
ANN = M("p-ann", "Ann", "attendee", "ann@x")
BOB = M("p-bob", "Bob", "attendee", "bob@x")
EVE = M("p-eve", "Eve", "attendee", "eve@x")
PEOPLE = [HOST, PRES, ANN, BOB, EVE]

TEST = {
    "launch": 7,
    "poll": 3,
    "name": "Quiz",
    "kind": "test",
    "questions": [
        {
            "id": 1,
            "text": "2+2?",
            "kind": "single",
            "points": 1,
            "options": [{"id": 1, "text": "4", "correct": True}, {"id": 2, "text": "5"}],
        },
        {"id": 2, "text": "Capital?", "kind": "short", "points": 2, "options": [], "accepted": ["Paris"]},
    ],
}


async def _loader(poll_id: int) -> dict[str, Any]:
    return copy.deepcopy(TEST)


def _room() -> Interaction:
    find = {m.id: m for m in PEOPLE}.get
    return Interaction(find, polls=_loader)


def _edge() -> Interaction:
    edge = _room()
    edge.follow()
    return edge


def _ship(owner: Interaction, edge: Interaction) -> list[Entry]:
    """One tick of the owner's fan-out, through the stream's encoding, into the edge's log and copy (as
    RoomInteraction's reader does); the edge's own tick sends them on, adding nothing of its own."""
    taken = owner.tick()
    for e in _entries(json.loads(json.dumps([_wire(e) for e in taken]))):
        edge.log.put(e)  # type: ignore[attr-defined]
        edge.mirror(e)
    assert [e.seq for e in edge.tick()] == [e.seq for e in taken]
    return taken


def _do(room: Interaction, m: M, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A command as the protocol runs it (awaited when it is)."""
    out = room.command(m, method, params)
    if not isinstance(out, dict):

        async def wait() -> dict[str, Any]:
            return await out

        return asyncio.run(wait())
    return out


def _same(owner: Interaction, edge: Interaction, *keys: str) -> None:
    for m in PEOPLE:
        mine, kept = owner.snapshot(m), edge.snapshot(m)
        for k in keys:
            assert kept[k] == mine[k], (m.role, k, kept[k], mine[k])


def test_qa_is_kept_with_votes_moderation_and_the_published_question() -> None:
    owner, edge = _room(), _edge()
    _do(owner, HOST, "qa.open", {})
    q1 = _do(owner, ANN, "qa.ask", {"text": "Will there be a recording?"})["id"]
    q2 = _do(owner, BOB, "qa.ask", {"text": "Off topic"})["id"]
    msg = _do(owner, EVE, "chat.send", {"text": "a private doubt", "to": "staff"})["id"]
    q3 = _do(owner, PRES, "qa.ask", {"message": msg})["id"]
    _ship(owner, edge)
    for m in (BOB, EVE, HOST):
        _do(owner, m, "qa.upvote", {"id": q1})
    _do(owner, ANN, "qa.upvote", {"id": q2})
    _do(owner, ANN, "qa.upvote", {"id": q2, "up": False})
    _do(owner, EVE, "qa.upvote", {"id": q3})
    _do(owner, PRES, "qa.dismiss", {"id": q2})
    _do(owner, HOST, "qa.publish", {"id": q1})
    _ship(owner, edge)
    _same(owner, edge, "qa", "chat")
    # the private question stays between Eve and the staff; the dismissed one leaves the others' lists
    seen = {m.name: [q["id"] for q in edge.snapshot(m)["qa"]["questions"]] for m in PEOPLE}
    assert seen == {"Host": [q1, q2, q3], "Pres": [q1, q2, q3], "Ann": [q1], "Bob": [q1, q2], "Eve": [q1, q3]}
    assert edge.snapshot(EVE)["qa"]["mine"] == [q3] and edge.snapshot(BOB)["qa"]["voted"] == [q1]
    # taken over: the host answers a question asked before; a vote given before is not counted twice
    edge.take_over()
    assert _do(edge, HOST, "qa.answer", {"id": q1}) == {"id": q1, "state": "answered"}
    with pytest.raises(ControlError, match="no such question"):
        _do(edge, BOB, "qa.upvote", {"id": q3})  # Eve's private question: still not Bob's to see
    assert _do(edge, PRES, "qa.upvote", {"id": q3}) == {"id": q3, "votes": 2, "voted": True}
    assert _do(edge, EVE, "qa.upvote", {"id": q3})["votes"] == 2  # her vote of before holds, once
    with pytest.raises(ControlError):
        _do(edge, BOB, "qa.upvote", {"id": q1})  # answered now: votes are for open questions
    taken = edge.tick()
    assert [(e.kind, e.seq > owner.log.last_seq) for e in taken] == [
        ("question", True),
        ("questionVotes", True),
    ]
    assert edge.snapshot(HOST)["qa"]["published"]["id"] == q1
    _do(edge, HOST, "qa.close", {})
    assert edge.snapshot(HOST)["qa"] == {"open": False, "questions": [], "voted": [], "published": None}


def test_a_poll_keeps_its_answers_and_results_and_takes_more_after_takeover() -> None:
    owner, edge = _room(), _edge()
    _do(owner, PRES, "poll.launch", {"poll": 3})
    assert _do(owner, ANN, "poll.answer", {"answers": [{"question": 1, "options": [1]}]})["score"] == 1
    _ship(owner, edge)
    _do(owner, BOB, "poll.answer", {"answers": [{"question": 2, "text": "paris"}]})
    _ship(owner, edge)
    _same(owner, edge, "polls")
    assert edge.snapshot(ANN)["polls"]["mine"] == {"launch": 7, "score": 1.0, "maxScore": 3.0}
    assert (
        "correct" not in edge.snapshot(EVE)["polls"]["poll"]
        and edge.snapshot(HOST)["polls"]["poll"]["correct"]
    )
    edge.take_over()
    with pytest.raises(ControlError, match="answered this poll already"):
        _do(edge, ANN, "poll.answer", {"answers": [{"question": 1, "options": [2]}]})
    got = _do(edge, EVE, "poll.answer", {"answers": [{"question": 1, "options": [1]}]})
    assert got == {"launch": 7, "recorded": True, "score": 1.0, "maxScore": 3.0}  # scored: the key was kept
    summary = _do(edge, HOST, "poll.close", {})
    assert summary["respondents"] == 3 and summary["averageScore"] == round(4 / 3, 3), summary
    assert summary["questions"][0]["counts"] == {"1": 2, "2": 0}


def test_hands_the_call_to_action_the_stage_and_the_chat_follow() -> None:
    owner, edge = _room(), _edge()
    _do(owner, ANN, "hand.raise", {})
    _do(owner, BOB, "hand.raise", {})
    _do(owner, EVE, "hand.raise", {})
    _do(owner, BOB, "hand.lower", {})
    _do(owner, HOST, "cta.show", {"text": "Buy", "button": "Go", "url": "https://x.test/", "seconds": 60})
    _do(owner, ANN, "cta.click", {})
    _do(owner, HOST, "chat.silence", {"participant": EVE.id})
    _do(owner, HOST, "chat.setEnabled", {"enabled": False})
    owner.doc.current = {"id": "d1", "file": {"id": 1}, "page": 1, "zoom": 1.0, "free": False}
    _do(owner, PRES, "doc.page", {"page": 4})
    owner.player._loaded(PRES, {"kind": "youtube", "id": "dQw4w9WgXcQ"}, 12.0, False, 1.5)  # no YouTube here
    _ship(owner, edge)
    _same(owner, edge, "hands", "cta", "chat", "doc")
    assert edge.snapshot(EVE)["hands"]["position"] == 2 and edge.snapshot(EVE)["chat"]["silenced"]
    assert edge.snapshot(BOB)["hands"] == {"raised": False} and edge.snapshot(EVE)["cta"]["clicked"] is False
    assert edge.stage() == owner.stage() and edge.stage()["doc"]["page"] == 4  # a video was loaded last
    assert edge.stage()["player"]["source"] == {"kind": "youtube", "id": "dQw4w9WgXcQ"}
    # the edge's copy does nothing of its own: nobody's leaving, no deadline, no tick appends there
    edge.left(ANN)
    edge.cta.current = {**edge.cta.current, "until": 0}  # type: ignore[dict-item]
    assert edge.tick() == [] and edge.snapshot(HOST)["hands"]["queue"][0]["participant"] == ANN.id
    edge.cta.current = owner.cta.current
    edge.take_over()
    assert _do(edge, ANN, "cta.click", {})["counted"] is False  # counted once, before
    assert _do(edge, BOB, "cta.click", {})["counted"] is True
    with pytest.raises(ControlError, match="turned the chat off"):
        _do(edge, BOB, "chat.send", {"text": "hi"})
    _do(edge, HOST, "chat.setEnabled", {"enabled": True})
    with pytest.raises(ControlError, match="silenced"):
        _do(edge, EVE, "chat.send", {"text": "hi"})
    _do(edge, HOST, "hand.lower", {"participant": ANN.id})
    assert [h["participant"] for h in edge.snapshot(HOST)["hands"]["queue"]] == [EVE.id]
    assert edge.snapshot(EVE)["hands"]["position"] == 1
    assert _do(edge, HOST, "player.play", {})["position"] == 12.0


def test_a_hand_of_someone_gone_with_the_dead_owner_can_be_lowered() -> None:
    owner, edge = _room(), _edge()
    gone = M("p-gone", "Gone", "attendee", "gone@x")
    owner.hands.raise_hand(gone, {})
    _ship(owner, edge)
    edge.take_over()
    _do(edge, HOST, "hand.lower", {"participant": gone.id})  # not in the room (find: None)
    assert edge.snapshot(HOST)["hands"] == {"queue": []}
    (lowered,) = edge.tick()
    assert lowered.audience == ("staff+", "gone@x") and lowered.data["raised"] is False


def test_the_call_to_action_closes_on_time_on_the_node_that_took_over() -> None:
    owner, edge = _room(), _edge()
    _do(owner, HOST, "cta.show", {"text": "Buy", "button": "Go", "url": "https://x.test/", "seconds": 1})
    _ship(owner, edge)
    assert edge.cta.deadline is None
    edge.cta.current = {**edge.cta.current, "until": 0}  # type: ignore[dict-item]
    edge.take_over()
    kinds = [e.kind for e in edge.tick()]
    assert kinds == ["cta", "ctaClicks"] and edge.cta.current is None


def test_what_no_client_gets_stays_off_the_wire() -> None:
    owner = _room()
    _do(owner, HOST, "qa.open", {})
    qid = _do(owner, ANN, "qa.ask", {"text": "Why?"})["id"]
    _do(owner, BOB, "qa.upvote", {"id": qid})
    _do(owner, PRES, "poll.launch", {"poll": 3})
    _do(owner, ANN, "poll.answer", {"answers": [{"question": 1, "options": [1]}]})
    wire = json.dumps([e.wire() for e in owner.tick()])
    assert "bob@x" not in wire and "ann@x" not in wire and "Paris" not in wire.split('"pollKey"')[0]


def _drawn(doc_of: Any, by: str, sid: str) -> str:
    """A participant's stroke on their copy of the board (a Yjs doc): the update (base64) of that change."""
    from pycrdt import Array, Map

    state = doc_of.get_state()
    pts = Array([10.0, 10.0, 50.0, 60.0])
    shape = Map({"id": sid, "type": "pen", "color": "#d03030", "width": 4, "by": by, "points": pts})
    doc_of.get("pages", type=Array)[0].append(shape)
    return base64.b64encode(doc_of.get_update(state)).decode()


def test_the_whiteboard_on_the_stage_is_kept_and_drawn_on_after_takeover() -> None:
    from pycrdt import Array, Doc

    owner, edge = _room(), _edge()
    page: Doc[Any] = Doc()  # the presenter's page: the board as its join gave it
    page.apply_update(base64.b64decode(owner.snapshot(PRES)["board"]["update"]))
    _do(owner, PRES, "board.update", {"update": _drawn(page, PRES.id, "s1")})
    _do(owner, PRES, "board.show", {"shown": True})
    _do(owner, PRES, "board.collaborate", {"on": True})
    _ship(owner, edge)
    _do(owner, PRES, "board.update", {"update": _drawn(page, PRES.id, "s2")})
    _ship(owner, edge)
    assert edge.stage()["board"] == owner.stage()["board"] == {"shown": True, "page": 0}
    _same(owner, edge, "board")
    kept: Doc[Any] = Doc()
    kept.apply_update(base64.b64decode(edge.snapshot(ANN)["board"]["update"]))
    assert [s["id"] for s in kept.get("pages", type=Array)[0].to_py()] == ["s1", "s2"]
    edge.take_over()
    _do(edge, PRES, "board.update", {"update": _drawn(page, PRES.id, "s3")})  # from the page as it was
    with pytest.raises(ControlError, match="only the host"):
        _do(edge, ANN, "board.clear", {})
    assert edge.board.ids == [["s1", "s2", "s3"]] and edge.board.by["s1"] == PRES.id
    assert [e.kind for e in edge.tick()] == ["board"]


async def test_a_late_edge_replays_the_stream_and_the_one_taking_over_reads_what_is_left(
    redis_server: str,
) -> None:
    """An edge that opens the room after the Q&A and the poll began gets them from the room's stream as it
    stands; the owner's last entries, written after the edge stopped reading, come in at the takeover; the
    numbers go on from the owner's."""
    from types import SimpleNamespace

    from redis.asyncio import Redis

    from mediaserver.cluster import keys
    from mediaserver.cluster.interaction import RoomInteraction

    key = b"cluster-secret-of-the-tests-0123456789"
    ra, rb = Redis.from_url(redis_server), Redis.from_url(redis_server)
    await ra.flushdb()
    owner_room = SimpleNamespace(name="standby", interaction=_room(), relay=None)
    edge_room = SimpleNamespace(name="standby", interaction=_room(), relay=None)

    def nodes(owner: tuple[str, int] | None) -> RoomInteraction:
        channel = SimpleNamespace(key=key, handlers={})
        r = ra if owner is None else rb
        return RoomInteraction(r, channel, lambda *_: owner_room, lambda _: owner, lambda _: 1)  # type: ignore[arg-type]

    a, b = nodes(None), nodes(("node-0", 1))
    a.own(owner_room)  # type: ignore[arg-type]
    a.start()
    try:
        owner = owner_room.interaction
        _do(owner, HOST, "qa.open", {})
        qid = _do(owner, ANN, "qa.ask", {"text": "Before the edge?"})["id"]
        _do(owner, BOB, "qa.upvote", {"id": qid})
        launched = owner.command(PRES, "poll.launch", {"poll": 3})
        assert not isinstance(launched, dict)
        await launched
        _do(owner, ANN, "poll.answer", {"answers": [{"question": 1, "options": [1]}]})
        owner.tick()

        async def written(seq: int) -> None:
            while True:
                got: Any = await ra.xrevrange(keys.room_log(owner_room.name), count=1)
                if got and max(e["seq"] for e in json.loads(got[0][1][b"e"])) >= seq:
                    return
                await asyncio.sleep(0.02)

        await asyncio.wait_for(written(owner.log.last_seq), 5)
        await b.edge(edge_room)  # type: ignore[arg-type]
        edge = edge_room.interaction
        assert edge.standby and edge.log.last_seq == owner.log.last_seq
        _same(owner, edge, "qa", "polls")
        # the owner goes on after the edge's last read (its reader is not running): then it dies
        _do(owner, HOST, "qa.answer", {"id": qid})
        _do(owner, BOB, "poll.answer", {"answers": [{"question": 1, "options": [2]}]})
        owner.tick()
        await asyncio.wait_for(written(owner.log.last_seq), 5)
        await b.take_over(edge_room, 1)  # type: ignore[arg-type]
        assert not edge.standby and edge_room.relay is None
        _same(owner, edge, "qa", "polls")
        put = edge.tick()  # what was read at the takeover goes to this node's people too
        assert [e.kind for e in put] == ["question", "pollResults"]
        with pytest.raises(ControlError, match="answered this poll already"):
            _do(edge, BOB, "poll.answer", {"answers": [{"question": 1, "options": [1]}]})
        assert _do(edge, HOST, "qa.publish", {"id": qid})["seq"] == owner.log.last_seq + 1
        b.start()  # its writer: the dead owner's entries are not written again, this node's are
        edge.tick()
        await asyncio.wait_for(written(edge.log.last_seq), 5)
        items: Any = await ra.xrange(keys.room_log(owner_room.name))
        seqs = [[e["seq"] for e in json.loads(f[b"e"])] for _, f in items]
        assert seqs[-1] == [owner.log.last_seq + 1] and sum(seqs, []) == list(range(1, seqs[-1][0] + 1))
    finally:
        await a.stop()
        await b.stop()
        await ra.aclose()
        await rb.aclose()
