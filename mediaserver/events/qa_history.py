"""The Q&A list and the call to action's clicks kept with an event's session (issue 16, R-INT-2, R-INT-4).

The room's Q&A (mediaserver.interaction.questions) records each question through the room's journal (kind
``question``: its fields and ``event``: asked, answered, dismissed, published, closed, ended); here each
question is one row (``SessionQuestion``), made when it is asked and updated by its later records, so that
after Q&A closes (or the session ends) the row holds its final state and votes. The issue: "the list is
exported with the chat": it is listed and exported (CSV, XLSX) next to the session's chat through the API.

The call to action (mediaserver.interaction.cta) records each counted click (kind ``ctaClick``: a person's
first click on one call to action; their second is not counted by the room); here each is one row
(``CtaClick``) and the sessions' history counts them (``ctaClicks``, R-STAT-2).

Room and session follow the chat (mediaserver.events.room_sessions): only an event's room is kept, a record's
time names the session, a record made in the lobby is adopted by the session's start. Exports are safe to open
in a spreadsheet (mediaserver.exports).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import exports
from mediaserver.events.room_sessions import at_ms, event_of_room, session_at
from mediaserver.exports import Export
from mediaserver.interaction.journal import Journal
from mediaserver.store.db import paged
from mediaserver.store.models import CtaClick, Event, EventSession, SessionQuestion

COLUMNS = ("asked_at", "name", "role", "text", "state", "votes", "private", "published")
STATES = ("open", "answered", "dismissed")


def register(journal: Journal) -> None:
    """Keep the rooms' Q&A and call-to-action clicks (the app's journal, from the composition root)."""
    journal.register("question", write_questions)
    journal.register("ctaClick", write_clicks)


def _fields(q: dict[str, Any]) -> dict[str, Any]:
    """A question record's fields that may change after it is asked."""
    state = q.get("state")
    return {
        "text": str(q.get("text", "")),
        "state": state if state in STATES else "open",
        "votes": max(0, int(q.get("votes") or 0)),
        "private": bool(q.get("private")),
    }


async def write_questions(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of kind ``question``: a room's question records of a batch, in order. ``asked``
    makes the row; a later record updates the newest row of that question id (a room's ids start again when
    the room is made again, as the chat's do)."""
    found = await event_of_room(s, room)
    if found is None:  # an instant or ad-hoc room: not kept
        return
    ev_id, sessions = found
    now = dt.datetime.now(dt.timezone.utc)
    made: dict[str, int] = {}  # question id -> row id, this batch
    for q in items:
        qid = str(q.get("id", ""))[:24]
        what = q.get("event")
        row_id = None if what == "asked" else made.get(qid)
        if row_id is None and what != "asked":
            row_id = await s.scalar(
                select(SessionQuestion.id)
                .where(SessionQuestion.event_id == ev_id, SessionQuestion.question_id == qid)
                .order_by(SessionQuestion.id.desc())
                .limit(1)
            )
        values = _fields(q)
        if what == "published":
            values["published_at"] = now
        elif what in ("closed", "ended"):
            values["closed_at"] = now
        if row_id is not None:
            await s.execute(update(SessionQuestion).where(SessionQuestion.id == row_id).values(**values))
            continue
        asker = q.get("from") or {}
        asked = at_ms(q.get("at") or now.timestamp() * 1000)
        mid = q.get("message")
        made[qid] = int(
            (
                await s.execute(
                    insert(SessionQuestion)
                    .values(
                        event_id=ev_id,
                        session_id=session_at(sessions, asked),
                        question_id=qid,
                        message_id=None if mid is None else str(mid)[:24],
                        asker_id=str(asker.get("id", ""))[:64],
                        asker_name=str(asker.get("name", ""))[:120],
                        asker_role=str(asker.get("role", ""))[:16],
                        asked_at=asked,
                        **values,
                    )
                    .returning(SessionQuestion.id)
                )
            ).scalar_one()
        )


async def write_clicks(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of kind ``ctaClick``: one room's counted clicks of a batch, in one INSERT."""
    found = await event_of_room(s, room)
    if found is None:
        return
    ev_id, sessions = found
    rows = []
    for c in items:
        person = c.get("from") or {}
        at = at_ms(c["at"])
        rows.append(
            {
                "event_id": ev_id,
                "session_id": session_at(sessions, at),
                "cta_id": str(c.get("cta", ""))[:24],
                "text": str(c.get("text", ""))[:200],
                "url": str(c.get("url", "")),
                "name": str(person.get("name", ""))[:120],
                "role": str(person.get("role", ""))[:16],
                "clicked_at": at,
            }
        )
    await s.execute(insert(CtaClick), rows)


# ---------------------------------------------------------------- reading


def _where(ev: Event, sess: EventSession) -> Any:
    return (SessionQuestion.event_id == ev.id) & (SessionQuestion.session_id == sess.id)


async def questions(
    s: AsyncSession, ev: Event, sess: EventSession, offset: int, limit: int
) -> tuple[list[SessionQuestion], int]:
    """A page of the session's questions, in the order asked, and how many it has."""
    order = (SessionQuestion.asked_at, SessionQuestion.id)
    return await paged(s, SessionQuestion, _where(ev, sess), *order, offset=offset, limit=limit)


def _row(q: SessionQuestion) -> list[Any]:
    return [
        q.asked_at,
        q.asker_name,
        q.asker_role,
        q.text,
        q.state,
        q.votes,
        "yes" if q.private else "",
        q.published_at if q.published_at is not None else "",
    ]


async def export(s: AsyncSession, ev: Event, sess: EventSession, fmt: str) -> Export:
    """The session's questions as CSV or XLSX (``fmt``; safe to open in a spreadsheet)."""
    rows = [
        _row(q)
        for q in await s.scalars(
            select(SessionQuestion)
            .where(_where(ev, sess))
            .order_by(SessionQuestion.asked_at, SessionQuestion.id)
        )
    ]
    return await exports.table(fmt, f"questions-{ev.room_id}-{sess.id}", COLUMNS, rows, sheet="questions")


async def clicks_by_session(s: AsyncSession, session_ids: Sequence[int]) -> dict[int, int]:
    """The counted call-to-action clicks of each of these sessions (R-STAT-2; absent: none)."""
    if not session_ids:
        return {}
    rows = await s.execute(
        select(CtaClick.session_id, func.count())
        .where(CtaClick.session_id.in_(list(session_ids)))
        .group_by(CtaClick.session_id)
    )
    return {int(sid): int(n) for sid, n in rows if sid is not None}
