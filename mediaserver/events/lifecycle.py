"""The life cycle of events (R-ROOM-4): kinds, settings, one live event per account (R-ROOM-5), start and
end, the room's own Start and End buttons, history (R-STAT-2) and thank-you e-mails (R-STAT-3). An event
owns a room ID; while it runs, the in-memory room of mediaserver.rtc.rooms carries it. Invitations are
mediaserver.events.invitations', registration and joining mediaserver.events.registration's, what happens
by time alone mediaserver.events.clock's."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import time
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import localtime
from mediaserver.accounts.identity import Principal
from mediaserver.billing import plans, providers, subscription
from mediaserver.errors import ControlError, not_found
from mediaserver.events import (
    automation,
    ondemand,
    ratings,
    recipients,
    room_sessions,
    visibility,
)
from mediaserver.outbox import mail, webhooks
from mediaserver.outbox.webhooks import public_ref
from mediaserver.rtc.room_rules import MEETING_MAX, WEBINAR_MAX, new_room_id
from mediaserver.rtc.rooms import Participant, Room, RoomManager
from mediaserver.store.db import paged, utcnow
from mediaserver.store.models import Account, Attendance, Event, EventSession, Invitation, User

log = logging.getLogger("mediaserver.events")
KINDS = ("instant", "permanent", "scheduled", "automated", "on_demand")
ACCESS = ("open", "password", "token", "paid")
TOKEN_DIAL_IN = (
    "token protection and phone dial-in do not go together: each invitee's personal token cannot be "
    "checked on a phone line, so anyone with the dial-in number and PIN would get in. Turn dial-in "
    "off or choose another access type (R-ROOM-6)"
)


class Payers(Protocol):
    """What cancelling an event needs of ticket sales (R-BILL-10): tell the payers of a paid event that it
    will not take place; how many were told. The composition root (mediaserver.app) wires
    mediaserver.billing.payments.event_cancelled here: billing depends on events, never the other way
    round."""

    async def __call__(self, s: AsyncSession, ev: Event, now: dt.datetime | None = None) -> int: ...


# ---------------------------------------------------------------- visibility


async def get_event(s: AsyncSession, p: Principal, event_id: int, write: bool = False) -> Event:
    """An event of the principal's account. Additional users create and run their own events; the main
    account's owner sees and changes every event of the account (R-ACC-2). Sub-accounts see only their own
    (R-ACC-3): mediaserver.events.visibility. 404 for an event the principal may not see: its existence is
    not revealed."""
    ev = await s.scalar(select(Event).where(Event.id == event_id, visibility.events(p)))
    if ev is None:
        raise not_found("event")
    return ev


async def live_room(s: AsyncSession, p: Principal, event_id: int, rooms: RoomManager, what: str) -> Any:
    """The room of one of the principal's events that is live now, for ``what`` needs one (a recording, a live
    stream); 409 ``not_live`` otherwise."""
    ev = await get_event(s, p, event_id, write=True)
    room = rooms.find(ev.room_id)
    if ev.status != "live" or room is None or room.settings.state != "live":
        raise ControlError("not_live", f"the event is not live: {what} is made of a live session", 409)
    return room


async def list_events(s: AsyncSession, p: Principal, offset: int, limit: int) -> tuple[list[Event], int]:
    """The dashboard: events that are planned or live, and automated ones that failed to start (R-AUTO-1: the
    organiser sees why and plans them again); history holds the rest. Soonest first."""
    where = visibility.events(p) & Event.status.in_(("planned", "live", "failed"))
    order = (Event.starts_at.is_(None), Event.starts_at, Event.id)
    return await paged(s, Event, where, *order, offset=offset, limit=limit)


async def history(
    s: AsyncSession, p: Principal, offset: int, limit: int
) -> tuple[list[tuple[EventSession, Event]], int]:
    """R-STAT-2: every session that ran, newest first."""
    where = visibility.events(p)
    base = select(EventSession, Event).join(Event, Event.id == EventSession.event_id).where(where)
    total = await s.scalar(select(func.count()).select_from(base.subquery()))
    rows = await s.execute(
        base.order_by(EventSession.started_at.desc(), EventSession.id.desc()).offset(offset).limit(limit)
    )
    return [(r[0], r[1]) for r in rows], int(total or 0)


# ---------------------------------------------------------------- settings


def capacity(ev: Event, lim: plans.Limits) -> int:
    """Seats of the event's room by plan (R-ACC-1: 25 in a webinar, 5 in a meeting on the trial)."""
    if ev.room_type == "meeting":
        return min(MEETING_MAX, lim.meeting_max)
    return min(WEBINAR_MAX, lim.attendees)


