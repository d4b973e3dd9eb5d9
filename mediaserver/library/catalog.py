"""The file library's rows (R-FILE-1..4): an account's files with the space they use against its quota, the
files uploaded straight into an event's room and who may reach them (R-FILE-2), the row that reserves an
upload's space while it is in progress (R-FILE-3), and the videos an event offers behind signed watch URLs
(R-AUTO-2). Where the bytes are is mediaserver.library.storage's business; the rules are
mediaserver.library.files."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts import identity
from mediaserver.accounts.identity import Principal
from mediaserver.billing import subscription
from mediaserver.errors import ControlError, forbidden, not_found
from mediaserver.events import automation, entry, lifecycle, visibility
from mediaserver.interaction import polls_store
from mediaserver.library import documents, files, roomfiles
from mediaserver.library.storage import Storage, Upload
from mediaserver.rtc import tokens
from mediaserver.store.models import Account, Document, Event, LibraryFile, RoomFile

log = logging.getLogger("mediaserver.library.catalog")


@dataclass
class Download:
    """A stored file to send: where its bytes are and the name to give it."""

    path: Path
    name: str
    content_type: str | None = None  # else guessed from the path (application/octet-stream for ".bin")
    inline: bool = False  # shown by the browser (a document's PDF, a page image), not saved
    cache: str | None = None  # the Cache-Control header


def quota(account: Account, parent: Account | None) -> int:
    """The account's storage in bytes (R-FILE-1): its plan's or package's, with bought storage."""
    return subscription.account_limits(account, parent).storage_mb * files.MB


async def used_bytes(s: AsyncSession, account_id: int) -> int:
    """What the account stores, uploads in progress at their declared length (R-FILE-3)."""
    return int(
        await s.scalar(
            select(func.coalesce(func.sum(LibraryFile.size), 0)).where(LibraryFile.account_id == account_id)
        )
        or 0
    )


# ---------------------------------------------------------------- the account's library


@dataclass
class LibraryPage:
    rows: list[tuple[LibraryFile, list[int]]]  # (file, the events whose rooms hold it, oldest first)
    total: int
    used_bytes: int
    quota_bytes: int


async def library(s: AsyncSession, p: Principal, offset: int, limit: int) -> LibraryPage:
    """A page of the files the principal reaches (events.visibility.files: the shared library, and the
    files of the events they see), newest first, with the space the whole account uses and its quota."""
    where = visibility.files(p)
    total = await s.scalar(select(func.count()).select_from(LibraryFile).where(where))
    rows = list(
        await s.scalars(
            select(LibraryFile).where(where).order_by(LibraryFile.id.desc()).offset(offset).limit(limit)
        )
    )
    rooms = await rooms_of(s, [f.id for f in rows])
    return LibraryPage(
        [(f, rooms.get(f.id, [])) for f in rows],
        int(total or 0),
        await used_bytes(s, p.account.id),
        quota(p.account, p.main if p.account.kind == "sub" else None),
    )


async def rooms_of(s: AsyncSession, file_ids: list[int]) -> dict[int, list[int]]:
    """The events whose rooms hold each of the files (issue 17: a file may be in several), oldest first;
    files in no room are left out."""
    out: dict[int, list[int]] = {}
    if file_ids:
        links = await s.execute(
            select(RoomFile.file_id, RoomFile.event_id)
            .where(RoomFile.file_id.in_(file_ids))
            .order_by(RoomFile.file_id, RoomFile.event_id)
        )
        for file_id, event_id in links:
            out.setdefault(file_id, []).append(event_id)
    return out


async def _file(s: AsyncSession, p: Principal, file_id: int) -> LibraryFile:
    """A file the principal reaches; 404 for any other, whether it exists or not."""
    f = await s.scalar(select(LibraryFile).where(LibraryFile.id == file_id, visibility.files(p)))
    if f is None:
        raise not_found("file")
    return f


async def delete_file(s: AsyncSession, store: Storage, p: Principal, file_id: int) -> None:
    """Delete a file (a room's file too, from every room that holds it) and its bytes: frees space for
    uploads (R-FILE-3)."""
    f = await _file(s, p, file_id)
    key = f.storage_key
    await s.delete(f)
    await s.flush()
    store.remove([key])


