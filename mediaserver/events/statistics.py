"""Statistics (R-STAT-1): per account, events per month, meetings against webinars, attendees and their
countries and devices; per event, each attendee with e-mail, join and leave times, time attended, browser, OS,
device, country, rating, poll and test answers, Q&A and chat counts, and the event's totals; the attendee
table as CSV or XLSX (mediaserver.exports).

Who sees what is the events' rule (mediaserver.events.visibility): the owner of a main account sees all of it,
an additional user their own events, a sub-account its own. An attendee is a person (their e-mail, lower
case): their joins of an event (attendance rows, mediaserver.events.attendance) add up, the first join and
the last leave; a stay still open counts until the end of its session, or now while it runs. The host is not
an attendee. Chat messages and questions are counted by the room's ids of the person's stays (attendances
made before these were kept: by the name the person had in the room).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import exports
from mediaserver.accounts.identity import Principal
from mediaserver.errors import ControlError
from mediaserver.events import lifecycle, visibility
from mediaserver.exports import Export
from mediaserver.interaction.polls_store import cell_text
from mediaserver.store.db import utcnow
from mediaserver.store.models import (
    Attendance,
    ChatMessage,
    Event,
    EventRating,
    EventSession,
    PollAnswer,
    PollLaunch,
    SessionQuestion,
)

MONTHS_MAX = 60  # the longest range of months one request covers
NOT_ATTENDEES = ("host",)
COLUMNS = (
    "name",
    "email",
    "role",
    "joined",
    "left",
    "seconds attended",
    "browser",
    "os",
    "device",
    "country",
    "rating",
    "comment",
    "questions",
    "chat messages",
    "poll answers",
)


# ---------------------------------------------------------------- months


def month_of(text: str, what: str) -> dt.date:
    """``YYYY-MM`` as the first day of that month; 400 otherwise."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", text):
            raise ValueError(text)
        got = dt.datetime.strptime(text, "%Y-%m").date()
        if not 1970 <= got.year <= 9000:
            raise ValueError(text)
    except ValueError:
        raise ControlError("bad_request", f"'{what}' must be a month as YYYY-MM, e.g. 2026-03") from None
    return got


def _next(month: dt.date) -> dt.date:
    return dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def months(start: str | None, end: str | None, today: dt.date | None = None) -> list[dt.date]:
    """The months from ``start`` to ``end`` (YYYY-MM, both included); by default the last 12 to this one."""
    today = today or utcnow().date()
    last = month_of(end, "to") if end else today.replace(day=1)
    if start:
        first = month_of(start, "from")
    else:
        first = last
        for _ in range(11):
            first = (first - dt.timedelta(days=1)).replace(day=1)
    if first > last:
        raise ControlError("bad_request", "'from' must not be after 'to'")
    out = [first]
    while out[-1] < last:
        out.append(_next(out[-1]))
        if len(out) > MONTHS_MAX:
            raise ControlError("bad_request", f"at most {MONTHS_MAX} months at once")
    return out


