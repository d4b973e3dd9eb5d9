"""The events' clock (R-ROOM-4, R-AUTO-1): what happens to events by time alone. Sessions whose room has ended
are closed; automated events start by themselves at their time and end when their timeline has played (a start
that cannot happen is recorded as failed, mediaserver.events.automation); a scheduled event whose day has
passed leaves the dashboard, and if it never ran nothing of it is kept and its payers are told.

The dispatcher's sweep (mediaserver.outbox.dispatch) runs :class:`EventClock` as one of its chores; the
composition root (mediaserver.app) wires it. This module sits above the life cycle and automation, which is
what lets automation's rules stay free of the life cycle."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import localtime
from mediaserver.errors import ControlError
from mediaserver.events import automation, lifecycle
from mediaserver.interaction import polls_store
from mediaserver.interaction.cta import CallToAction
from mediaserver.interaction.polls import Polls
from mediaserver.rtc.rooms import RoomManager
from mediaserver.store.db import Database, utcnow
from mediaserver.store.models import Event, EventSession


class EventClock:
    """One tick of the clock in the caller's transaction, for the dispatcher's sweep."""

    def __init__(self, rooms: RoomManager, base_url: str, payers: lifecycle.Payers, secret: str = "") -> None:
        self.rooms, self.base_url, self.payers, self.secret = rooms, base_url, payers, secret

    async def __call__(self, s: AsyncSession, now: dt.datetime | None = None) -> None:
        await sweep(s, self.rooms, self.base_url, self.payers, now, self.secret)


async def sweep(
    s: AsyncSession,
    rooms: RoomManager,
    base_url: str,
    payers: lifecycle.Payers,
    now: dt.datetime | None = None,
    secret: str = "",
) -> None:
    """Everything that is due at ``now`` (see the module's docstring; ``secret`` signs rating links)."""
    now = now or utcnow()
    await lifecycle.reconcile(s, rooms, now=now, base_url=base_url, secret=secret)
    await run_automated(s, rooms, base_url, now, secret)
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


async def run_automated(
    s: AsyncSession, rooms: RoomManager, base_url: str, now: dt.datetime, secret: str = ""
) -> None:
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
            await lifecycle.end_event(s, None, ev.id, rooms, base_url, now, ev=ev, secret=secret)


class TimelineClock:
    """R-AUTO-1, R-INT-3: a live automated event's timeline item ``poll`` with a ``pollId`` launches that poll
    of the event in its room for the item's time (once per session; not while another poll is open there) and
    closes it after. An item ``call_to_action`` with a URL is shown through the room's call to action
    (R-INT-4) for what is left of its time, so its clicks are counted as a live one's. Run every round of the
    dispatcher (about twice a second), not by the sweep (`sweep_interval`, 20 s): an item starts on
    time. A poll's launch is stored first; the room opens it once that is committed."""

    def __init__(self, db: Database, rooms: RoomManager, secret: str) -> None:
        self.db, self.rooms, self.secret = db, rooms, secret

    async def __call__(self, now: dt.datetime | None = None) -> None:
        now = now or utcnow()
        rooms = [  # issue 19: the room's owner node plays its timeline; an edge's copy only follows it
            r
            for r in self.rooms.rooms.values()
            if r.settings.event and r.settings.state == "live" and r.owner_node is None
        ]
        if not rooms:
            return
        opens: list[tuple[Polls, dict[str, Any]]] = []
        async with self.db.tx() as s:
            running = await s.scalars(
                select(Event).where(
                    Event.kind == "automated",
                    Event.status == "live",
                    Event.room_id.in_([r.settings.id for r in rooms]),
                )
            )
            for ev in list(running):
                session = await automation.open_session(s, ev)
                room = self.rooms.find(ev.room_id)
                if session is None or room is None:
                    continue
                _call_to_action(room.interaction.cta, ev, session, now, room.settings.language)
                got = await self._play(s, room.interaction.polls, ev, session, now)
                if got is not None:
                    opens.append((room.interaction.polls, got))
        for polls, definition in opens:
            if not polls.busy():
                polls.open(definition)

    async def _play(
        self, s: AsyncSession, polls: Polls, ev: Event, session: EventSession, now: dt.datetime
    ) -> dict[str, Any] | None:
        position = (now - session.started_at).total_seconds()
        for item in automation.timeline(ev):
            poll_id = item.get("pollId")
            if item.get("component") != "poll" or not poll_id:
                continue
            start = int(item.get("start", 0))
            end = start + int(item.get("duration", 0))
            run = polls.run
            if position >= end and run is not None and run.poll == poll_id and run.open:
                polls.close_launch(run.launch)
            elif start <= position < end and not polls.busy():
                if await polls_store.launched_in_session(s, int(poll_id), session.id):
                    continue
                try:
                    async with s.begin_nested():
                        return await polls_store.launch_in(s, ev, int(poll_id), self.secret)
                except ControlError:  # the poll was deleted since: the item shows its text only
                    continue
        return None


_BUTTON = {"en": "Open", "ru": "Открыть"}  # an item without ``buttonText``: the room page's own label


def _call_to_action(cta: CallToAction, ev: Event, session: EventSession, now: dt.datetime, lang: str) -> None:
    position = (now - session.started_at).total_seconds()
    for n, item in enumerate(automation.timeline(ev)):
        start, end = int(item.get("start", 0)), int(item.get("start", 0)) + int(item.get("duration", 0))
        if item.get("component") != "call_to_action" or not item.get("url") or not start <= position < end:
            continue
        button = item.get("buttonText") or _BUTTON.get(lang, _BUTTON["en"])
        text = item.get("text") or button
        cta.play(f"timeline-{n}", text, button, item["url"], math.ceil(end - position))