async def download(s: AsyncSession, store: Storage, p: Principal, file_id: int) -> Download:
    """A complete file the principal reaches."""
    f = await _file(s, p, file_id)
    if f.status != "complete":
        raise not_found("file")
    return Download(store.path(f.storage_key), f.name)


# ---------------------------------------------------------------- a room's files (R-FILE-2)

# Who uploads straight into a room: the organiser (a user of the event's account who may see the event, signed
# in or with an API key) and, with their join token for that room, its host and presenters. Everyone holding a
# join token for the room (attendees too: the room shares its files with its participants) lists and
# downloads.
ROOM_UPLOADERS = ("host", "presenter")


@dataclass
class RoomAccess:
    event: Event
    role: str  # organiser | host | presenter | attendee
    who: str  # who it is, stable across the requests of one upload

    @property
    def may_upload(self) -> bool:
        return self.role in ("organiser", *ROOM_UPLOADERS)


async def room_access(s: AsyncSession, secret: str, room_id: str, token: str | None) -> RoomAccess:
    """Who asks about the room ``room_id`` (an event's 9-digit room ID) with the credential ``token``: its
    organiser's session or API key, or a join token for that room. Raises ControlError (401, 403, 404)."""
    ev = await entry.event_of_room(s, room_id)
    if ev is None:
        raise ControlError("not_found", "no event with this room ID", 404)
    if not token:
        raise ControlError(
            "unauthorized",
            "send the room's join token ('Authorization: Bearer <join token>') or "
            "sign in as the event's organiser",
            401,
        )
    if token.startswith(("mss_", "msk_")):
        p = await identity.resolve(s, token)
        if p is None:
            raise ControlError("unauthorized", "this session or API key is not valid", 401)
        try:
            await lifecycle.get_event(s, p, ev.id)
        except ControlError:
            raise ControlError(
                "forbidden",
                "this event is not one of yours: only its organiser, host and "
                "presenters reach its room's files",
                403,
            ) from None
        return RoomAccess(ev, "organiser", f"user{p.user.id}")
    try:
        grant = tokens.verify(secret, token)
    except tokens.TokenError as e:
        raise ControlError("unauthorized", f"the join token is not valid: {e}", 401) from None
    if grant.room != ev.room_id:
        raise ControlError("forbidden", f"this join token is for room {grant.room}, not {ev.room_id}", 403)
    return RoomAccess(ev, grant.role, grant.identity)


def room_uploader(access: RoomAccess) -> RoomAccess:
    """``access`` when it may upload into the room (R-FILE-2): its host and presenters, and the event's
    organiser; raises ControlError (403) for an attendee."""
    if not access.may_upload:
        raise forbidden(
            "only the room's host and presenters (and the event's organiser) upload files into it; "
            "attendees download them"
        )
    return access


async def room_files(
    s: AsyncSession, event_id: int, offset: int, limit: int
) -> tuple[list[tuple[LibraryFile, str]], int]:
    """(a page of the complete files in the event's room (uploaded into it or brought from the library),
    newest first, with who put each there; how many in all)."""
    where = (RoomFile.event_id == event_id) & (LibraryFile.status == "complete")
    q = (
        select(LibraryFile, RoomFile.uploaded_by)
        .join(RoomFile, RoomFile.file_id == LibraryFile.id)
        .where(where)
    )
    total = await s.scalar(select(func.count()).select_from(q.subquery()))
    rows = await s.execute(q.order_by(LibraryFile.id.desc()).offset(offset).limit(limit))
    return [(f, by) for f, by in rows], int(total or 0)


async def room_download(s: AsyncSession, store: Storage, event_id: int, file_id: int) -> Download:
    f = await roomfiles.get(s, event_id, file_id)
    return Download(store.path(f.storage_key), f.name)


PRESENTABLE = documents.EXTENSIONS | {e for e in files.EXTENSIONS if files.video_type(f"x.{e}")}


