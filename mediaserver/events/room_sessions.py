"""What a room's journal records belongs to (issue 16): an event's room ID names the event (``Event.room_id``)
and a record's time names the session (the oldest one not ended before it). Shared by the writers that keep a
room's interaction with its session: the chat (mediaserver.events.chat_history), the Q&A list and the call to
action's clicks (mediaserver.events.qa_history). Instant and ad-hoc rooms belong to no event: nothing
is kept."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.errors import not_found
from mediaserver.store.models import (
    Attendance,
    ChatMessage,
    CtaClick,
    Event,
    EventSession,
    SessionBoardStep,
    SessionQuestion,
    SessionStage,
)

SESSIONS = 20  # the newest sessions of an event a batch's records are matched against


def at_ms(ms: Any) -> dt.datetime:
    """A record's time (ms since the epoch) as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(int(ms) / 1000, dt.timezone.utc)


def session_at(sessions: Sequence[EventSession], at: dt.datetime, final: bool = False) -> int | None:
    """The session a record made at ``at`` belongs to: the oldest one not ended before it. That is the
    session running then; for a record made just before the end and written after it, that session still;
    for one made in the lobby, the session that started after it (when the journal wrote it after the start,
    whose adoption did not see it). None: made in the lobby, no session yet (the next start adopts it).
    ``sessions`` are newest first (:func:`event_of_room`).

    ``final``: the record was made by the session's end itself (the whiteboard's last save), after the end
    was written: it belongs to the newest session started at or before it, ended or not."""
    if final:
        return next((s.id for s in sessions if s.started_at <= at), None)
    chosen = None
    for sess in sessions:  # newest first: older sessions ended earlier
        if sess.ended_at is not None and sess.ended_at < at:
            break
        chosen = sess.id
    return chosen


async def event_of_room(s: AsyncSession, room: str) -> tuple[int, list[EventSession]] | None:
    """The event of a room ID and its newest sessions (newest first); None for a room of no event."""
    ev_id = await s.scalar(select(Event.id).where(Event.room_id == room))
    if ev_id is None:
        return None
    sessions = list(
        await s.scalars(
            select(EventSession)
            .where(EventSession.event_id == ev_id)
            .order_by(EventSession.started_at.desc(), EventSession.id.desc())
            .limit(SESSIONS)
        )
    )
    return ev_id, sessions


#: what a room keeps with its event's session, made while the event waited in the lobby too: attendance
#: (R-STAT-2), chat (issue 16), questions and call-to-action clicks, the stage track and the board's steps
#: (issue 17). Their rows carry event_id and session_id (NULL in the lobby).
LOBBY_KEPT: tuple[type[Any], ...] = (
    Attendance,
    ChatMessage,
    SessionQuestion,
    CtaClick,
    SessionStage,
    SessionBoardStep,
)


async def adopt_lobby(s: AsyncSession, ev: Event, session_id: int) -> None:
    """What was kept while the event waited in the lobby belongs to the session that starts now."""
    for table in LOBBY_KEPT:
        await s.execute(
            update(table)
            .where(table.event_id == ev.id, table.session_id.is_(None))
            .values(session_id=session_id)
        )


async def session_of(s: AsyncSession, ev: Event, session_id: int) -> EventSession:
    """A session of ``ev`` (404 for another event's: its existence is not revealed)."""
    sess = await s.get(EventSession, session_id)
    if sess is None or sess.event_id != ev.id:
        raise not_found("session of this event")
    return sess
