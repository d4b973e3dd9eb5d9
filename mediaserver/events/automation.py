"""Automated events (R-ROOM-4 "automated", R-AUTO-1): a prepared timeline plays by itself at a set time, with
no presenter.

The timeline is ``Event.options["timeline"]``: components (recorded video, video, presentation, poll, call to
action, chat module), each with a ``start`` and a ``duration`` in seconds from the beginning of the session; a
video, recording or presentation names a file of the account's library (``fileId``), a call to action, poll or
slide carries its ``text`` (and a call to action its ``url`` and ``buttonText``). Its length is where its last
component ends; an event without components lasts ``duration_minutes``.

The clock (mediaserver.events.clock, run by the dispatcher's sweep) starts a due automated event through the
same :func:`mediaserver.events.lifecycle.start_event` as every other start, so R-ROOM-5 (one live event per
account unless the parallel-sessions add-on) holds for it too. A start that cannot happen (another live event,
or a server that was down for the whole timeline) is not dropped: the event gets the status ``failed`` with
the reason in ``Event.automation`` (:func:`fail`), stays on the dashboard, and the organiser gets the webhook
``event.failed`` and an e-mail; a new ``startsAt`` plans it again. When the timeline has played, the same
clock ends the event through :func:`mediaserver.events.lifecycle.end_event`: it goes to the history and its
attendees to the thank-you page and e-mail (R-STAT-3). This module decides (what is due, how long a timeline
lasts); the clock acts, so the life cycle can use this module's rules without a cycle.

Playing does not push media through the SFU: the room page of an admitted attendee asks for the timeline
(:func:`attendee_playback`, which checks their join token, then :func:`playback`) and plays its files from
short-lived signed ``/play`` URLs (the on-demand watch URLs of mediaserver.events.ondemand), everyone at the
same position, ``now - the session's start``, with no seeking or pausing ("attendees must come on time":
whoever comes late comes in mid-way, as into a live webinar). The session's real start is the zero of the
timeline, so nobody misses its first seconds when the clock starts it a little after ``startsAt``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import localtime
from mediaserver.errors import ControlError, not_found
from mediaserver.events import ondemand
from mediaserver.interaction import cta
from mediaserver.library.files import extension, video_type
from mediaserver.outbox import mail, webhooks
from mediaserver.rtc import tokens
from mediaserver.store.models import Event, EventSession, LibraryFile, Poll, User

log = logging.getLogger("mediaserver.events.automation")

MEDIA = ("recording", "video", "presentation")  # components that show a library file on the stage
# What a browser shows of a presentation by itself: a PDF, or a slide as an image.
PRESENTATION_TYPES = {"pdf": "application/pdf", "png": "image/png", "jpg": "image/jpeg"}


def timeline(ev: Event) -> list[dict[str, Any]]:
    """The event's components, in the order they start."""
    items = [dict(i) for i in (ev.options or {}).get("timeline") or [] if isinstance(i, dict)]
    return sorted(items, key=lambda i: (int(i.get("start", 0)), int(i.get("duration", 0))))


def length(ev: Event) -> int:
    """Seconds from the start to the end of the last component; without components, the event's duration."""
    ends = [int(i.get("start", 0)) + int(i.get("duration", 0)) for i in timeline(ev)]
    return max(ends) if ends else ev.duration_minutes * 60


def content_type(component: str, name: str) -> str | None:
    """How a file is served for a component, or None when a browser cannot show it there."""
    if component == "presentation":
        return PRESENTATION_TYPES.get(extension(name))
    return video_type(name)


def file_ids(ev: Event) -> set[int]:
    """The library files the event's timeline plays (the /play URLs of mediaserver.events.ondemand serve
    these)."""
    return {int(i["fileId"]) for i in timeline(ev) if i.get("component") in MEDIA and i.get("fileId")}