async def library_for_room(
    s: AsyncSession, access: RoomAccess, offset: int, limit: int
) -> tuple[list[tuple[LibraryFile, list[int]]], int]:
    """Issue 17: the documents and videos of the event's account's library that the room's host and
    presenters (and its organiser) may bring into the room to present: those not in this room yet (its own
    are listed with its files), newest first, each with the other events whose rooms hold it (a deck shown
    in every webinar of a series); 403 for an attendee."""
    room_uploader(access)
    kinds = [func.lower(LibraryFile.name).like(f"%.{e}") for e in sorted(PRESENTABLE)]
    in_this_room = select(RoomFile.file_id).where(
        RoomFile.file_id == LibraryFile.id, RoomFile.event_id == access.event.id
    )
    where = (
        (LibraryFile.account_id == access.event.account_id)
        & (LibraryFile.status == "complete")
        & or_(*kinds)
        & ~in_this_room.exists()
    )
    total = await s.scalar(select(func.count()).select_from(LibraryFile).where(where))
    rows = list(
        await s.scalars(
            select(LibraryFile).where(where).order_by(LibraryFile.id.desc()).offset(offset).limit(limit)
        )
    )
    rooms = await rooms_of(s, [f.id for f in rows])
    return [(f, rooms.get(f.id, [])) for f in rows], int(total or 0)


async def attach_to_room(s: AsyncSession, access: RoomAccess, file_id: int) -> tuple[LibraryFile, str]:
    """Issue 17: a file of the event's account's library joins the room's files (to be presented there and
    downloaded by its participants), whatever other events' rooms hold it too. A document that was never
    converted is queued. 403 for an attendee; 404 for a file of another account or not complete; 409
    already_in_room for a file this room has."""
    room_uploader(access)
    f = await s.get(LibraryFile, file_id)
    if f is None or f.account_id != access.event.account_id or f.status != "complete":
        raise not_found("file in this account's library")
    if files.extension(f.name) not in PRESENTABLE:
        raise ControlError(
            "not_presentable", f"{f.name!r} is neither a document nor a video: nothing to present", 415
        )
    if await s.get(RoomFile, (f.id, access.event.id)) is not None:
        raise ControlError("already_in_room", f"{f.name!r} is in this room already: present it", 409)
    link = RoomFile(file_id=f.id, event_id=access.event.id, uploaded_by=access.role)
    s.add(link)
    if documents.is_document(f.name) and await s.get(Document, f.id) is None:
        await documents.queue(s, f)
    await s.flush()
    return f, link.uploaded_by


async def detach_from_room(s: AsyncSession, access: RoomAccess, file_id: int) -> None:
    """Issue 17: a file leaves the event's room (its participants no longer list, download or see it); it
    stays in the account's library and in the other events' rooms that hold it. 403 for an attendee; 404 for
    a file not in this room."""
    room_uploader(access)
    link = await s.get(RoomFile, (file_id, access.event.id))
    if link is None:
        raise not_found("file in this room")
    await s.delete(link)
    await s.flush()


# ---------------------------------------------------------------- uploads in progress (R-FILE-1..4)


async def reserve_upload(
    s: AsyncSession,
    account_id: int | None,
    room_id: str | None,
    role: str,
    filename: str,
    length: int,
    into_room: bool,
) -> int:
    """The row that reserves an upload's space before its bytes come: for the account ``account_id``, or
    for the account of the event whose room is ``room_id`` (then the file is also the room's, uploaded by
    ``role``). Raises FileRefused (mediaserver.library.files) or ControlError; returns the row's id."""
    event = None
    if room_id is not None:
        event = await lifecycle.event_by_room(s, room_id)
        if event is None:
            raise ControlError("not_found", "no event with this room ID", 404)
        if event.status == "done":
            raise ControlError(
                "ended",
                "this event is over: its room takes no more files; upload to the file library instead",
                410,
            )
        if event.kind == "on_demand":
            raise ControlError(
                "conflict",
                "an on-demand event has no room to upload into: put its video in the file library (R-AUTO-2)",
                409,
            )
        account = await s.get(Account, event.account_id)
    else:
        account = await s.get(Account, account_id) if account_id is not None else None
    if account is None:
        raise ControlError("unauthorized", "no such account", 401)
    parent = await s.get(Account, account.parent_id) if account.parent_id else None
    # uploads in progress count at their declared length, so two cannot both take the last space; a room
    # upload counts against the account of the room's event like any other (R-FILE-1, R-FILE-3)
    files.check_upload(filename, length, await used_bytes(s, account.id), quota(account, parent), into_room)
    row = LibraryFile(
        account_id=account.id,
        name=filename,
        size=length,
        status="uploading",
        storage_key="pending-" + secrets.token_urlsafe(12),
    )
    s.add(row)
    await s.flush()
    if event is not None:
        s.add(RoomFile(file_id=row.id, event_id=event.id, uploaded_by=role))
    return row.id