async def _limits(s: AsyncSession, p: Principal) -> plans.Limits:
    parent = p.main if p.account.kind == "sub" else None
    return subscription.account_limits(p.account, parent)


async def _apply(s: AsyncSession, p: Principal, ev: Event, data: dict[str, Any], now: dt.datetime) -> None:
    """Validate and apply settings; the rules that span fields are checked on the result."""
    for key in (
        "name",
        "room_type",
        "duration_minutes",
        "language",
        "agenda",
        "lobby_message",
        "dial_in",
        "thank_you_url",
        "registration",
        "branding",
        "options",
        "timezone",
    ):
        if key in data and data[key] is not None:
            setattr(ev, key, data[key])
    if "thank_you_url" in data and data["thank_you_url"] is None:
        ev.thank_you_url = ""  # null: the server's own thank-you page again (R-STAT-3)
    if data.get("starts_at") is not None:
        ev.starts_at = data["starts_at"]
    localtime.zone(ev.timezone)
    if ev.kind in ("scheduled", "automated"):
        if ev.starts_at is None:
            raise ControlError("bad_request", f"a {ev.kind} event needs 'startsAt' (R-ROOM-4)")
        if "starts_at" in data and ev.starts_at < now - dt.timedelta(minutes=5):
            raise ControlError("bad_request", "'startsAt' is in the past")
    access = data.get("access") or ev.access
    if access not in ACCESS:
        raise ControlError("bad_request", f"'access' must be one of {', '.join(ACCESS)}")
    if access == "password":
        if data.get("password") is not None:  # callers hash it before their transaction (issue 14 finding 3)
            raise ValueError(
                "give the event's new password as 'password_hash' (mediaserver.accounts.passwords)"
            )
        if data.get("password_hash") is not None:
            ev.password_hash = data["password_hash"]
        if not ev.password_hash:
            raise ControlError("bad_request", "a password-protected event needs 'password' (R-ROOM-6)")
    if access == "paid":
        lim = await _limits(s, p)
        if not lim.paid_webinars:
            raise ControlError(
                "plan_required", "paid webinars are not available on the free trial (R-ACC-1)", 402
            )
        price = data.get("ticket_price", ev.ticket_price)
        currency = data.get("ticket_currency", ev.ticket_currency)
        ev.ticket_price, ev.ticket_currency = plans.check_ticket(price, currency)
        await providers.require_provider(s, ev.account_id)  # R-BILL-10: tickets sell through it
    if access == "token" and ev.dial_in:
        raise ControlError("token_dial_in_conflict", TOKEN_DIAL_IN, 409)
    if ev.kind == "on_demand" and access == "paid":
        raise ControlError("bad_request", "an on-demand event cannot be paid on this server yet")
    if "video_file_id" in data:  # R-AUTO-2: the video an on-demand event plays
        await ondemand.attach(s, ev, data["video_file_id"], visibility.files(p))
    if "options" in data:  # R-AUTO-1: the files an automated event's timeline plays
        await automation.check(s, ev, visibility.files(p))
    ev.access = access
    if access != "password":
        ev.password_hash = None


async def create_event(
    s: AsyncSession, p: Principal, data: dict[str, Any], rooms: RoomManager, now: dt.datetime | None = None
) -> Event:
    now = now or utcnow()
    subscription.require_active_plan(p)
    kind = data["kind"]
    taken = set(rooms.rooms)
    taken.update(await s.scalars(select(Event.room_id)))
    ev = Event(
        account_id=p.account.id,
        owner_id=p.user.id,
        kind=kind,
        status="planned",
        name=data["name"],
        room_type=data.get("room_type") or "webinar",
        room_id=new_room_id(taken),
        host_key=secrets.token_urlsafe(12),
        access="open",
        registration={},
        branding={},
        options={},
        timezone="UTC",
        language=p.account.language,
        created_at=now,
        updated_at=now,
    )
    await _apply(s, p, ev, data, now)
    s.add(ev)
    await s.flush()
    await webhooks.emit(s, ev.account_id, "event.created", {"event": public_ref(ev)})
    if kind == "instant":  # R-ROOM-4: no preparation, live at once
        await start_event(s, p, ev.id, rooms, now)
    return ev


