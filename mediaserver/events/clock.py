"""The events' clock (R-ROOM-4, R-AUTO-1): what happens to events by time alone. Sessions whose room has ended
are closed; automated events start by themselves at their time and end when their timeline has played (a start
that cannot happen is recorded as failed, mediaserver.events.automation); a scheduled event whose day has
passed leaves the dashboard, and if it never ran nothing of it is kept and its payers are told.

The dispatcher's sweep (mediaserver.outbox.dispatch) runs :class:`EventClock` as one of its chores; the
composition root (mediaserver.app) wires it. This module sits above the life cycle and automation, which is
what lets automation's rules stay free of the life cycle."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import localtime
from mediaserver.errors import ControlError
from mediaserver.events import automation, lifecycle
from mediaserver.rtc.rooms import RoomManager
from mediaserver.store.db import utcnow
from mediaserver.store.models import Event


class EventClock:
    """One tick of the clock in the caller's transaction, for the dispatcher's sweep."""

    def __init__(self, rooms: RoomManager, base_url: str, payers: lifecycle.Payers) -> None:
        self.rooms, self.base_url, self.payers = rooms, base_url, payers

    async def __call__(self, s: AsyncSession, now: dt.datetime | None = None) -> None:
        await sweep(s, self.rooms, self.base_url, self.payers, now)


async def sweep(
    s: AsyncSession,
    rooms: RoomManager,
    base_url: str,
    payers: lifecycle.Payers,
    now: dt.datetime | None = None,
) -> None:
    """Everything that is due at ``now`` (see the module's docstring)."""
    now = now or utcnow()
    await lifecycle.reconcile(s, rooms, now=now, base_url=base_url)
    await run_automated(s, rooms, base_url, now)
    past = await s.scalars(
        select(Event).where(
            Event.kind.in_(("scheduled", "automated")),
            Event.status == "planned",
            Event.starts_at.is_not(None),
        )
    )
    for ev in list(past):
        assert ev.starts_at is not None
        tz = localtime.zone(ev.timezone)
        if ev.starts_at.astimezone(tz).date() < now.astimezone(tz).date():
            if ev.ran:
                ev.status = "done"
            else:
                await payers(s, ev, now)  # it never took place: its payers are told (R-BILL-10)
                await s.delete(ev)


async def run_automated(s: AsyncSession, rooms: RoomManager, base_url: str, now: dt.datetime) -> None:
    """Automated events: start the due ones, end the ones whose timeline has played (R-AUTO-1)."""
    due = list(
        await s.scalars(
            select(Event)
            .where(Event.kind == "automated", Event.status == "planned", Event.starts_at <= now)
            .order_by(Event.starts_at, Event.id)
        )
    )
    for ev in due:
        assert ev.starts_at is not None
        if ev.starts_at + dt.timedelta(seconds=automation.length(ev)) <= now:
            await automation.fail(
                s,
                ev,
                "missed",
                "the server was not running at any time between its start and the end of its timeline",
                now,
                base_url,
            )
            continue
        try:
            async with s.begin_nested():
                await lifecycle.start_event(s, None, ev.id, rooms, now, ev=ev)
        except ControlError as e:
            await automation.fail(s, ev, e.code, e.message, now, base_url)
    running = await s.scalars(select(Event).where(Event.kind == "automated", Event.status == "live"))
    for ev in list(running):
        session = await automation.open_session(s, ev)
        started = session.started_at if session is not None else ev.starts_at
        if started is not None and started + dt.timedelta(seconds=automation.length(ev)) <= now:
            await lifecycle.end_event(s, None, ev.id, rooms, base_url, now, ev=ev)
