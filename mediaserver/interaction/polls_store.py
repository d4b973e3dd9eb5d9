"""Polls and tests of events in the database (R-INT-3, R-STAT-1, issue 16): the organiser's polls (saved
before the event or during it), their launches in the room, the answers per attendee, the results and their
CSV and XLSX exports, and the ``poll.closed`` webhook.

A poll belongs to an event and follows it: whoever sees and manages the event (mediaserver.events.visibility,
through :func:`mediaserver.events.lifecycle.get_event`) manages its polls; for anyone else it does not exist
(404). Its questions are stored as a list (``Poll.questions``)::

    {"id": 1, "text": "...", "kind": "single" | "multiple" | "short", "points": 1,
     "options": [{"id": 1, "text": "...", "imageFileId": 7 | null, "correct": false}],
     "accepted": ["..."]}            # a test's accepted short answers (compared ignoring case)

Ids are given here, in order, from 1. A test's choice question has its correct options (a single-choice one
exactly one); a poll has none. An option's image is a finished PNG or JPG file of the event's
account that the organiser reaches; the room shows it from a signed ``/play`` URL (:func:`image_type`).

The room launches a poll through :class:`Launcher` (the room's ``PollSource``), which stores the launch with
the event's current session and the questions as launched; the room records answers and the close through
the journal (:func:`register`), written in batches.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import exports
from mediaserver.accounts.identity import Principal
from mediaserver.errors import ControlError, not_found
from mediaserver.events import lifecycle, ondemand, visibility
from mediaserver.events.automation import open_session
from mediaserver.exports import Export
from mediaserver.interaction import polls as rules
from mediaserver.interaction.journal import Journal
from mediaserver.library.files import extension
from mediaserver.outbox import webhooks
from mediaserver.store.db import Database, paged, utcnow
from mediaserver.store.models import Event, LibraryFile, Poll, PollAnswer, PollLaunch

MAX_QUESTIONS = 50
MAX_OPTIONS = 20
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg"}  # the library's images (R-FILE-4)
IMAGE_TTL = 12 * 3600  # seconds an option's image URL works (a late joiner's snapshot has the launch's)


def image_type(name: str) -> str | None:
    return IMAGE_TYPES.get(extension(name))


# ---------------------------------------------------------------- the rules of a poll


def normalize(kind: str, questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions as stored (ids given, defaults filled), or ControlError (400) naming the question and
    what is wrong with it."""
    if kind not in rules.KINDS:
        raise ControlError("bad_request", "'kind' must be 'poll' or 'test'")
    if not 1 <= len(questions) <= MAX_QUESTIONS:
        raise ControlError("bad_request", f"a {kind} has 1 to {MAX_QUESTIONS} questions")
    out = []
    for n, q in enumerate(questions, start=1):
        qkind = q.get("kind")
        options = list(q.get("options") or [])
        accepted = [str(t).strip() for t in q.get("accepted") or [] if str(t).strip()]
        where = f"question {n}"
        if qkind == "short":
            if options:
                raise ControlError("bad_request", f"{where}: a short-answer question has no options")
        elif not 2 <= len(options) <= MAX_OPTIONS:
            raise ControlError("bad_request", f"{where}: a choice question has 2 to {MAX_OPTIONS} options")
        if accepted and qkind != "short":
            raise ControlError("bad_request", f"{where}: 'accepted' answers are for short-answer questions")
        right = [o for o in options if o.get("correct")]
        if kind == "poll" and (right or accepted):
            raise ControlError(
                "bad_request", f"{where}: a poll has no correct answers; make it a test (kind 'test')"
            )
        if kind == "test" and qkind == "single" and len(right) != 1:
            raise ControlError(
                "bad_request", f"{where}: a single-choice question of a test has exactly one correct option"
            )
        if kind == "test" and qkind == "multiple" and not right:
            raise ControlError(
                "bad_request",
                f"{where}: a multiple-choice question of a test needs at least one correct option",
            )
        for m, o in enumerate(options, start=1):
            if not str(o.get("text") or "").strip() and not o.get("imageFileId"):
                raise ControlError("bad_request", f"{where}, option {m}: give a 'text', an image or both")
        out.append(
            {
                "id": n,
                "text": q["text"],
                "kind": qkind,
                "points": int(q.get("points") or 1),
                "options": [
                    {
                        "id": m,
                        "text": str(o.get("text") or ""),
                        "imageFileId": o.get("imageFileId"),
                        "correct": bool(o.get("correct")) if kind == "test" else False,
                    }
                    for m, o in enumerate(options, start=1)
                ],
                "accepted": accepted,
            }
        )
    return out