async def update_event(
    s: AsyncSession,
    p: Principal,
    event_id: int,
    data: dict[str, Any],
    base_url: str,
    now: dt.datetime | None = None,
) -> tuple[Event, int]:
    """Change settings; returns the event and how many invitees hold an older invitation (R-ROOM-10: the
    organiser is reminded to re-send, in the response and by e-mail)."""
    now = now or utcnow()
    ev = await get_event(s, p, event_id, write=True)
    if ev.status == "done":
        raise ControlError("conflict", "this event is in the history and can no longer be changed", 409)
    await _apply(s, p, ev, data, now)
    automation.rescheduled(ev, data)
    ev.settings_version += 1
    ev.updated_at = now
    outdated = await outdated_invitations(s, ev)
    if outdated:
        owner = await s.get(User, ev.owner_id)
        if owner is not None:
            await mail.queue(
                s,
                ev.account_id,
                "reminder",
                owner.email,
                owner.language,
                {"event": ev.name, "count": outdated, "link": f"{base_url}/dashboard#event={ev.id}"},
            )
    await webhooks.emit(s, ev.account_id, "event.updated", {"event": public_ref(ev)})
    return ev, outdated


async def outdated_invitations(s: AsyncSession, ev: Event) -> int:
    return int(
        await s.scalar(
            select(func.count())
            .select_from(Invitation)
            .where(
                Invitation.event_id == ev.id,
                Invitation.sent_count > 0,
                Invitation.sent_version < ev.settings_version,
            )
        )
        or 0
    )


async def delete_event(s: AsyncSession, p: Principal, event_id: int, payers: Payers) -> None:
    """Deleting is also how an event is cancelled: the payers of a paid one get a notice (R-BILL-10;
    refunds are not automatic, R-BILL-6), and their orders stay on record (mediaserver.billing.payments)."""
    ev = await get_event(s, p, event_id, write=True)
    if ev.status == "live":
        raise ControlError("conflict", "end the live session before deleting the event", 409)
    await payers(s, ev)
    await webhooks.emit(s, ev.account_id, "event.deleted", {"event": public_ref(ev)})
    await s.delete(ev)


# ---------------------------------------------------------------- life cycle


