"""Time attended (R-STAT-1): an event's attendance row per join token, and the room's entries and exits with
that token, written from the room's journal (kind ``attendance``; mediaserver.rtc.rooms records them).

The rule of rejoins: each join (each join token the API gives, ``POST .../join``) is one ``Attendance`` row,
made at the join with what the request told of the client (mediaserver.events.client_profile: browser, OS,
device, country; never the address). Entering the room with that token sets ``in_room_since`` and keeps the
room's id of the participant (``participant_ids``: their chat messages and questions are counted by it);
leaving it (the person leaves, the connection drops, the host removes them, the session ends) adds the
stay's seconds to ``seconds_attended``, sets ``left_at`` and sends the ``participant.left`` webhook with the
time attended.
A reconnection with the same token (a dropped network, a reload) extends the same row; a new join makes a new
row. The statistics (mediaserver.events.statistics) add up a person's rows of an event by their e-mail.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.events.client_profile import Profile
from mediaserver.events.room_sessions import at_ms
from mediaserver.interaction.journal import Journal
from mediaserver.outbox import webhooks
from mediaserver.outbox.webhooks import public_ref
from mediaserver.store.models import Attendance, Event

ROOM_IDS_MAX = 200  # the room ids kept of one join's stays (a reconnecting client's are bounded)


def register(journal: Journal) -> None:
    """Keep the rooms' entries and exits (the app's journal, from the composition root)."""
    journal.register("attendance", write_stays)


def new_row(
    ev: Event, session_id: int | None, name: str, email: str, role: str, client: Profile | None
) -> Attendance:
    """The attendance row of one join, with what the request told of the client (R-STAT-1)."""
    row = Attendance(event_id=ev.id, session_id=session_id, name=name, email=email, role=role)
    if client is not None:
        row.browser, row.os, row.device, row.country = (
            client.browser,
            client.os,
            client.device,
            client.country,
        )
    return row


async def write_stays(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    """The journal's writer of kind ``attendance``: ``{"id", "in"}`` when a participant entered the room,
    ``{"id", "in", "out"}`` (ms since the epoch) when it left. Another event's rows are not touched."""
    ev = await s.scalar(select(Event).where(Event.room_id == room))
    if ev is None:
        return
    ids = {int(i["id"]) for i in items}
    notify = await webhooks.wanted(s, ev.account_id, "participant.left")
    rows = {
        a.id: a
        for a in await s.scalars(
            select(Attendance).where(Attendance.id.in_(ids), Attendance.event_id == ev.id)
        )
    }
    for item in items:
        a = rows.get(int(item["id"]))
        if a is None:
            continue
        entered = at_ms(item["in"])
        if "out" not in item:
            a.in_room_since, a.left_at = entered, None
            kept = list(a.participant_ids or [])
            if isinstance(item.get("pid"), str) and item["pid"] not in kept and len(kept) < ROOM_IDS_MAX:
                a.participant_ids = [*kept, item["pid"]]  # a new list: the JSON column sees the change
            continue
        left = at_ms(item["out"])
        stay = max(0, round((int(item["out"]) - int(item["in"])) / 1000))
        a.seconds_attended = (a.seconds_attended or 0) + stay
        a.left_at = left
        if a.in_room_since is not None and a.in_room_since <= entered:
            a.in_room_since = None  # this stay was the one open (another tab's may still be)
        if not notify:
            continue
        await webhooks.emit(
            s,
            ev.account_id,
            "participant.left",
            {
                "event": public_ref(ev),
                "participant": {"name": a.name, "email": a.email, "role": a.role},
                "joinedAt": entered.isoformat(),
                "leftAt": left.isoformat(),
                "secondsAttended": stay,
                "totalSecondsAttended": a.seconds_attended,
            },
        )
