"""The chat history kept with an event's session (issue 16, R-INT-1): what a room's chat records through the
room's journal (mediaserver.interaction.journal, kinds ``chat`` and ``chatDeleted``) is written here, and
listed and exported (CSV, XLSX) for the organiser through the API.

Only an event's room is kept: its room ID names the event (``Event.room_id``) and the message's time names the
session (the newest one started by then and not ended before it); a message written while the event waited in
the lobby has no session yet, and the session's start adopts it (mediaserver.events.lifecycle.start_event).
Instant rooms and ad-hoc rooms belong to no event: their chat is not kept beyond the room.

A message the host deleted is kept and marked deleted (``deletedAt``): the organiser's record of what was said
in a session includes what was moderated away (it is never shown to attendees again); the list and the
exports mark it, and ``?deleted=false`` leaves such messages out. Private messages (an attendee's to the
staff, the staff's replies) are in the exports too, marked private, with their recipient.

Exports are safe to open in a spreadsheet: in the CSV a cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return gets a leading ``'`` (CSV injection); in the XLSX every text is a string cell, never
a formula.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import exports
from mediaserver.events.room_sessions import at_ms, event_of_room, session_at
from mediaserver.exports import Export
from mediaserver.interaction.journal import Journal
from mediaserver.store.db import paged
from mediaserver.store.models import ChatMessage, Event, EventSession

COLUMNS = ("sent_at", "name", "role", "to", "private", "deleted", "text")


def register(journal: Journal) -> None:
    """Keep the rooms' chat (the composition root calls this with the app's journal)."""
    journal.register("chat", write_messages)
    journal.register("chatDeleted", write_deletions)


async def write_messages(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of kind ``chat``: one room's messages of a batch, in one INSERT."""
    found = await event_of_room(s, room)
    if found is None:  # an instant or ad-hoc room: not kept
        return
    ev_id, sessions = found
    rows = []
    for m in items:
        sender = m.get("from") or {}
        to = m.get("to")
        at = at_ms(m["at"])
        rows.append(
            {
                "event_id": ev_id,
                "session_id": session_at(sessions, at),
                "message_id": str(m["id"])[:24],
                "sender_id": str(sender.get("id", ""))[:64],
                "sender_name": str(sender.get("name", ""))[:120],
                "sender_role": str(sender.get("role", ""))[:16],
                "text": str(m.get("text", "")),
                "private": bool(m.get("private")),
                "to_name": None if to is None else str(to.get("name") if isinstance(to, dict) else to)[:120],
                "sent_at": at,
            }
        )
    await s.execute(insert(ChatMessage), rows)


async def write_deletions(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of kind ``chatDeleted``: the messages are marked, not erased. A room's message ids
    start again when the room is made again (a restart), so the newest message of that id is the one."""
    ev_id = await s.scalar(select(Event.id).where(Event.room_id == room))
    if ev_id is None:
        return
    now = dt.datetime.now(dt.timezone.utc)
    for item in items:
        newest = await s.scalar(
            select(ChatMessage.id)
            .where(ChatMessage.event_id == ev_id, ChatMessage.message_id == str(item.get("id")))
            .order_by(ChatMessage.id.desc())
            .limit(1)
        )
        if newest is not None:
            await s.execute(update(ChatMessage).where(ChatMessage.id == newest).values(deleted_at=now))


# ---------------------------------------------------------------- reading


def _where(ev: Event, sess: EventSession, deleted: bool) -> Any:
    where = (ChatMessage.event_id == ev.id) & (ChatMessage.session_id == sess.id)
    return where if deleted else where & ChatMessage.deleted_at.is_(None)


async def messages(
    s: AsyncSession, ev: Event, sess: EventSession, offset: int, limit: int, deleted: bool = True
) -> tuple[list[ChatMessage], int]:
    """A page of the session's chat, oldest first, and how many messages it has."""
    order = (ChatMessage.sent_at, ChatMessage.id)
    return await paged(s, ChatMessage, _where(ev, sess, deleted), *order, offset=offset, limit=limit)


async def _all(s: AsyncSession, ev: Event, sess: EventSession, deleted: bool) -> list[ChatMessage]:
    return list(
        await s.scalars(
            select(ChatMessage).where(_where(ev, sess, deleted)).order_by(ChatMessage.sent_at, ChatMessage.id)
        )
    )


def _row(m: ChatMessage) -> list[Any]:
    return [
        m.sent_at,
        m.sender_name,
        m.sender_role,
        m.to_name or "",
        "yes" if m.private else "",
        "yes" if m.deleted_at is not None else "",
        m.text,
    ]


async def export(s: AsyncSession, ev: Event, sess: EventSession, fmt: str, deleted: bool = True) -> Export:
    """The session's chat as CSV or XLSX (``fmt``; mediaserver.exports: safe to open in a spreadsheet)."""
    rows = [_row(m) for m in await _all(s, ev, sess, deleted)]
    return await exports.table(fmt, f"chat-{ev.room_id}-{sess.id}", COLUMNS, rows, sheet="chat")