def _utc(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


# ---------------------------------------------------------------- per account


async def account(s: AsyncSession, p: Principal, start: str | None, end: str | None) -> dict[str, Any]:
    """Per account (the events the principal sees) over a range of months: events held per month (an event
    counts in each month one of its sessions started in), meetings and webinars, attendees (a person per
    event), their countries and devices, and on-demand views."""
    span = months(start, end)
    since, until = _utc(span[0]), _utc(_next(span[-1]))
    held = await s.execute(
        select(EventSession.event_id, EventSession.started_at, Event.room_type)
        .join(Event, Event.id == EventSession.event_id)
        .where(visibility.events(p), EventSession.started_at >= since, EventSession.started_at < until)
    )
    per_month: dict[str, set[int]] = {m.strftime("%Y-%m"): set() for m in span}
    kinds: dict[int, str] = {}
    for event_id, started, room_type in held:
        per_month[started.strftime("%Y-%m")].add(event_id)
        kinds[event_id] = room_type
    in_range = (
        Attendance.event_id.in_(select(Event.id).where(visibility.events(p))),
        Attendance.joined_at >= since,
        Attendance.joined_at < until,
    )
    # a person per event: their latest join of it stands for them
    people = (
        select(func.max(Attendance.id))
        .where(*in_range, Attendance.role.not_in((*NOT_ATTENDEES, "viewer")))
        .group_by(Attendance.event_id, func.lower(Attendance.email))
    )
    counted = Attendance.id.in_(people)

    async def breakdown(column: Any) -> dict[str, int]:
        rows = await s.execute(select(column, func.count()).where(counted).group_by(column))
        return {str(k or "unknown"): int(n) for k, n in rows}

    attendees = int(await s.scalar(select(func.count()).select_from(Attendance).where(counted)) or 0)
    return {
        "from": span[0].strftime("%Y-%m"),
        "to": span[-1].strftime("%Y-%m"),
        "months": [
            {
                "month": m,
                "events": len(ids),
                "meetings": sum(1 for i in ids if kinds[i] == "meeting"),
                "webinars": sum(1 for i in ids if kinds[i] == "webinar"),
            }
            for m, ids in per_month.items()
        ],
        "events": len(kinds),
        "meetings": sum(1 for k in kinds.values() if k == "meeting"),
        "webinars": sum(1 for k in kinds.values() if k == "webinar"),
        "attendees": attendees,
        "views": await _views(s, in_range),
        "countries": await breakdown(Attendance.country),
        "devices": await breakdown(Attendance.device),
        "browsers": await breakdown(Attendance.browser),
    }


async def _views(s: AsyncSession, in_range: tuple[Any, ...]) -> int:
    """On-demand views in the range (R-AUTO-2: each view is an attendance of role viewer)."""
    where = (*in_range, Attendance.role == "viewer")
    return int(await s.scalar(select(func.count()).select_from(Attendance).where(*where)) or 0)


# ---------------------------------------------------------------- per event


@dataclass
class Person:
    """One attendee of an event: their joins added up."""

    name: str
    email: str
    role: str
    joined_at: dt.datetime
    left_at: dt.datetime | None = None
    seconds: int = 0
    browser: str | None = None
    os: str | None = None
    device: str | None = None
    country: str | None = None
    rating: int | None = None
    comment: str = ""
    questions: int = 0
    chat_messages: int = 0
    answers: list[dict[str, Any]] = field(default_factory=list)
    room_ids: set[str] = field(default_factory=set)  # the room's ids of their stays

    def row(self) -> list[Any]:
        """The export's row (COLUMNS)."""
        polls = " | ".join(f"{a['poll']}: {a['text']}" for a in self.answers)
        return [
            self.name,
            self.email,
            self.role,
            self.joined_at,
            self.left_at or "",
            self.seconds,
            self.browser or "",
            self.os or "",
            self.device or "",
            self.country or "",
            self.rating if self.rating is not None else "",
            self.comment,
            self.questions,
            self.chat_messages,
            polls,
        ]


def _stay_end(a: Attendance, sessions: dict[int, EventSession], now: dt.datetime) -> dt.datetime:
    """Where a stay still open ends: its session's end (the server went away before it could write the
    leave), or now."""
    sess = sessions.get(a.session_id or 0)
    return sess.ended_at if sess is not None and sess.ended_at is not None else now


def _people(rows: list[Attendance], sessions: dict[int, EventSession], now: dt.datetime) -> dict[str, Person]:
    out: dict[str, Person] = {}
    for a in rows:  # oldest join first
        key = a.email.lower()
        person = out.get(key)
        if person is None:
            person = out[key] = Person(a.name, a.email, a.role, a.joined_at)
        seconds = a.seconds_attended or 0
        left = a.left_at
        if a.in_room_since is not None:
            end = max(_stay_end(a, sessions, now), a.in_room_since)
            seconds += round((end - a.in_room_since).total_seconds())
            left = end
        person.seconds += seconds
        if left is not None and (person.left_at is None or left > person.left_at):
            person.left_at = left
        person.name, person.role = a.name, a.role  # the latest join's
        person.room_ids.update(a.participant_ids or ())
        for name in ("browser", "os", "device", "country"):
            if getattr(a, name):
                setattr(person, name, getattr(a, name))
    return out


async def _answers(s: AsyncSession, ev: Event, people: dict[str, Person]) -> None:
    got = await s.execute(
        select(PollAnswer, PollLaunch)
        .join(PollLaunch, PollLaunch.id == PollAnswer.launch_id)
        .where(PollLaunch.event_id == ev.id)
        .order_by(PollAnswer.id)
    )
    for a, launch in got:
        person = people.get(a.email.lower())
        if person is None:
            continue
        by_q = {x.get("question"): x for x in a.answers}
        text = "; ".join(f"{q.get('text', '')}: {cell_text(q, by_q.get(q['id']))}" for q in launch.questions)
        person.answers.append(
            {
                "poll": launch.name,
                "kind": launch.kind,
                "launchId": launch.id,
                "answers": a.answers,
                "text": text,
                "score": a.score,
                "answeredAt": a.answered_at,
            }
        )


async def _counts(s: AsyncSession, ev: Event, people: dict[str, Person]) -> None:
    """Each person's chat messages and questions: by the room's ids of their stays; a person with none kept
    (attendances older than migration 0018) by the name they had in the room."""
    by_id = {i: p for p in people.values() for i in p.room_ids}
    by_name: dict[str, list[Person]] = {}
    for person in people.values():
        if not person.room_ids:
            by_name.setdefault(person.name, []).append(person)
    chat = await s.execute(
        select(ChatMessage.sender_id, ChatMessage.sender_name, func.count())
        .where(ChatMessage.event_id == ev.id)
        .group_by(ChatMessage.sender_id, ChatMessage.sender_name)
    )
    for pid, name, n in chat:
        for person in [by_id[pid]] if pid in by_id else by_name.get(name, []):
            person.chat_messages += int(n)
    asked = await s.execute(
        select(SessionQuestion.asker_id, SessionQuestion.asker_name, func.count())
        .where(SessionQuestion.event_id == ev.id)
        .group_by(SessionQuestion.asker_id, SessionQuestion.asker_name)
    )
    for pid, name, n in asked:
        for person in [by_id[pid]] if pid in by_id else by_name.get(name, []):
            person.questions += int(n)


async def attendees(s: AsyncSession, ev: Event) -> list[Person]:
    """The event's attendees (not its host), in the order they first joined."""
    rows = list(
        await s.scalars(
            select(Attendance)
            .where(Attendance.event_id == ev.id, Attendance.role.not_in(NOT_ATTENDEES))
            .order_by(Attendance.joined_at, Attendance.id)
        )
    )
    sessions = {x.id: x for x in await s.scalars(select(EventSession).where(EventSession.event_id == ev.id))}
    people = _people(rows, sessions, utcnow())
    for r in await s.scalars(select(EventRating).where(EventRating.event_id == ev.id)):
        person = people.get(r.email)
        if person is not None:
            person.rating, person.comment = r.stars, r.comment
    await _answers(s, ev, people)
    await _counts(s, ev, people)
    return list(people.values())


async def event(s: AsyncSession, p: Principal, event_id: int) -> tuple[Event, list[Person], dict[str, Any]]:
    """An event's attendees and totals: how many, their time attended (sum and average), the average
    rating of all its ratings and how many, the countries and devices, questions and chat messages."""
    ev = await lifecycle.get_event(s, p, event_id)
    people = await attendees(s, ev)
    ratings = [
        int(x) for x in await s.scalars(select(EventRating.stars).where(EventRating.event_id == ev.id))
    ]
    seconds = sum(x.seconds for x in people)
    totals = {
        "attendees": len(people),
        "secondsAttended": seconds,
        "averageSecondsAttended": round(seconds / len(people)) if people else 0,
        "ratings": len(ratings),
        "averageRating": round(sum(ratings) / len(ratings), 2) if ratings else None,
        "questions": sum(x.questions for x in people),
        "chatMessages": sum(x.chat_messages for x in people),
        "pollAnswers": sum(len(x.answers) for x in people),
        "countries": dict(Counter(x.country or "unknown" for x in people)),
        "devices": dict(Counter(x.device or "unknown" for x in people)),
    }
    return ev, people, totals


async def export(s: AsyncSession, p: Principal, event_id: int, fmt: str) -> Export:
    """The event's attendee table as CSV or XLSX (safe to open in a spreadsheet: mediaserver.exports)."""
    if fmt not in exports.FORMATS:
        raise ControlError("bad_request", "'format' must be csv or xlsx")
    ev, people, _ = await event(s, p, event_id)
    rows = [x.row() for x in people]
    return await exports.table(fmt, f"event-{ev.id}-attendees", COLUMNS, rows, sheet="attendees")