async def check(s: AsyncSession, ev: Event, reachable: ColumnElement[bool]) -> None:
    """Saving an automated event: every file its timeline names is a finished file of the event's own account
    that the organiser reaches (``reachable``: events.visibility.files, issue 14 finding 6) and a browser can
    show for its component (a video for a recording or video, a PDF, PNG or JPG slide for a presentation). A
    call to action's ``text`` is at most 54 characters, spaces included, as the room's (R-INT-4)."""
    for n, item in enumerate(timeline(ev)):
        if item.get("component") == "call_to_action" and item.get("text") is not None:
            try:
                cta.description(item["text"])
            except ControlError as e:
                raise ControlError(e.code, f"timeline item {n + 1} ('text'): {e.message}", e.status) from None
    if ev.kind != "automated":
        return
    overlaps(timeline(ev))
    for n, item in enumerate(timeline(ev)):
        component, file_id, poll_id = item.get("component"), item.get("fileId"), item.get("pollId")
        if poll_id:
            if component != "poll":
                raise ControlError("bad_request", f"timeline item {n + 1}: 'pollId' is for a poll item")
            found = await s.scalar(select(Poll.id).where(Poll.id == int(poll_id), Poll.event_id == ev.id))
            if found is None:
                raise ControlError(
                    "not_found",
                    f"timeline item {n + 1}: no poll {poll_id} of this event ('pollId'; save the poll "
                    "first: POST /api/v1/events/{id}/polls)",
                    404,
                )
        if not file_id:
            continue
        if component not in MEDIA:
            raise ControlError(
                "bad_request",
                f"timeline item {n + 1}: a {component} shows no file; 'fileId' is for {', '.join(MEDIA)}",
            )
        f = await s.scalar(
            select(LibraryFile).where(
                LibraryFile.id == int(file_id), LibraryFile.account_id == ev.account_id, reachable
            )
        )
        if f is None:
            raise ControlError(
                "not_found",
                f"timeline item {n + 1}: no file {file_id} in this account's file library ('fileId')",
                404,
            )
        if f.status != "complete":
            raise ControlError(
                "file_incomplete", f"timeline item {n + 1}: {f.name!r} is still uploading", 409
            )
        if content_type(component, f.name) is None:
            wanted = (
                "a PDF, PNG or JPG file (convert other slide formats to PDF)"
                if component == "presentation"
                else "a video file"
            )
            raise ControlError(
                "unsupported_file",
                f"timeline item {n + 1}: {f.name!r} cannot be shown as a {component}; use {wanted}",
                415,
            )


# Components of which a room shows one at a time (R-INT-3: one poll open; R-INT-4: one call to action), with
# what happens to the second of two that overlap: the timeline clock would launch it late or cut the first.
ONE_AT_A_TIME = {
    "poll": "a room has one poll open at a time: the second would start only when the first closes",
    "call_to_action": "a room shows one call to action at a time: the second would replace the first",
}


def clock(seconds: int) -> str:
    """Seconds as m:ss (h:mm:ss from an hour), as the dashboard's timeline editor shows them."""
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02}:{s:02}" if h else f"{m}:{s:02}"


def overlaps(items: list[dict[str, Any]]) -> None:
    """R-AUTO-1: two polls that launch one of the event's polls (``pollId``), or two calls to action, must
    not be on at the same time (a call to action may still show before, during or after any other kind of
    component). ``items`` in the order they start (:func:`timeline`); 400 ``timeline_overlap`` naming both
    items (their number in that order, their ``ref``) and their times."""
    for n, a in enumerate(items):
        kind = a.get("component")
        if kind not in ONE_AT_A_TIME or (kind == "poll" and not a.get("pollId")):
            continue
        a_start, a_end = int(a.get("start", 0)), int(a.get("start", 0)) + int(a.get("duration", 0))
        for m in range(n + 1, len(items)):
            b = items[m]
            if b.get("component") != kind or (kind == "poll" and not b.get("pollId")):
                continue
            b_start = int(b.get("start", 0))
            if b_start >= a_end:
                continue
            b_end = b_start + int(b.get("duration", 0))

            def named(i: int, x: dict[str, Any]) -> str:
                return f"{i + 1} ({x['ref']!r})" if x.get("ref") else str(i + 1)

            raise ControlError(
                "timeline_overlap",
                f"timeline items {named(n, a)} and {named(m, b)} overlap: "
                f"{clock(a_start)}-{clock(a_end)} and {clock(b_start)}-{clock(b_end)}; "
                f"{ONE_AT_A_TIME[kind]}, so let one end before the next starts",
            )


def rescheduled(ev: Event, data: dict[str, Any]) -> None:
    """A failed automated event given a new start time is planned again."""
    if ev.status == "failed" and data.get("starts_at") is not None:
        ev.status, ev.automation = "planned", None


def refuse_failed(ev: Event) -> None:
    """Joining an automated event that could not start: say so instead of a lobby that never opens."""
    if ev.status == "failed":
        reason = (ev.automation or {}).get("message") or "it could not start"
        raise ControlError(
            "not_started", f"this automated event did not take place at its time: {reason}", 409
        )


# ---------------------------------------------------------------- what the clock needs


async def open_session(s: AsyncSession, ev: Event) -> EventSession | None:
    """The event's session that is running, if any."""
    return await s.scalar(
        select(EventSession)
        .where(EventSession.event_id == ev.id, EventSession.ended_at.is_(None))
        .order_by(EventSession.id.desc())
        .limit(1)
    )