async def check_images(
    s: AsyncSession, account_id: int, questions: list[dict[str, Any]], reachable: ColumnElement[bool]
) -> None:
    """Every image an option names is a finished image file of the event's account that the organiser
    reaches (visibility.files): 404, 409 or 415 naming the option otherwise."""
    for q in questions:
        for o in q["options"]:
            file_id = o.get("imageFileId")
            if not file_id:
                continue
            where = f"question {q['id']}, option {o['id']}"
            f = await s.scalar(
                select(LibraryFile).where(
                    LibraryFile.id == int(file_id), LibraryFile.account_id == account_id, reachable
                )
            )
            if f is None:
                raise ControlError(
                    "not_found", f"{where}: no file {file_id} in this account's file library", 404
                )
            if f.status != "complete":
                raise ControlError("file_incomplete", f"{where}: {f.name!r} is still uploading", 409)
            if image_type(f.name) is None:
                raise ControlError(
                    "unsupported_file",
                    f"{where}: {f.name!r} is not an image; use a PNG or JPG file",
                    415,
                )


# ---------------------------------------------------------------- the organiser's polls


async def _poll(s: AsyncSession, p: Principal, event_id: int, poll_id: int) -> tuple[Event, Poll]:
    ev = await lifecycle.get_event(s, p, event_id)
    poll = await s.scalar(select(Poll).where(Poll.id == poll_id, Poll.event_id == ev.id))
    if poll is None:
        raise not_found("poll of this event")
    return ev, poll


async def _save(s: AsyncSession, p: Principal, ev: Event, poll: Poll, data: dict[str, Any]) -> Poll:
    questions = normalize(data["kind"], data["questions"])
    await check_images(s, ev.account_id, questions, visibility.files(p))
    poll.name, poll.kind, poll.questions, poll.updated_at = data["name"], data["kind"], questions, utcnow()
    await s.flush()
    return poll


async def create_poll(s: AsyncSession, p: Principal, event_id: int, data: dict[str, Any]) -> Poll:
    """A new poll or test of an event (before it or during it)."""
    ev = await lifecycle.get_event(s, p, event_id, write=True)
    poll = Poll(account_id=ev.account_id, event_id=ev.id, name="", kind="poll", questions=[])
    s.add(poll)
    return await _save(s, p, ev, poll, data)


async def update_poll(
    s: AsyncSession, p: Principal, event_id: int, poll_id: int, data: dict[str, Any]
) -> Poll:
    """Replace a poll's name, kind and questions (a launch already made keeps its own copy)."""
    ev, poll = await _poll(s, p, event_id, poll_id)
    return await _save(s, p, ev, poll, data)


async def get_poll(s: AsyncSession, p: Principal, event_id: int, poll_id: int) -> Poll:
    return (await _poll(s, p, event_id, poll_id))[1]


async def delete_poll(s: AsyncSession, p: Principal, event_id: int, poll_id: int) -> None:
    """Delete a poll with its launches and answers."""
    _, poll = await _poll(s, p, event_id, poll_id)
    await s.delete(poll)


async def list_polls(
    s: AsyncSession, p: Principal, event_id: int, offset: int, limit: int
) -> tuple[list[Poll], int]:
    ev = await lifecycle.get_event(s, p, event_id)
    return await paged(s, Poll, Poll.event_id == ev.id, Poll.id, offset=offset, limit=limit)


async def launches_of(s: AsyncSession, poll: Poll) -> list[PollLaunch]:
    return list(
        await s.scalars(select(PollLaunch).where(PollLaunch.poll_id == poll.id).order_by(PollLaunch.id))
    )


# ---------------------------------------------------------------- the room's launches


async def launch_in(s: AsyncSession, ev: Event, poll_id: int, secret: str) -> dict[str, Any]:
    """Launch a poll of ``ev`` in the transaction ``s``: a ``PollLaunch`` row of the event's current session
    with the questions as they are now; the definition the room opens (option images as signed URLs)."""
    poll = await s.scalar(select(Poll).where(Poll.id == poll_id, Poll.event_id == ev.id))
    if poll is None:
        raise not_found("poll of this event")
    session = await open_session(s, ev)
    launch = PollLaunch(
        poll_id=poll.id,
        event_id=ev.id,
        session_id=session.id if session is not None else None,
        name=poll.name,
        kind=poll.kind,
        questions=poll.questions,
    )
    s.add(launch)
    await s.flush()

    def image(option: dict[str, Any]) -> str | None:
        file_id = option.get("imageFileId")
        if not file_id:
            return None
        token, _ = ondemand.sign_watch(secret, int(file_id), ev.id, IMAGE_TTL)
        return f"/play/{token}"

    questions = [{**q, "options": [{**o, "image": image(o)} for o in q["options"]]} for q in poll.questions]
    return {
        "launch": launch.id,
        "poll": poll.id,
        "name": poll.name,
        "kind": poll.kind,
        "questions": questions,
    }