async def start_event(
    s: AsyncSession,
    p: Principal | None,
    event_id: int,
    rooms: RoomManager,
    now: dt.datetime | None = None,
    ev: Event | None = None,
    started_by: int | None = None,
) -> EventSession:
    """Go live. R-ROOM-5: one live event per account (multi-user accounts too) unless the parallel-sessions
    add-on; the database's unique index on open sessions settles two simultaneous starts. The API's start, the
    clock's (automated events) and the room's own Start button (RoomControl) all come here."""
    now = now or utcnow()
    if ev is None:
        assert p is not None
        subscription.require_active_plan(p)
        ev = await get_event(s, p, event_id, write=True)
    if ev.kind == "on_demand":
        raise ControlError(
            "conflict",
            "an on-demand event is watched from its video at any time; it does not go live (R-ROOM-4)",
            409,
        )
    if ev.status == "live":
        raise ControlError("conflict", "this event is already live", 409)
    if ev.status == "done":
        raise ControlError("conflict", "this event is in the history; plan a new one", 409)
    if ev.access == "paid":
        await providers.require_provider(s, ev.account_id)  # R-BILL-10: none goes live without it
    account = await s.get(Account, ev.account_id)
    assert account is not None
    await reconcile(s, rooms, account_id=account.id, now=now)
    open_rows = list(
        await s.scalars(
            select(EventSession).where(EventSession.account_id == account.id, EventSession.ended_at.is_(None))
        )
    )
    slots = plans.live_slots(account.addons or {})
    used = {r.slot for r in open_rows}
    free = [n for n in range(slots) if n not in used]
    if not free:
        live = await s.get(Event, open_rows[0].event_id) if open_rows else None
        raise ControlError(
            "live_event_running",
            f"the account already has {len(open_rows)} live event(s)"
            f"{f' ({live.name!r})' if live else ''}: events may follow each other but not overlap "
            "unless the account has the parallel-sessions add-on (R-ROOM-5)",
            409,
        )
    session = EventSession(
        event_id=ev.id,
        account_id=account.id,
        slot=free[0],
        started_by=p.user.id if p else started_by,
        started_at=now,
    )
    s.add(session)
    try:
        async with s.begin_nested():
            await s.flush()
    except IntegrityError:
        raise ControlError(
            "live_event_running",
            "another event of this account went live at the same moment: one live event at a time (R-ROOM-5)",
            409,
        ) from None
    ev.status, ev.ran = "live", True
    # whoever came through the event's rules while it waited in the lobby attends this session (R-STAT-2),
    # with their chat, questions and clicks there, and what was on the stage and the board
    await room_sessions.adopt_lobby(s, ev, session.id)
    parent = await s.get(Account, account.parent_id) if account.parent_id else None
    lim = subscription.account_limits(account, parent)
    auto_record = bool((account.settings or {}).get("autoRecord"))
    # issue 19: a room another node of the cluster holds starts there (its recording too)
    remote = await rooms.at_owner(ev.room_id, "start", auto_record=auto_record)
    if not remote:
        room = room_for(rooms, ev, lim, "live")
        room.start()
    await webhooks.emit(s, ev.account_id, "event.started", {"event": public_ref(ev), "session": session.id})
    if auto_record and not remote and rooms.recordings is not None:
        # R-REC-1: "start recording automatically" for every event; the language is the room's now
        # (R-ROOM-14). A used-up allowance (R-REC-2) does not keep the event from going live: it goes live
        # unrecorded.
        try:
            async with s.begin_nested():
                await rooms.recordings.start(room, s=s, by="autoRecord")
        except ControlError as e:
            log.warning("event %s: automatic recording did not start: %s", ev.id, e.message)
    return session


def room_for(rooms: RoomManager, ev: Event, lim: plans.Limits, state: str) -> Any:
    """The event's room, opened (live, or in the lobby) if it is not, with the plan's limits and the
    dial-in PIN."""
    room = rooms.find(ev.room_id)
    if room is not None and not room.settings.event:
        # issue 14 finding 17: a room of this ID the event did not open (an ad-hoc or instant room made by
        # someone else) is never adopted: its people leave, and the event opens its own
        log.warning("event %s: room %s was not the event's own; it is closed and replaced", ev.id, ev.room_id)
        room.end("replaced by the event's room")
        rooms.rooms.pop(ev.room_id, None)
        room = None
    if room is None or room.settings.state == "ended":
        start = "instant" if state == "live" else "lobby"
        room = rooms.create(
            ev.room_type,
            ev.name,
            capacity(ev, lim),
            ev.language if ev.language in ("en", "ru") else "en",
            ev.agenda[:5000],
            ev.lobby_message[:2000],
            start,
            room_id=ev.room_id,
            event=True,
        )
        # R-INT-1, R-AUTO-1: the attendees' chat starts as the event says; the host turns it on or off live
        room.interaction.chat.enabled = bool((ev.options or {}).get("chat", True))
    room.settings.hd = lim.hd  # R-MEDIA-4: the plan decides SD or HD budgets (issue 5's allocation)
    room.settings.pin = dial_in_pin(ev)  # the PIN the invitations carry (R-ROOM-10, R-INT-6)
    room.apply_caps(
        plans.room_caps(lim, room.settings.type)
    )  # R-ACC-1, R-MEDIA-5: the plan's limits, enforced
    return room


async def end_event(
    s: AsyncSession,
    p: Principal | None,
    event_id: int,
    rooms: RoomManager,
    base_url: str,
    now: dt.datetime | None = None,
    ev: Event | None = None,
    by: str | None = None,
    secret: str = "",
) -> Event:
    """End a live event (``secret``: signs the thank-you e-mails' rating links, R-STAT-1; none without)."""
    now = now or utcnow()
    if ev is None:
        assert p is not None
        ev = await get_event(s, p, event_id, write=True)
    if ev.status != "live":
        raise ControlError("conflict", "this event is not live", 409)
    room = rooms.find(ev.room_id)
    if await rooms.at_owner(ev.room_id, "end", by=by):
        pass  # issue 19: the node that holds the room ends it (and this node's copy follows)
    elif room is not None and room.settings.state != "ended":
        room.end(by)
    await _close(s, ev, now, base_url, secret)
    return ev