async def fail(s: AsyncSession, ev: Event, code: str, message: str, now: dt.datetime, base_url: str) -> None:
    """Record a start that could not happen where the organiser sees it: the event's status and reason, the
    ``event.failed`` webhook and an e-mail to its owner."""
    log.warning("automated event %s (%s) did not start: %s", ev.id, ev.name, message)
    ev.status = "failed"
    ev.automation = {"state": "failed", "code": code, "message": message, "failedAt": now.isoformat()}
    ev.updated_at = now
    ref = webhooks.public_ref(ev)
    await webhooks.emit(
        s,
        ev.account_id,
        "event.failed",
        {"event": ref, "reason": {"code": code, "message": message}, "startsAt": ev.starts_at},
    )
    owner = await s.get(User, ev.owner_id)
    if owner is not None:
        when = ""
        if ev.starts_at is not None:
            try:
                when = localtime.wall_clock(ev.starts_at, ev.timezone)
            except ControlError:  # an unknown zone: the organiser still learns when, in UTC
                when = ev.starts_at.strftime("%Y-%m-%d %H:%M UTC")
        await mail.queue(
            s,
            ev.account_id,
            "automation_failed",
            owner.email,
            owner.language,
            {
                "name": owner.name,
                "event": ev.name,
                "when": when,
                "reason": message,
                "link": f"{base_url}/dashboard#event={ev.id}",
            },
        )


# ---------------------------------------------------------------- playing


async def playback(s: AsyncSession, ev: Event, secret: str, ttl: int, now: dt.datetime) -> dict[str, Any]:
    """What an admitted attendee's page plays: the state, the session's start (the zero of the timeline), the
    server's time (to correct the browser's clock), the position, and, while live, the components with signed
    watch URLs of their files. Before the start and after the end the components are not given out."""
    out: dict[str, Any] = {
        "status": ev.status,
        "startsAt": ev.starts_at,
        "startedAt": None,
        "endsAt": None,
        "serverTime": now,
        "position": None,
        "length": length(ev),
        "thankYouUrl": ev.thank_you_url or None,
        "items": [],
        "reason": (ev.automation or {}).get("message") if ev.status == "failed" else None,
    }
    session = await open_session(s, ev) if ev.status == "live" else None
    if session is None:
        return out
    started = session.started_at
    out.update(
        startedAt=started,
        endsAt=started + dt.timedelta(seconds=out["length"]),
        position=max(0.0, (now - started).total_seconds()),
    )
    files: dict[int, LibraryFile] = {}
    for file_id in file_ids(ev):
        f = await s.get(LibraryFile, file_id)
        if f is not None and f.account_id == ev.account_id and f.status == "complete":
            files[file_id] = f
    for item in timeline(ev):
        shown = {
            k: item.get(k)
            for k in ("component", "start", "duration", "ref", "text", "url", "buttonText", "pollId")
        }
        shown["media"] = None
        f = files.get(int(item.get("fileId") or 0))
        kind = (
            content_type(item["component"], f.name) if f is not None and item["component"] in MEDIA else None
        )
        if f is not None and kind is not None:
            token, expires = ondemand.sign_watch(secret, f.id, ev.id, ttl)
            shown["media"] = {
                "url": f"/play/{token}",
                "contentType": kind,
                "name": f.name,
                "expiresAt": dt.datetime.fromtimestamp(expires, dt.timezone.utc),
            }
        out["items"].append(shown)
    return out


async def attendee_playback(
    s: AsyncSession, room_id: str, join_token: str, secret: str, ttl: int, now: dt.datetime
) -> dict[str, Any]:
    """:func:`playback` of the automated event of a room ID, for those the public join let in: 404 for no
    such event, 403 without a valid join token for this very room, 409 for an event that is not automated
    (R-ROOM-4)."""
    ev = (
        await s.scalar(select(Event).where(Event.room_id == room_id))
        if room_id.isdigit() and len(room_id) == 9
        else None
    )
    if ev is None:
        raise not_found("event with this room ID")
    try:
        grant = tokens.verify(secret, join_token)
    except tokens.TokenError as e:
        raise ControlError("forbidden", f"join the event first: {e}", 403) from None
    if grant.room != ev.room_id:
        raise ControlError("forbidden", "this join token is for another room", 403)
    if ev.kind != "automated":
        raise ControlError("not_automated", "only an automated event plays a timeline (R-ROOM-4)", 409)
    return await playback(s, ev, secret, ttl, now)