async def launched_in_session(s: AsyncSession, poll_id: int, session_id: int) -> bool:
    """Whether the poll was launched in this session already (the automated timeline launches it once)."""
    got = await s.scalar(
        select(PollLaunch.id)
        .where(PollLaunch.poll_id == poll_id, PollLaunch.session_id == session_id)
        .limit(1)
    )
    return got is not None


class Launcher:
    """The rooms' :class:`mediaserver.interaction.polls.PollSource`: a poll of the event of a room, launched
    in a transaction of its own (:func:`launch_in`)."""

    def __init__(self, db: Database, secret: str) -> None:
        self.db = db
        self.secret = secret

    async def launch(self, room_id: str, poll_id: int) -> dict[str, Any]:
        async with self.db.tx() as s:
            ev = await s.scalar(select(Event).where(Event.room_id == room_id))
            if ev is None:
                raise ControlError("no_event", "polls belong to an event: this room has none", 409)
            return await launch_in(s, ev, poll_id, self.secret)

    async def saved(self, room_id: str) -> list[dict[str, Any]]:
        async with self.db.tx() as s:
            ev = await s.scalar(select(Event).where(Event.room_id == room_id))
            if ev is None:
                raise ControlError("no_event", "polls belong to an event: this room has none", 409)
            polls = await s.scalars(select(Poll).where(Poll.event_id == ev.id).order_by(Poll.id).limit(200))
            return [
                {"id": p.id, "name": p.name, "kind": p.kind, "questions": len(p.questions)} for p in polls
            ]


async def offers_image(s: AsyncSession, event_id: int, file_id: int) -> bool:
    """Whether a poll of the event shows this file as an option's image (a signed /play URL may serve it)."""
    for questions in await s.scalars(select(Poll.questions).where(Poll.event_id == event_id)):
        for q in questions:
            if any(o.get("imageFileId") == file_id for o in q.get("options", ())):
                return True
    return False


def _ms(value: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(value) / 1000, dt.timezone.utc) if value else utcnow()


