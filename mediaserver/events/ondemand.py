"""On-demand events (R-ROOM-4 "on demand", R-AUTO-2): a video anyone invited watches at any time.

The organiser attaches a video of the account's file library to the event (``Event.video_file_id``). A file is
a file whatever made it: an upload now (``LibraryFile.source == "upload"``); the recording module, when it
comes, stores its recordings as library files with ``source == "recording"`` and attaches them the same way.

Watching goes through the event's own access rules (:func:`mediaserver.events.registration.join`: open,
password, personal token, registration), which end here: instead of a room join token the viewer gets a
short-lived signed watch URL (``/play/<token>``, served with HTTP Range support by signaling/api/ondemand.py).
Each view is an ``Attendance`` row with the role "viewer" (the event's statistics, R-STAT-1, R-AUTO-2: views,
unique viewers and, from mediaserver.events.viewer_messages, their messages); with lead capture on (R-REC-5)
the viewer's address also lands in a contact group (mediaserver.events.contact_groups).

The seed FAQ (the Russian original, which wins) promises invitees "unlimited access" ("неограниченный доступ")
to an on-demand webinar: the short life of a watch URL limits only the URL, not access; the invitation link
gives a new one at any time (the watch page does so by itself when one runs out mid-video).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import time
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.errors import ControlError
from mediaserver.events.attendance import new_row
from mediaserver.events.client_profile import Profile
from mediaserver.events.contact_groups import add_to_event_group
from mediaserver.library.files import VIDEO_TYPES, video_type
from mediaserver.outbox import webhooks
from mediaserver.store.db import paged, utcnow
from mediaserver.store.models import Attendance, Event, Invitation, LibraryFile

_PURPOSE = b"mediaserver watch url v1\n"  # domain separation: no other signed value of the server fits here


class WatchRefused(Exception):
    """A watch token that is malformed, forged or expired (answered with 403)."""


# ---------------------------------------------------------------- signed watch URLs


def _mac(secret: str, payload: str) -> str:
    digest = hmac.new(secret.encode(), _PURPOSE + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_watch(
    secret: str, file_id: int, event_id: int, ttl: int, now: float | None = None
) -> tuple[str, int]:
    """A token for ``/play/<token>``: which file, for which event, until when (unix seconds); HMAC-SHA256."""
    expires = int(time.time() if now is None else now) + ttl
    payload = f"{file_id}.{event_id}.{expires}"
    return f"{payload}.{_mac(secret, payload)}", expires


def verify_watch(secret: str, token: str, now: float | None = None) -> tuple[int, int]:
    """(file id, event id) of a valid token; :class:`WatchRefused` for a forged, malformed or expired one."""
    parts = token.split(".")
    if len(parts) != 4 or not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts[:3]):
        raise WatchRefused("this watch link is not valid; open the event's invitation link again")
    payload = ".".join(parts[:3])
    if not hmac.compare_digest(parts[3].encode(), _mac(secret, payload).encode()):
        raise WatchRefused("this watch link is not valid; open the event's invitation link again")
    if int(parts[2]) < (time.time() if now is None else now):
        raise WatchRefused(
            "this watch link has expired; open the event's invitation link again for a new one"
        )
    return int(parts[0]), int(parts[1])


# ---------------------------------------------------------------- attaching a video


async def attach(s: AsyncSession, ev: Event, file_id: int | None, reachable: ColumnElement[bool]) -> None:
    """Set (or with None, clear) the video of an on-demand event: a finished video file of the event's own
    account (R-FILE-4's video extensions, :data:`mediaserver.library.files.VIDEO_TYPES`) that the organiser
    reaches (``reachable``: events.visibility.files; issue 14 finding 6: not another user's recording)."""
    if file_id is None:
        ev.video_file_id = None
        return
    if ev.kind != "on_demand":
        raise ControlError(
            "bad_request",
            "'videoFileId' is for on-demand events, which play one video (R-ROOM-4); "
            "an automated event names its videos in its timeline (R-AUTO-1)",
        )
    f = await s.scalar(
        select(LibraryFile).where(
            LibraryFile.id == file_id, LibraryFile.account_id == ev.account_id, reachable
        )
    )
    if f is None:
        raise ControlError(
            "not_found", f"no file {file_id} in this account's file library ('videoFileId')", 404
        )
    if f.status != "complete":
        raise ControlError(
            "file_incomplete", f"{f.name!r} is still uploading; attach it once the upload has finished", 409
        )
    if video_type(f.name) is None:
        raise ControlError(
            "not_a_video",
            f"{f.name!r} is not a video; an on-demand event plays a file of type "
            f"{', '.join(VIDEO_TYPES)} (R-FILE-4)",
            415,
        )
    ev.video_file_id = f.id


# ---------------------------------------------------------------- watching


async def playback(
    s: AsyncSession,
    ev: Event,
    role: str,
    inv: Invitation | None,
    name: str,
    email: str,
    secret: str,
    ttl: int,
    client: Profile | None = None,
) -> dict[str, Any]:
    """The answer to a viewer the access rules let in: a signed watch URL, counted as a view (with what the
    request told of the client, R-STAT-1)."""
    f = await s.get(LibraryFile, ev.video_file_id) if ev.video_file_id is not None else None
    if f is None or f.status != "complete" or f.account_id != ev.account_id:
        raise ControlError(
            "no_video",
            "this on-demand event has no video yet: the organiser has to attach one "
            "from the file library before it can be watched (R-AUTO-2)",
            409,
        )
    options = ev.options or {}
    if role != "host":  # the organiser previewing is not a view
        await _count_view(s, ev, name, email, ttl, client)
        if options.get("leadCapture"):  # R-REC-5: the addresses of viewers land in a contact group
            await add_to_event_group(s, ev, "leads", "Leads", email.lower(), name)
    token, expires = sign_watch(secret, f.id, ev.id, ttl)
    return {
        "token": None,
        "room": None,
        "role": "host" if role == "host" else "viewer",
        "thankYouUrl": ev.thank_you_url or None,
        "playback": {
            "url": f"/play/{token}",
            "expiresAt": dt.datetime.fromtimestamp(expires, dt.timezone.utc).isoformat(),
            "contentType": video_type(f.name) or "application/octet-stream",
            "name": f.name,
            "size": f.size,
            "source": f.source,
            "allowSeek": bool(options.get("allowSeek", True)),
            "allowMessages": bool(options.get("allowMessages", True)),  # R-AUTO-2: viewers' messages
        },
    }


async def _count_view(
    s: AsyncSession, ev: Event, name: str, email: str, ttl: int, client: Profile | None = None
) -> None:
    """One view per viewer and watch-URL lifetime: asking again meanwhile (a reload, a renewed URL) is the
    same view. Views are Attendance rows without a session (an on-demand event never goes live)."""
    email = email.lower()
    recent = await s.scalar(
        select(Attendance.id)
        .where(
            Attendance.event_id == ev.id,
            Attendance.role == "viewer",
            Attendance.email == email,
            Attendance.joined_at > utcnow() - dt.timedelta(seconds=ttl),
        )
        .limit(1)
    )
    if recent is not None:
        return
    view = new_row(ev, None, name, email, "viewer", client)
    view.thanked = True
    s.add(view)
    await webhooks.emit(
        s,
        ev.account_id,
        "participant.joined",
        {
            "event": webhooks.public_ref(ev),
            "participant": {"name": name, "email": email, "role": "viewer"},
        },
    )


async def views(s: AsyncSession, ev: Event, offset: int, limit: int) -> tuple[list[Attendance], int, int]:
    """The event's views, newest first, their number and the number of unique viewers (R-AUTO-2)."""
    where = (Attendance.event_id == ev.id) & (Attendance.role == "viewer")
    unique = await s.scalar(select(func.count(func.distinct(Attendance.email))).where(where))
    order = (Attendance.joined_at.desc(), Attendance.id.desc())
    rows, total = await paged(s, Attendance, where, *order, offset=offset, limit=limit)
    return rows, total, int(unique or 0)