async def _pending(s: AsyncSession, account_id: int | None, upload: Upload) -> LibraryFile | None:
    file_id = upload.extra.get("file_id")
    if isinstance(file_id, int):
        row = await s.get(LibraryFile, file_id)
        return row if row is not None and row.status == "uploading" else None
    if account_id is None:
        return None
    # an upload started before its row's id was kept with it: the oldest pending row of that name and size
    return await s.scalar(
        select(LibraryFile)
        .where(
            LibraryFile.account_id == account_id,
            LibraryFile.status == "uploading",
            LibraryFile.name == upload.filename,
            LibraryFile.size == upload.length,
        )
        .order_by(LibraryFile.id)
        .limit(1)
    )


async def complete_upload(s: AsyncSession, store: Storage, account_id: int | None, upload: Upload) -> None:
    """The upload's bytes are all there: its row becomes a complete file stored under the upload's id; when
    the row went meanwhile (its account, or the file, was deleted) the bytes go too."""
    row = await _pending(s, account_id, upload)
    if row is None:
        store.remove([upload.id])
        return
    row.status, row.storage_key, row.size = "complete", upload.id, upload.length
    if documents.is_document(row.name):  # issue 17: shown in rooms once converted (R-MEDIA-8)
        await documents.queue(s, row)


async def release_upload(s: AsyncSession, account_id: int | None, upload: Upload) -> None:
    """An upload abandoned (tus termination) or expired: the space its row reserved is free again."""
    row = await _pending(s, account_id, upload)
    if row is not None:
        await s.delete(row)


# ---------------------------------------------------------------- videos behind watch URLs (R-AUTO-2)


@dataclass
class Video:
    path: Path
    content_type: str


async def offered_file(s: AsyncSession, store: Storage, file_id: int, event_id: int) -> Video:
    """The file a signed watch URL names, while its event still offers it (an on-demand event's video, or a
    file of an automated event's timeline); else ControlError 410 (the organiser deleted the file or the
    event, or attached another video meanwhile, or the bytes are missing)."""
    f = await s.get(LibraryFile, file_id)
    ev = await s.get(Event, event_id)
    offered = (
        ev is not None and f is not None and (ev.video_file_id == f.id or f.id in automation.file_ids(ev))
    )
    image = (  # an option's image of one of the event's polls (R-INT-3)
        ev is not None and f is not None and not offered and await polls_store.offers_image(s, ev.id, f.id)
    )
    offered = offered or image
    if ev is not None and f is not None and not offered and files.video_type(f.name):
        # issue 17: a video uploaded into the event's room, played to it by the shared player (player_store)
        offered = await s.get(RoomFile, (f.id, ev.id)) is not None
    if f is None or ev is None or not offered or f.status != "complete":
        raise ControlError(
            "gone", "this video is no longer offered by the event; open the invitation link again", 410
        )
    kind = (
        (polls_store.image_type(f.name) if image else None)
        or files.video_type(f.name)
        or next(
            (
                automation.content_type(i["component"], f.name)
                for i in automation.timeline(ev)
                if i.get("fileId") == f.id
            ),
            None,
        )
    )
    path = store.path(f.storage_key)
    if not path.is_file():
        log.error("library file %s (%s) has no bytes at %s", f.id, f.name, path)
        raise ControlError("gone", "this video's file is missing on the server", 410)
    return Video(path, kind or "application/octet-stream")
