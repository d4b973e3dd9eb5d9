"""The whiteboard kept with an event's session (issue 17, R-INT-5): the room's board
(mediaserver.interaction.board) records its whole document through the room's journal (kind ``board``) at
most every ``board_save_seconds`` while it changes and once when the session ends, so the writes are bounded
(a board drawn on all session long costs one row update per period, whatever the number of strokes); this
module writes it, one row per session, and exports it as PNG (a page) and PDF (every page), drawn on the
server (mediaserver.interaction.board_render).

A save MERGES the recorded document into the one already kept (Yjs updates merge): a server restarted during
the session starts a new, empty board for the room, and its saves add to what was drawn before the restart
instead of replacing it. A board drawn while the event waited in the lobby is saved by the first save after
the session starts (the room keeps the same document). Instant and ad-hoc rooms belong to no event: not kept.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from pycrdt import merge_updates
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.errors import ControlError
from mediaserver.events.room_sessions import at_ms, event_of_room, session_at
from mediaserver.exports import Export
from mediaserver.interaction import board_render
from mediaserver.interaction.journal import Journal
from mediaserver.store.models import Event, EventSession, SessionBoard

FORMATS = {"png": board_render.PNG, "pdf": board_render.PDF}


def register(journal: Journal) -> None:
    """Keep the event rooms' boards (the composition root calls this with the app's journal)."""
    journal.register("board", write_boards)


async def write_boards(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of kind ``board``: each record is the room's whole board at a moment."""
    found = await event_of_room(s, room)
    if found is None:
        return
    ev_id, sessions = found
    for item in items:
        at = at_ms(item["at"])
        sid = session_at(sessions, at, bool(item.get("final")))
        if sid is None:  # the lobby: the next save, in the session, has it
            continue
        state = base64.b64decode(item["state"])
        row = await s.scalar(select(SessionBoard).where(SessionBoard.session_id == sid))
        if row is None:
            s.add(SessionBoard(event_id=ev_id, session_id=sid, state=state, saved_at=at))
        else:
            row.state, row.saved_at = merge_updates(row.state, state), at
        await s.flush()


async def saved(s: AsyncSession, ev: Event, sess: EventSession) -> SessionBoard:
    row = await s.scalar(select(SessionBoard).where(SessionBoard.session_id == sess.id))
    if row is None:
        raise ControlError("not_found", "nobody drew on the whiteboard in this session", 404)
    return row


async def export(s: AsyncSession, ev: Event, sess: EventSession, fmt: str, page: int = 1) -> Export:
    """The session's board as PNG (page ``page``, from 1) or PDF (every page), drawn in a worker thread."""
    row = await saved(s, ev, sess)
    state = row.state
    name = f"board-{ev.room_id}-{sess.id}"
    if fmt == "png":
        count = len(await asyncio.to_thread(board_render.pages, state))
        if not 1 <= page <= count:
            raise ControlError("bad_request", f"'page' must be from 1 to {count}, the board's pages")
        body = await asyncio.to_thread(board_render.png, state, page - 1)
        return Export(f"{name}-p{page}.png", FORMATS["png"], body)
    body = await asyncio.to_thread(board_render.pdf, state)
    return Export(f"{name}.pdf", FORMATS["pdf"], body)
