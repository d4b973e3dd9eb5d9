"""What was on an event session's stage, and when (issue 17 item 4: recordings keep what was presented). The
room's interaction records the whole stage at each change of it (the journal's kind ``stage``: the document
and its page and zoom, the shared video's state, whether the whiteboard is shown and at which page); this
module writes one row a change and gives the track back, oldest first, for a session or for the span of one
of its recordings, with the times in seconds from that recording's start, so a watch page can show what was
presented beside the video. Changes made while the event waited in the lobby belong to the session that
starts next."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.events.room_sessions import at_ms, event_of_room, session_at
from mediaserver.interaction.journal import Journal
from mediaserver.store.models import Event, EventSession, Recording, SessionStage

MAX_ROWS = 20000  # a track is given up to this many changes (a page turned every second for 5 hours)


def register(journal: Journal) -> None:
    """Keep the event rooms' stage tracks (the composition root calls this with the app's journal)."""
    journal.register("stage", write_changes)


async def write_changes(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of kind ``stage``: one room's changes of a batch, in one INSERT."""
    found = await event_of_room(s, room)
    if found is None:
        return
    ev_id, sessions = found
    rows = []
    for item in items:
        at = at_ms(item["at"])
        rows.append(
            {"event_id": ev_id, "session_id": session_at(sessions, at), "at": at, "state": item["stage"]}
        )
    await s.execute(insert(SessionStage), rows)


async def track(
    s: AsyncSession, ev: Event, sess: EventSession, since: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The session's stage changes, oldest first, as ``{at, t, stage}`` (``t``: seconds from ``since``, the
    start of a recording, or of the session). The state in force at ``since`` comes first, at ``t`` 0."""
    zero = since or sess.started_at
    q = select(SessionStage).where(SessionStage.event_id == ev.id, SessionStage.session_id == sess.id)
    before = await s.scalar(q.where(SessionStage.at <= zero).order_by(SessionStage.at.desc()).limit(1))
    rows = list(await s.scalars(q.where(SessionStage.at > zero).order_by(SessionStage.at).limit(MAX_ROWS)))
    out = [{"at": zero, "t": 0.0, "stage": before.state}] if before is not None else []
    out += [{"at": r.at, "t": round((r.at - zero).total_seconds(), 3), "stage": r.state} for r in rows]
    return out


async def for_recording(s: AsyncSession, rec: Recording) -> list[dict[str, Any]]:
    """The stage track of a recording's span (its session, from its start to its end), times from its start;
    empty for a recording of no session or whose event is gone."""
    if rec.session_id is None or rec.event_id is None:
        return []
    ev, sess = await s.get(Event, rec.event_id), await s.get(EventSession, rec.session_id)
    if ev is None or sess is None:
        return []
    out = await track(s, ev, sess, since=rec.started_at)
    return [c for c in out if rec.ended_at is None or c["at"] <= rec.ended_at]