class RoomControl:
    """The host's Start and End buttons in an event's room (mediaserver.rtc.rooms.EventControl): the same
    start and end as the API's, each in a transaction of its own. Starting checks the trial and R-ROOM-5
    (one live event per account), opens the session that the history shows (R-STAT-2), marks the event as
    having run (a scheduled event started so is kept, R-ROOM-4) and sends event.started; ending closes the
    session, sends the thank-you e-mails (R-STAT-3) and event.ended. A refusal is the host's error reply,
    shown by the room page."""

    def __init__(self, db: Any, rooms: RoomManager, base_url: str, secret: str = "") -> None:
        self.db, self.rooms, self.base_url, self.secret = db, rooms, base_url, secret

    async def start(self, room: Room, by: Participant) -> dict[str, Any]:
        async with self.db.tx() as s:
            ev = await event_by_room(s, room.name)
            if ev is None:
                raise not_found("event")
            account = await s.get(Account, ev.account_id)
            assert account is not None
            main = await s.get(Account, account.parent_id) if account.parent_id else account
            if main is not None:
                subscription.require_active(main)
            session = await start_event(
                s, None, ev.id, self.rooms, ev=ev, started_by=await _user_of(s, ev, by)
            )
            return {"event": public_ref(ev), "session": session.id}

    async def end(self, room: Room, by: Participant) -> dict[str, Any]:
        async with self.db.tx() as s:
            ev = await event_by_room(s, room.name)
            if ev is not None and ev.status == "live" and self.rooms.find(ev.room_id) is room:
                await end_event(
                    s, None, ev.id, self.rooms, self.base_url, ev=ev, by=by.id, secret=self.secret
                )
                return {"event": public_ref(ev)}
        room.end(by.id)  # a room whose event is not live (the lobby): just the room
        return {}

    async def owns(self, room_id: str) -> bool:
        async with self.db.tx() as s:
            return await event_by_room(s, room_id) is not None

    async def reopen(self, room_id: str) -> Room | None:
        async with self.db.tx() as s:
            ev = await event_by_room(s, room_id)
            if ev is None:
                return None
            if ev.status == "done" or ev.kind == "on_demand":
                raise ControlError("ended", "this event is over", 410)
            account = await s.get(Account, ev.account_id)
            assert account is not None
            parent = await s.get(Account, account.parent_id) if account.parent_id else None
            room: Room = room_for(self.rooms, ev, subscription.account_limits(account, parent), ev.status)
            return room


async def _user_of(s: AsyncSession, ev: Event, by: Participant) -> int:
    """Who started the session: the organiser whose host token (user<id>, from the API's start or the
    dashboard) is in the room; a host who came with the event's host key counts as the event's owner."""
    m = re.fullmatch(r"user(\d+)", by.identity)
    if m:
        user = await s.get(User, int(m.group(1)))
        if user is not None and user.account_id == ev.account_id:
            return user.id
    return ev.owner_id


async def _close(s: AsyncSession, ev: Event, now: dt.datetime, base_url: str, secret: str = "") -> None:
    """The session is over: permanent events wait for the next session; the others go to the history
    (R-ROOM-4). Everyone who attended gets the thank-you e-mail (R-STAT-3), with a link to rate the event
    (R-STAT-1) when ``secret`` and ``base_url`` are given."""
    sessions = list(
        await s.scalars(
            select(EventSession).where(EventSession.event_id == ev.id, EventSession.ended_at.is_(None))
        )
    )
    for row in sessions:
        row.ended_at = now
        row.participants = int(
            await s.scalar(
                select(func.count()).select_from(Attendance).where(Attendance.session_id == row.id)
            )
            or 0
        )
    ev.status = "planned" if ev.kind == "permanent" else "done"
    owner = await s.get(User, ev.owner_id)
    account = await s.get(Account, ev.account_id)
    people = list(
        await s.scalars(
            select(Attendance).where(
                Attendance.event_id == ev.id, Attendance.thanked.is_(False), Attendance.role != "host"
            )
        )
    )
    more = ev.thank_you_url
    mailable = await recipients.confirmed(s, ev, (a.email for a in people))
    for a in people:
        a.thanked = True
        if a.email.lower() not in mailable:  # a typed-in address: issue 14 finding 9
            continue
        await mail.queue(
            s,
            ev.account_id,
            "thank_you",
            a.email,
            ev.language,
            {
                "name": a.name,
                "event": ev.name,
                "more": more,
                "signature": account.signature if account else "",
                "organiser": owner.name if owner else "",
                "rate_link": ratings.link(base_url, secret, ev.id, a.email),
            },
        )
    await webhooks.emit(
        s, ev.account_id, "event.ended", {"event": public_ref(ev), "sessions": [r.id for r in sessions]}
    )


