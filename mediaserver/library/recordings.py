"""The recordings an account keeps (R-REC-2, R-REC-4): listing them with the minutes they use, publishing a
public watch link, e-mailing it, deleting a recording with its WebM. Making a recording is
mediaserver.output.recording; this is what happens to it once it exists."""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.identity import Principal
from mediaserver.errors import ControlError, not_found
from mediaserver.events import recipients, visibility
from mediaserver.library.storage import Storage
from mediaserver.outbox import mail
from mediaserver.store.db import paged
from mediaserver.store.models import Account, Attendance, Event, LibraryFile, Recording, User


def public_url(rec: Recording, base_url: str = "") -> str | None:
    """The public watch link of a published recording (R-REC-4), None while it is not published."""
    return f"{base_url}/r/{rec.public_token}" if rec.public_token else None


def describe(rec: Recording, base_url: str = "") -> dict[str, Any]:
    """A recording as the API and the webhooks show it."""
    return {
        "id": rec.id,
        "eventId": rec.event_id,
        "sessionId": rec.session_id,
        "name": rec.name,
        "status": rec.status,
        "language": rec.language,
        "startedAt": rec.started_at.isoformat(),
        "endedAt": rec.ended_at.isoformat() if rec.ended_at else None,
        "duration": round(rec.duration, 3),
        "size": rec.size,
        "fileId": rec.file_id,
        "stopReason": rec.stop_reason,
        "published": rec.public_token is not None,
        "publicUrl": public_url(rec, base_url),
    }


async def used_seconds(s: AsyncSession, account_id: int) -> float:
    """The length of the recordings the account keeps: what the plan's recording minutes count (R-REC-2). The
    one place recording time is summed."""
    return float(
        await s.scalar(
            select(func.coalesce(func.sum(Recording.duration), 0.0)).where(Recording.account_id == account_id)
        )
        or 0.0
    )


async def page(s: AsyncSession, p: Principal, offset: int, limit: int) -> tuple[list[Recording], int, float]:
    """(the recordings the principal sees, newest first; how many in all; seconds used by the whole account,
    what its plan's allowance counts)."""
    order = (Recording.started_at.desc(), Recording.id.desc())
    rows, total = await paged(s, Recording, visibility.recordings(p), *order, offset=offset, limit=limit)
    return rows, total, await used_seconds(s, p.account.id)


async def get(s: AsyncSession, p: Principal, rec_id: int) -> Recording:
    """A recording the principal reaches: it follows its event (issue 14 finding 6, events.visibility); 404
    for any other, whether it exists or not (every verb comes here)."""
    rec = await s.scalar(select(Recording).where(Recording.id == rec_id, visibility.recordings(p)))
    if rec is None:
        raise not_found("recording")
    return rec


async def ready(s: AsyncSession, p: Principal, rec_id: int) -> Recording:
    """A recording that is made (its WebM is in the library), else 409."""
    rec = await get(s, p, rec_id)
    if rec.status != "ready":
        raise ControlError("not_ready", f"the recording is {rec.status}; wait until it is ready", 409)
    return rec


async def delete(s: AsyncSession, store: Storage, p: Principal, rec_id: int) -> None:
    """Delete a recording and its WebM: frees its minutes (R-REC-2) and its storage (R-FILE-3)."""
    rec = await get(s, p, rec_id)
    if rec.status == "recording":
        raise ControlError("still_recording", "stop the recording first", 409)
    f = await s.get(LibraryFile, rec.file_id) if rec.file_id is not None else None
    await s.delete(rec)
    await s.flush()
    if f is not None:  # its WebM goes with it (deleting the file alone would take the recording)
        key = f.storage_key
        await s.delete(f)
        await s.flush()
        store.remove([key])


async def publish(s: AsyncSession, p: Principal, rec_id: int) -> Recording:
    """A ready recording gets a public watch link (R-REC-4); publishing twice keeps the link."""
    rec = await ready(s, p, rec_id)
    if rec.public_token is None:
        rec.public_token = secrets.token_urlsafe(24)
        rec.published_at = dt.datetime.now(dt.timezone.utc)
    return rec


async def unpublish(s: AsyncSession, p: Principal, rec_id: int) -> Recording:
    """The public watch link stops working at once."""
    rec = await get(s, p, rec_id)
    rec.public_token, rec.published_at = None, None
    return rec


async def send_link(s: AsyncSession, p: Principal, rec_id: int, base_url: str) -> int:
    """E-mail the public link of a published recording to the event's attendees and presenters, one e-mail per
    address, in the event's language (R-REC-4); returns how many were queued."""
    rec = await ready(s, p, rec_id)
    if rec.public_token is None:
        raise ControlError(
            "not_published", "publish the recording first: the e-mail carries its public link", 409
        )
    ev = await s.get(Event, rec.event_id) if rec.event_id else None
    if ev is None:
        raise ControlError(
            "no_event", "the recording's event is deleted: there are no participants to send to", 409
        )
    people: dict[str, str] = {}
    for a in await s.scalars(
        select(Attendance)
        .where(Attendance.event_id == ev.id, Attendance.role.in_(("attendee", "presenter")))
        .order_by(Attendance.id)
    ):
        people.setdefault(a.email.lower(), a.name)
    mailable = await recipients.confirmed(s, ev, people)  # not a typed-in address: issue 14 finding 9
    people = {addr: name for addr, name in people.items() if addr in mailable}
    account = await s.get(Account, ev.account_id)
    owner = await s.get(User, ev.owner_id)
    link = public_url(rec, base_url)
    for addr, name in people.items():
        await mail.queue(
            s,
            ev.account_id,
            "recording",
            addr,
            ev.language,
            {
                "name": name,
                "event": ev.name,
                "link": link,
                "organiser": owner.name if owner else "",
                "signature": account.signature if account else "",
            },
        )
    return len(people)


async def published(s: AsyncSession, token: str) -> tuple[Recording, LibraryFile]:
    """The recording published under ``token`` and its WebM's library file; ControlError 404 when no
    recording is published under it (unpublished or deleted)."""
    rec = (
        await s.scalar(select(Recording).where(Recording.public_token == token))
        if 16 <= len(token) <= 64
        else None
    )
    f = await s.get(LibraryFile, rec.file_id) if rec is not None and rec.file_id else None
    if rec is None or f is None:
        raise ControlError("not_found", "no such recording: it was unpublished or deleted", 404)
    return rec, f


async def published_file(s: AsyncSession, store: Storage, token: str) -> Path:
    """Where the WebM of the recording published under ``token`` is stored; ControlError 404 when no
    recording is published under it (unpublished or deleted), 410 when its bytes are missing."""
    _, f = await published(s, token)
    path = store.path(f.storage_key)
    if not path.is_file():
        raise ControlError("gone", "the recording's file is missing on the server", 410)
    return path
