"""/api/v1 operations of the address book (contacts, groups; R-ACC-6) and the file library (R-FILE-1)."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from mediaserver.accounts import identity
from mediaserver.billing import subscription
from mediaserver.errors import ControlError, not_found
from mediaserver.events import lifecycle
from mediaserver.library import contacts_import, files
from mediaserver.output.recording import stored_file
from mediaserver.rtc import tokens
from mediaserver.store.models import Account, Contact, ContactGroup, Event, GroupMember, LibraryFile, RoomFile
from signaling import keys
from signaling.api import uploads
from signaling.api.accounts import Email
from signaling.api.framework import API, Ctx, Model, Out, Text, _token_of, page
from signaling.api.uploads import Upload
from signaling.errors import SignalError

log = logging.getLogger("signaling.library")


def files_dir(settings: Any) -> Path:
    return Path(settings.data_dir) / "files"


def remove_stored(settings: Any, storage_keys: list[str]) -> None:
    """Delete stored file bytes (after the rows went, e.g. with a deleted sub-account: irreversible)."""
    root = (files_dir(settings) / "uploads").resolve()
    for key in storage_keys:
        for suffix in (".bin", ".json"):
            path = (root / f"{key}{suffix}").resolve()
            if path.parent == root:
                path.unlink(missing_ok=True)


# ---------------------------------------------------------------- contacts

class ContactIn(Model):
    name: Annotated[Text, Field(max_length=200)] = ""
    email: Email | None = None
    phone: Annotated[Text, Field(max_length=64)] = ""
    company: Annotated[Text, Field(max_length=200)] = ""


class ContactPatch(Model):
    name: Annotated[Text, Field(max_length=200)] | None = None
    email: Email | None = None
    phone: Annotated[Text, Field(max_length=64)] | None = None
    company: Annotated[Text, Field(max_length=200)] | None = None


class ContactOut(Out):
    id: int
    name: str
    email: str | None
    phone: str
    company: str
    created_at: dt.datetime


class ContactPage(Out):
    items: list[ContactOut]
    total: int
    offset: int
    limit: int


async def _contact(ctx: Ctx, contact_id: int) -> Contact:
    c = await ctx.s.get(Contact, contact_id)
    if c is None or c.account_id != ctx.user.account.id:
        raise not_found("contact")
    return c


async def _save(ctx: Ctx, c: Contact) -> None:
    try:
        async with ctx.s.begin_nested():
            await ctx.s.flush()
    except IntegrityError:
        raise ControlError("conflict", "the address book already has a contact with this e-mail address", 409) \
            from None


@API("GET", "/api/v1/contacts", "the address book (R-ACC-6)", "address book", response=ContactPage,
     paginated=True)
async def list_contacts(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    where = Contact.account_id == ctx.user.account.id
    total = await ctx.s.scalar(select(func.count()).select_from(Contact).where(where))
    rows = await ctx.s.scalars(select(Contact).where(where).order_by(Contact.name, Contact.id).offset(offset)
                               .limit(limit))
    return page([ContactOut.model_validate(c) for c in rows], int(total or 0), offset, limit)


@API("POST", "/api/v1/contacts", "add a contact", "address book", body=ContactIn, response=ContactOut, status=201,
     errors=(409,), idempotent=True)
async def create_contact(ctx: Ctx) -> ContactOut:
    b: ContactIn = ctx.body
    c = Contact(account_id=ctx.user.account.id, name=b.name, phone=b.phone, company=b.company,
                email=identity.check_email(b.email) if b.email else None)
    ctx.s.add(c)
    await _save(ctx, c)
    return ContactOut.model_validate(c)


@API("GET", "/api/v1/contacts/{id}", "one contact", "address book", response=ContactOut)
async def get_contact(ctx: Ctx) -> ContactOut:
    return ContactOut.model_validate(await _contact(ctx, ctx.id()))


@API("PATCH", "/api/v1/contacts/{id}", "change a contact", "address book", body=ContactPatch, response=ContactOut,
     errors=(409,))
async def patch_contact(ctx: Ctx) -> ContactOut:
    c = await _contact(ctx, ctx.id())
    for key, value in ctx.body.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(c, key, identity.check_email(value) if key == "email" else value)
    await _save(ctx, c)
    return ContactOut.model_validate(c)


@API("DELETE", "/api/v1/contacts/{id}", "remove a contact", "address book", status=204)
async def delete_contact(ctx: Ctx) -> None:
    await ctx.s.delete(await _contact(ctx, ctx.id()))


# ---------------------------------------------------------------- groups

class GroupIn(Model):
    name: Annotated[Text, Field(min_length=1, max_length=200)]


class GroupOut(Out):
    id: int
    name: str
    kind: str
    members: int
    created_at: dt.datetime


class GroupList(Out):
    items: list[GroupOut]


class MembersIn(Model):
    contact_ids: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(min_length=1, max_length=1000)]


async def _group(ctx: Ctx) -> ContactGroup:
    g = await ctx.s.get(ContactGroup, ctx.id())
    if g is None or g.account_id != ctx.user.account.id:
        raise not_found("contact group")
    return g


async def _group_out(ctx: Ctx, g: ContactGroup) -> GroupOut:
    n = await ctx.s.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == g.id))
    return GroupOut(id=g.id, name=g.name, kind=g.kind, members=int(n or 0), created_at=g.created_at)


@API("GET", "/api/v1/groups", "contact groups, including those filled by registrations (R-ACC-6)",
     "address book", response=GroupList)
async def list_groups(ctx: Ctx) -> GroupList:
    rows = await ctx.s.scalars(select(ContactGroup).where(ContactGroup.account_id == ctx.user.account.id)
                               .order_by(ContactGroup.name))
    return GroupList(items=[await _group_out(ctx, g) for g in rows])


@API("POST", "/api/v1/groups", "make a contact group", "address book", body=GroupIn, response=GroupOut,
     status=201, errors=(409,), idempotent=True)
async def create_group(ctx: Ctx) -> GroupOut:
    g = ContactGroup(account_id=ctx.user.account.id, name=ctx.body.name, kind="manual")
    ctx.s.add(g)
    try:
        async with ctx.s.begin_nested():
            await ctx.s.flush()
    except IntegrityError:
        raise ControlError("conflict", "a group with this name exists", 409) from None
    return await _group_out(ctx, g)


@API("DELETE", "/api/v1/groups/{id}", "remove a group (its contacts stay)", "address book", status=204)
async def delete_group(ctx: Ctx) -> None:
    await ctx.s.delete(await _group(ctx))


@API("GET", "/api/v1/groups/{id}/members", "the contacts of a group", "address book", response=ContactPage,
     paginated=True)
async def group_members(ctx: Ctx) -> dict[str, Any]:
    g = await _group(ctx)
    offset, limit = ctx.page()
    q = select(Contact).join(GroupMember, GroupMember.contact_id == Contact.id).where(GroupMember.group_id == g.id)
    total = await ctx.s.scalar(select(func.count()).select_from(q.subquery()))
    rows = await ctx.s.scalars(q.order_by(Contact.name, Contact.id).offset(offset).limit(limit))
    return page([ContactOut.model_validate(c) for c in rows], int(total or 0), offset, limit)


@API("POST", "/api/v1/groups/{id}/members", "add contacts to a group", "address book", body=MembersIn,
     response=GroupOut)
async def add_members(ctx: Ctx) -> GroupOut:
    g = await _group(ctx)
    ids = set(ctx.body.contact_ids)
    found = set(await ctx.s.scalars(select(Contact.id).where(Contact.id.in_(ids),
                                                             Contact.account_id == ctx.user.account.id)))
    if found != ids:
        raise not_found("contact")
    have = set(await ctx.s.scalars(select(GroupMember.contact_id).where(GroupMember.group_id == g.id)))
    for cid in sorted(ids - have):
        ctx.s.add(GroupMember(group_id=g.id, contact_id=cid))
    await ctx.s.flush()
    return await _group_out(ctx, g)


@API("DELETE", "/api/v1/groups/{id}/members/{contactId}", "take a contact out of a group", "address book",
     status=204)
async def remove_member(ctx: Ctx) -> None:
    g = await _group(ctx)
    m = await ctx.s.get(GroupMember, (g.id, ctx.id("contactId")))
    if m is None:
        raise not_found("group member")
    await ctx.s.delete(m)


# ---------------------------------------------------------------- files (R-FILE-1)

class FileOut(Out):
    id: int
    name: str
    size: int
    status: str
    source: str = Field(description="upload, or recording (the recording module's files, R-REC-4)")
    event_id: int | None = Field(None, description="set when the file was uploaded straight into an event's room "
                                                   "(R-FILE-2): the event whose room files it is")
    created_at: dt.datetime


class FilePage(Out):
    items: list[FileOut]
    total: int
    offset: int
    limit: int
    used_bytes: int
    quota_bytes: int


async def used_bytes(ctx: Ctx, account_id: int) -> int:
    return int(await ctx.s.scalar(select(func.coalesce(func.sum(LibraryFile.size), 0))
                                  .where(LibraryFile.account_id == account_id)) or 0)


def _file_out(f: LibraryFile, event_id: int | None) -> FileOut:
    return FileOut(id=f.id, name=f.name, size=f.size, status=f.status, source=f.source, event_id=event_id,
                   created_at=f.created_at)


@API("GET", "/api/v1/files", "the file library with the space used and the plan's quota (R-FILE-1); files "
     "uploaded straight into a room are here too, with their eventId", "files", response=FilePage, paginated=True)
async def list_files(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    p = ctx.user
    where = LibraryFile.account_id == p.account.id
    total = await ctx.s.scalar(select(func.count()).select_from(LibraryFile).where(where))
    rows = await ctx.s.execute(select(LibraryFile, RoomFile.event_id)
                               .outerjoin(RoomFile, RoomFile.file_id == LibraryFile.id).where(where)
                               .order_by(LibraryFile.id.desc()).offset(offset).limit(limit))
    lim = subscription.account_limits(p.account, p.main if p.account.kind == "sub" else None)
    return {**page([_file_out(f, event_id) for f, event_id in rows], int(total or 0), offset, limit),
            "used_bytes": await used_bytes(ctx, p.account.id), "quota_bytes": lim.storage_mb * 1024 * 1024}


@API("DELETE", "/api/v1/files/{id}", "delete a file, a room's file too (frees space for uploads, R-FILE-3)", "files",
     status=204)
async def delete_file(ctx: Ctx) -> None:
    f = await ctx.s.get(LibraryFile, ctx.id())
    if f is None or f.account_id != ctx.user.account.id:
        raise not_found("file")
    key = f.storage_key
    await ctx.s.delete(f)
    await ctx.s.flush()
    remove_stored(ctx.settings, [key])


@API("GET", "/api/v1/files/{id}/content", "download a file of the library", "files",
     response=None)
async def file_content(ctx: Ctx) -> Any:
    f = await ctx.s.get(LibraryFile, ctx.id())
    if f is None or f.account_id != ctx.user.account.id or f.status != "complete":
        raise not_found("file")
    return _Download(stored_path(ctx.settings, f.storage_key), f.name)


class _Download:
    """A handler result streamed from disk instead of JSON (see signaling.api.framework)."""

    def __init__(self, path: Path, name: str) -> None:
        self.path, self.name = path, name


def stored_path(settings: Any, key: str) -> Path:
    return stored_file(settings.data_dir, key)


# ---------------------------------------------------------------- a room's files (R-FILE-2)

# Who uploads straight into a room: the organiser (a user of the event's account who may see the event, signed
# in or with an API key) and, with their join token for that room, its host and presenters. Everyone holding a
# join token for the room (attendees too: the room shares its files with its participants) lists and downloads.
ROOM_UPLOADERS = ("host", "presenter")


@dataclass
class RoomAccess:
    event: Event
    role: str              # organiser | host | presenter | attendee
    who: str               # who it is, stable across the requests of one upload


async def room_access(s: Any, settings: Any, request: web.Request, room_id: str) -> RoomAccess:
    """Who asks about the room ``room_id`` (an event's 9-digit room ID): its organiser's session or API key, or a
    join token for that room. Raises SignalError (401, 403, 404)."""
    ev = await lifecycle.event_by_room(s, room_id) if room_id.isdigit() and len(room_id) == 9 else None
    if ev is None:
        raise SignalError("not_found", "no event with this room ID", 404)
    token = _token_of(request)
    if not token:
        raise SignalError("unauthorized", "send the room's join token ('Authorization: Bearer <join token>') or "
                          "sign in as the event's organiser", 401)
    if token.startswith(("mss_", "msk_")):
        p = await identity.resolve(s, token)
        if p is None:
            raise SignalError("unauthorized", "this session or API key is not valid", 401)
        try:
            await lifecycle.get_event(s, p, ev.id)
        except ControlError:
            raise SignalError("forbidden", "this event is not one of yours: only its organiser, host and presenters "
                              "reach its room's files", 403) from None
        return RoomAccess(ev, "organiser", f"user{p.user.id}")
    try:
        grant = tokens.verify(settings.secret, token)
    except tokens.TokenError as e:
        raise SignalError("unauthorized", f"the join token is not valid: {e}", 401) from None
    if grant.room != ev.room_id:
        raise SignalError("forbidden", f"this join token is for room {grant.room}, not {ev.room_id}", 403)
    return RoomAccess(ev, grant.role, grant.identity)


class RoomFileOut(Out):
    id: int
    name: str
    size: int
    uploaded_by: str = Field(description="organiser, host or presenter")
    created_at: dt.datetime
    url: str = Field(description="the file's content (GET, with the same join token or session)")


class RoomFilePage(Out):
    items: list[RoomFileOut]
    total: int
    offset: int
    limit: int
    event_id: int
    room_id: str


async def _room(ctx: Ctx) -> RoomAccess:
    return await room_access(ctx.s, ctx.settings, ctx.request, ctx.request.match_info["roomId"])


_ROOM_AUTH = ("Send the room's join token as 'Authorization: Bearer <join token>' (any role: the room shares its "
              "files with its participants), or the organiser's session or API key.")


@API("GET", "/api/v1/rooms/{roomId}/files", "the files uploaded straight into an event's room (R-FILE-2), newest "
     "first", "files", response=RoomFilePage, paginated=True, auth=False, errors=(401, 403),
     description=_ROOM_AUTH)
async def list_room_files(ctx: Ctx) -> dict[str, Any]:
    access = await _room(ctx)
    offset, limit = ctx.page()
    where = (RoomFile.event_id == access.event.id) & (LibraryFile.status == "complete")
    q = select(LibraryFile, RoomFile.uploaded_by).join(RoomFile, RoomFile.file_id == LibraryFile.id).where(where)
    total = await ctx.s.scalar(select(func.count()).select_from(q.subquery()))
    rows = await ctx.s.execute(q.order_by(LibraryFile.id.desc()).offset(offset).limit(limit))
    base = f"/api/v1/rooms/{access.event.room_id}/files"
    items = [RoomFileOut(id=f.id, name=f.name, size=f.size, uploaded_by=by, created_at=f.created_at,
                         url=f"{base}/{f.id}/content") for f, by in rows]
    return {**page(items, int(total or 0), offset, limit), "event_id": access.event.id,
            "room_id": access.event.room_id}


@API("GET", "/api/v1/rooms/{roomId}/files/{id}/content", "download a file of an event's room (R-FILE-2)", "files",
     response=None, auth=False, errors=(401, 403), description=_ROOM_AUTH)
async def room_file_content(ctx: Ctx) -> Any:
    access = await _room(ctx)
    file_id = ctx.id()
    f = await ctx.s.scalar(select(LibraryFile).join(RoomFile, RoomFile.file_id == LibraryFile.id).where(
        LibraryFile.id == file_id, RoomFile.event_id == access.event.id, LibraryFile.status == "complete"))
    if f is None:
        raise not_found("file in this room")
    return _Download(stored_path(ctx.settings, f.storage_key), f.name)


# ---------------------------------------------------------------- resumable uploads (tus, R-FILE-1..4)

def add_upload_routes(app: web.Application) -> None:
    """tus 1.0 uploads at /api/v1/uploads into the file library, and at /api/v1/rooms/{roomId}/uploads straight
    into an event's room (R-FILE-2: at most 50 MB; the room's files, still in the account's library), with the
    account's quota (R-FILE-3)."""
    settings = app[keys.SETTINGS]

    async def authorize(request: web.Request) -> str:
        """The upload's owner: the account's id for the library; ``room:<roomId>:<role>:<who>`` for a room."""
        token = _token_of(request)
        room_id = request.match_info.get("roomId")
        async with app[keys.DB].read() as s:
            if room_id is not None:
                access = await room_access(s, settings, request, room_id)
                await s.commit()
                if access.role not in ("organiser", *ROOM_UPLOADERS):
                    raise SignalError("forbidden", "only the room's host and presenters (and the event's organiser) "
                                      "upload files into it; attendees download them", 403)
                return f"room:{access.event.room_id}:{access.role}:{access.who}"
            p = await identity.resolve(s, token) if token else None
            if p is not None:
                await s.commit()
        if p is None:
            raise SignalError("unauthorized", "sign in or send 'Authorization: Bearer <API key>'", 401)
        return str(p.account.id)

    async def on_create(owner: str, filename: str, length: int, into_room: bool) -> dict[str, Any]:
        async with app[keys.DB].tx() as s:
            event = None
            if owner.startswith("room:"):
                _, room_id, role, _who = owner.split(":", 3)
                event = await lifecycle.event_by_room(s, room_id)
                if event is None:
                    raise SignalError("not_found", "no event with this room ID", 404)
                if event.status == "done":
                    raise SignalError("ended", "this event is over: its room takes no more files; upload to the "
                                      "file library instead", 410)
                if event.kind == "on_demand":
                    raise SignalError("conflict", "an on-demand event has no room to upload into: put its video "
                                      "in the file library (R-AUTO-2)", 409)
                account = await s.get(Account, event.account_id)
            else:
                account = await s.get(Account, int(owner))
            if account is None:
                raise SignalError("unauthorized", "no such account", 401)
            parent = await s.get(Account, account.parent_id) if account.parent_id else None
            quota = subscription.account_limits(account, parent).storage_mb * files.MB
            used = int(await s.scalar(select(func.coalesce(func.sum(LibraryFile.size), 0))
                                      .where(LibraryFile.account_id == account.id)) or 0)
            # uploads in progress count at their declared length, so two cannot both take the last space; a room
            # upload counts against the account of the room's event like any other (R-FILE-1, R-FILE-3)
            files.check_upload(filename, length, used, quota, into_room)
            row = LibraryFile(account_id=account.id, name=filename, size=length, status="uploading",
                              storage_key="pending-" + secrets.token_urlsafe(12))
            s.add(row)
            await s.flush()
            if event is not None:
                s.add(RoomFile(file_id=row.id, event_id=event.id, uploaded_by=role))
            return {"file_id": row.id}

    async def _pending(s: Any, owner: str, upload: Upload) -> LibraryFile | None:
        file_id = upload.extra.get("file_id")
        if isinstance(file_id, int):
            row = await s.get(LibraryFile, file_id)
            return row if row is not None and row.status == "uploading" else None
        if not owner.isdigit():
            return None
        # an upload started before its row's id was kept with it: the oldest pending row of that name and size
        return await s.scalar(select(LibraryFile).where(
            LibraryFile.account_id == int(owner), LibraryFile.status == "uploading", LibraryFile.name == upload.filename,
            LibraryFile.size == upload.length).order_by(LibraryFile.id).limit(1))

    async def on_complete(owner: str, upload: Upload) -> None:
        async with app[keys.DB].tx() as s:
            row = await _pending(s, owner, upload)
            if row is None:                      # its account (or the file) went meanwhile
                remove_stored(settings, [upload.id])
                return
            row.status, row.storage_key, row.size = "complete", upload.id, upload.length

    async def on_terminate(owner: str, upload: Upload) -> None:
        async with app[keys.DB].tx() as s:
            row = await _pending(s, owner, upload)
            if row is not None:
                await s.delete(row)

    # R-FILE-3: an upload with no progress for upload_expiry seconds is swept and its reserved space freed
    uploads.add_upload_routes(app, "/api/v1/uploads", files_dir(settings) / "uploads",
                              uploads.UploadHooks(authorize, on_create, on_complete, on_terminate,
                                                  on_expire=on_terminate, expiry=settings.upload_expiry),
                              room_prefix="/api/v1/rooms/{roomId}/uploads")


# ---------------------------------------------------------------- contact import (R-FILE-5)

class ImportOut(Out):
    imported: int
    already_there: int
    skipped: list[dict[str, Any]]
    format: str
    encoding: str | None
    group_id: int | None


@API("POST", "/api/v1/contacts/import", "import contacts from CSV, XLS or XLSX; legacy Windows code pages "
     "(cp1251 and others) are detected, an unreadable file is refused with the reason (R-FILE-5)",
     "address book", response=ImportOut, status=201, errors=(413, 415),
     request_body={"required": True, "content": {"multipart/form-data": {"schema": {
         "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}},
     query=({"name": "groupId", "in": "query", "required": False, "description": "also add them to this group",
             "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}},))
async def import_contacts(ctx: Ctx) -> ImportOut:
    group = None
    if "groupId" in ctx.request.query:
        raw = ctx.request.query["groupId"]
        group = await ctx.s.get(ContactGroup, int(raw)) if raw.isdigit() and int(raw) < 2**31 else None
        if group is None or group.account_id != ctx.user.account.id:
            raise not_found("contact group")
    name, data = await _upload_field(ctx)
    try:
        result = await asyncio.to_thread(contacts_import.parse_contacts, data, name)
    except contacts_import.ImportRefused as e:
        status = {"unknown_format": 415, "too_large": 413}.get(e.code, 400)
        raise ControlError(e.code, e.message, status) from None
    account_id = ctx.user.account.id
    have = {c.email: c for c in await ctx.s.scalars(select(Contact).where(Contact.account_id == account_id))}
    imported = already = 0
    members = set()
    for row in result.rows:
        email = row.email.strip().lower()
        c = have.get(email)
        if c is None:
            c = Contact(account_id=account_id, name=row.name[:200], email=email, phone=row.phone[:64],
                        company=row.company[:200])
            ctx.s.add(c)
            have[email] = c
            imported += 1
        else:
            already += 1
        members.add(c)
    await ctx.s.flush()
    if group is not None:
        present = set(await ctx.s.scalars(select(GroupMember.contact_id).where(GroupMember.group_id == group.id)))
        for c in members:
            if c.id not in present:
                ctx.s.add(GroupMember(group_id=group.id, contact_id=c.id))
    return ImportOut(imported=imported, already_there=already, format=result.format, encoding=result.encoding,
                     skipped=[{"line": line, "reason": reason} for line, reason in result.skipped],
                     group_id=group.id if group else None)


async def _upload_field(ctx: Ctx) -> tuple[str, bytes]:
    """The 'file' part of a multipart body, read up to the import limit (the app's 1 MB body cap is for JSON)."""
    if not ctx.request.content_type.startswith("multipart/"):
        raise ControlError("bad_request", "send the file as multipart/form-data in a field named 'file'")
    try:
        reader = await ctx.request.multipart()
        while (part := await reader.next()) is not None:
            if getattr(part, "name", None) != "file":
                continue
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data += chunk
                if len(data) > contacts_import.MAX_IMPORT_BYTES:
                    raise ControlError("too_large", f"the file is larger than "
                                       f"{contacts_import.MAX_IMPORT_BYTES // files.MB} MB", 413)
            return part.filename or "", bytes(data)
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as e:
        raise ControlError("bad_request", f"the multipart body is malformed: {e}") from None
    raise ControlError("bad_request", "no field named 'file' in the multipart body")