async def write_answers(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of ``pollAnswer``: one row per person and launch (a repeat is skipped)."""
    launches = {int(i["launch"]) for i in items}
    rows = await s.execute(
        select(PollAnswer.launch_id, PollAnswer.person_key).where(PollAnswer.launch_id.in_(launches))
    )
    taken = {(int(r[0]), str(r[1])) for r in rows}
    known = set(await s.scalars(select(PollLaunch.id).where(PollLaunch.id.in_(launches))))
    for i in items:
        k = (int(i["launch"]), str(i["person"])[:400])
        if k in taken or k[0] not in known:
            continue
        taken.add(k)
        s.add(
            PollAnswer(
                launch_id=k[0],
                person_key=k[1],
                name=str(i.get("name") or "")[:120],
                email=str(i.get("email") or "")[:320],
                answers=i["answers"],
                score=i.get("score"),
                answered_at=_ms(i.get("at")),
            )
        )


async def write_closed(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of ``pollClosed``: the launch's end and results, and the ``poll.closed``
    webhook with the results' summary (issue 16 item 8)."""
    for i in items:
        launch = await s.get(PollLaunch, int(i["launch"]))
        if launch is None or launch.closed_at is not None:
            continue
        launch.closed_at, launch.results = _ms(i.get("closedAt")), i["results"]
        ev = await s.get(Event, launch.event_id)
        if ev is None:
            continue
        await webhooks.emit(
            s,
            ev.account_id,
            "poll.closed",
            {
                "event": webhooks.public_ref(ev),
                "poll": {"id": launch.poll_id, "name": launch.name, "kind": launch.kind},
                "launch": launch.id,
                "sessionId": launch.session_id,
                "startedAt": launch.started_at,
                "closedAt": launch.closed_at,
                "results": _described_results(launch.questions, launch.kind, i["results"]),
            },
        )


def register(journal: Journal) -> None:
    journal.register("pollAnswer", write_answers)
    journal.register("pollClosed", write_closed)


# ---------------------------------------------------------------- results and exports


def _described_results(questions: list[dict[str, Any]], kind: str, summary: dict[str, Any]) -> dict[str, Any]:
    """A tally's summary with the questions' and options' texts (what the API and the webhook show)."""
    counted = {q["id"]: q for q in summary.get("questions", [])}
    out: dict[str, Any] = {
        "respondents": summary.get("respondents", 0),
        "questions": [
            {
                "id": q["id"],
                "text": q["text"],
                "kind": q["kind"],
                "answered": counted.get(q["id"], {}).get("answered", 0),
                "options": [
                    {
                        "id": o["id"],
                        "text": o["text"],
                        "count": counted.get(q["id"], {}).get("counts", {}).get(str(o["id"]), 0),
                        **({"correct": bool(o.get("correct"))} if kind == "test" else {}),
                    }
                    for o in q["options"]
                ],
            }
            for q in questions
        ],
    }
    if kind == "test":
        out["maxScore"] = summary.get("maxScore")
        out["averageScore"] = summary.get("averageScore")
    return out


async def results(s: AsyncSession, p: Principal, event_id: int, poll_id: int) -> dict[str, Any]:
    """The poll with each of its launches' results, counted from the stored answers."""
    _, poll = await _poll(s, p, event_id, poll_id)
    launches = []
    for launch in await launches_of(s, poll):
        tally = rules.Tally(launch.questions)
        for a in await s.scalars(select(PollAnswer).where(PollAnswer.launch_id == launch.id)):
            tally.add(a.answers, a.score)
        launches.append(
            {
                "id": launch.id,
                "sessionId": launch.session_id,
                "startedAt": launch.started_at,
                "closedAt": launch.closed_at,
                **_described_results(launch.questions, launch.kind, tally.summary(launch.kind)),
            }
        )
    return {"poll": poll, "launches": launches}


async def answers(
    s: AsyncSession, p: Principal, event_id: int, poll_id: int, offset: int, limit: int
) -> tuple[list[PollAnswer], int]:
    """The answers per attendee (R-STAT-1), oldest first, of every launch of the poll."""
    _, poll = await _poll(s, p, event_id, poll_id)
    where = PollAnswer.launch_id.in_(select(PollLaunch.id).where(PollLaunch.poll_id == poll.id))
    return await paged(s, PollAnswer, where, PollAnswer.id, offset=offset, limit=limit)


def cell_text(q: dict[str, Any], a: dict[str, Any] | None) -> str:
    if a is None:
        return ""
    if "text" in a:
        return str(a["text"])
    names = {o["id"]: o["text"] or f"option {o['id']}" for o in q["options"]}
    return "; ".join(names.get(o, str(o)) for o in a.get("options", []))


async def export(s: AsyncSession, p: Principal, event_id: int, poll_id: int, fmt: str) -> Export:
    """Every answer of every launch of the poll, one row per attendee and launch, as CSV or XLSX."""
    if fmt not in exports.FORMATS:
        raise ControlError("bad_request", "'format' must be csv or xlsx")
    _, poll = await _poll(s, p, event_id, poll_id)
    launches = await launches_of(s, poll)
    width = max((len(launch.questions) for launch in launches), default=len(poll.questions))
    head = ["launch", "session", "started", "name", "email", "answered"]
    head += [f"question {n}" for n in range(1, width + 1)]
    if poll.kind == "test":
        head.append("score")
    rows: list[list[Any]] = [head]
    for launch in launches:
        got = await s.scalars(
            select(PollAnswer).where(PollAnswer.launch_id == launch.id).order_by(PollAnswer.id)
        )
        for a in got:
            by_q = {x["question"]: x for x in a.answers}
            row: list[Any] = [
                launch.id,
                launch.session_id or "",
                launch.started_at.isoformat(timespec="seconds"),
                a.name,
                a.email,
                a.answered_at.isoformat(timespec="seconds"),
            ]
            row += [cell_text(q, by_q.get(q["id"])) for q in launch.questions]
            row += [""] * (width - len(launch.questions))
            if poll.kind == "test":
                row.append(a.score if a.score is not None else "")
            rows.append(row)
    sheet = poll.name or "answers"
    return await exports.table(fmt, f"poll-{poll.id}-answers", rows[0], rows[1:], sheet=sheet)
