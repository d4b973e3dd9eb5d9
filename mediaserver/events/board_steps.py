"""The whiteboard's drawing over time (issue 17 item 4: recordings keep what was presented). The room's board
(mediaserver.interaction.board) records, at most every second while it changes, what changed since its last
step (journal kind ``board_step``: a Yjs update); this module keeps one row a step with the event's session
and gives a recording's steps back, times from its start: everything drawn before the recording started is
merged into its first step (at 0), so a watch page that applies the steps in order up to a moment has the
board as it was then. Steps made while the event waited in the lobby belong to the session that starts next
(the board is the same document then)."""

from __future__ import annotations

import base64
from typing import Any

from pycrdt import merge_updates
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.events.room_sessions import at_ms, event_of_room, session_at
from mediaserver.interaction.journal import Journal
from mediaserver.store.models import Recording, SessionBoardStep

MAX_ROWS = 20000  # a recording's board is given by at most this many steps (5 hours of drawing, one a second)


def register(journal: Journal) -> None:
    """Keep the event rooms' drawing over time (the composition root calls this with the app's journal)."""
    journal.register("board_step", write_steps)


async def write_steps(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of kind ``board_step``: one room's steps of a batch, in one INSERT."""
    found = await event_of_room(s, room)
    if found is None:
        return
    ev_id, sessions = found
    rows = []
    for item in items:
        at = at_ms(item["at"])
        rows.append(
            {
                "event_id": ev_id,
                "session_id": session_at(sessions, at, bool(item.get("final"))),
                "at": at,
                "update": base64.b64decode(item["update"]),
            }
        )
    await s.execute(insert(SessionBoardStep), rows)


async def for_recording(s: AsyncSession, rec: Recording) -> list[dict[str, Any]]:
    """A recording's board steps, oldest first, as ``{t, update}`` (``t``: seconds from its start; ``update``:
    base64). Drawn before the recording started: one first step at 0; after it ended: left out."""
    if rec.session_id is None or rec.event_id is None:
        return []
    q = select(SessionBoardStep).where(
        SessionBoardStep.event_id == rec.event_id, SessionBoardStep.session_id == rec.session_id
    )
    if rec.ended_at is not None:
        q = q.where(SessionBoardStep.at <= rec.ended_at)
    zero, Step = rec.started_at, SessionBoardStep
    before = [r.update for r in await s.scalars(q.where(Step.at <= zero).order_by(Step.id))]
    rows = list(await s.scalars(q.where(Step.at > zero).order_by(Step.at, Step.id).limit(MAX_ROWS)))
    out = []
    if before:
        first = before[0] if len(before) == 1 else merge_updates(*before)
        out.append({"t": 0.0, "update": base64.b64encode(first).decode()})
    out += [
        {"t": round((r.at - zero).total_seconds(), 3), "update": base64.b64encode(r.update).decode()}
        for r in rows
    ]
    return out