async def reconcile(
    s: AsyncSession,
    rooms: RoomManager,
    account_id: int | None = None,
    now: dt.datetime | None = None,
    base_url: str = "",
    secret: str = "",
) -> None:
    """Open sessions whose room has ended (the host pressed "end session") or is gone are closed, and so are
    those of rooms restored after a restart (:func:`resume_live`) that nobody came back to in time: their
    room ends, which tells anyone connected since."""
    now = now or utcnow()
    q = select(EventSession).where(EventSession.ended_at.is_(None))
    if account_id is not None:
        q = q.where(EventSession.account_id == account_id)
    for row in list(await s.scalars(q)):
        ev = await s.get(Event, row.event_id)
        room = rooms.find(ev.room_id) if ev else None
        if ev is None:
            continue
        if room is None and await rooms.elsewhere(ev.room_id):
            continue  # issue 19: another node of the cluster holds the room
        if room is not None and room.resume_by is not None and time.monotonic() >= room.resume_by:
            log.info("event %s: nobody came back within the restart grace; the session ends", ev.id)
            room.resume_by = None
            room.end("restart")
        if room is None or room.settings.state == "ended":
            await _close(s, ev, now, base_url, secret)


async def resume_live(s: AsyncSession, rooms: RoomManager, grace: float) -> list[Room]:
    """After a restart (the server stopped or was killed while events were live): a live event does not end
    because its room, kept in memory, is gone. Its room is opened again, live, with the plan's limits, and
    waits ``grace`` seconds for its people, whose clients reconnect by themselves (the SDK); an event nobody
    comes back to ends then (:func:`reconcile`). With ``grace`` 0 the sessions end at once, as before."""
    restored = []
    live = await s.scalars(
        select(Event).where(Event.status == "live", Event.kind != "on_demand").order_by(Event.id)
    )
    for ev in list(live):
        open_session = await s.scalar(
            select(EventSession.id).where(EventSession.event_id == ev.id, EventSession.ended_at.is_(None))
        )
        if open_session is None or rooms.find(ev.room_id) is not None:
            continue
        if await rooms.elsewhere(ev.room_id):
            continue  # issue 19: it goes on on another node of the cluster
        account = await s.get(Account, ev.account_id)
        if account is None:
            continue
        parent = await s.get(Account, account.parent_id) if account.parent_id else None
        room = room_for(rooms, ev, subscription.account_limits(account, parent), "live")
        room.resume_by = time.monotonic() + grace
        restored.append(room)
        log.info("event %s was live before the restart; room %s waits %.0f s", ev.id, ev.room_id, grace)
    return restored


async def event_by_room(s: AsyncSession, room_id: str) -> Event | None:
    return await s.scalar(select(Event).where(Event.room_id == room_id))


def dial_in_pin(ev: Event) -> str:
    """The dial-in PIN of the event (R-PHONE-1, R-INT-6): one source of truth for the invitations and the
    room (room_for sets the room's PIN from it). It stays the same for every session and invitation, and it
    comes from the event's secret host key, so nobody can work it out from the room ID."""
    digest = hmac.new(ev.host_key.encode(), f"dial-in PIN {ev.room_id}".encode(), hashlib.sha256).digest()
    return f"{int.from_bytes(digest[:8], 'big') % 1_000_000:06d}"


# ---------------------------------------------------------------- presentation
