"""/api/v1 operations of the address book (contacts, groups; R-ACC-6) and the file library (R-FILE-1)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import Field

from mediaserver.accounts import identity
from mediaserver.errors import ControlError
from mediaserver.library import catalog, contacts, contacts_import, files, import_worker, roomfiles
from mediaserver.library.catalog import Download, RoomAccess
from mediaserver.library.storage import Storage, Upload
from signaling import keys
from signaling.api import uploads
from signaling.api.accounts import Email
from signaling.api.framework import API, Ctx, Model, Out, Page, Text, _token_of, page
from signaling.errors import SignalError

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


class ContactPage(Page[ContactOut]):
    pass


@API(
    "GET",
    "/api/v1/contacts",
    "the address book (R-ACC-6)",
    "address book",
    response=ContactPage,
    paginated=True,
)
async def list_contacts(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total = await contacts.contacts(ctx.s, ctx.user.account.id, offset, limit)
    return page([ContactOut.model_validate(c) for c in rows], total, offset, limit)


@API(
    "POST",
    "/api/v1/contacts",
    "add a contact",
    "address book",
    body=ContactIn,
    response=ContactOut,
    status=201,
    errors=(409,),
    idempotent=True,
)
async def create_contact(ctx: Ctx) -> ContactOut:
    b: ContactIn = ctx.body
    c = await contacts.add_contact(ctx.s, ctx.user.account.id, b.name, b.email, b.phone, b.company)
    return ContactOut.model_validate(c)


@API("GET", "/api/v1/contacts/{id}", "one contact", "address book", response=ContactOut)
async def get_contact(ctx: Ctx) -> ContactOut:
    return ContactOut.model_validate(await contacts.contact(ctx.s, ctx.user.account.id, ctx.id()))


@API(
    "PATCH",
    "/api/v1/contacts/{id}",
    "change a contact",
    "address book",
    body=ContactPatch,
    response=ContactOut,
    errors=(409,),
)
async def patch_contact(ctx: Ctx) -> ContactOut:
    c = await contacts.change_contact(
        ctx.s, ctx.user.account.id, ctx.id(), ctx.body.model_dump(exclude_unset=True)
    )
    return ContactOut.model_validate(c)


@API("DELETE", "/api/v1/contacts/{id}", "remove a contact", "address book", status=204)
async def delete_contact(ctx: Ctx) -> None:
    await contacts.delete_contact(ctx.s, ctx.user.account.id, ctx.id())


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
    contact_ids: Annotated[
        list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(min_length=1, max_length=1000)
    ]


@API(
    "GET",
    "/api/v1/groups",
    "contact groups, including those filled by registrations (R-ACC-6)",
    "address book",
    response=GroupList,
)
async def list_groups(ctx: Ctx) -> GroupList:
    return GroupList(
        items=[GroupOut.model_validate(g) for g in await contacts.groups(ctx.s, ctx.user.account.id)]
    )


@API(
    "POST",
    "/api/v1/groups",
    "make a contact group",
    "address book",
    body=GroupIn,
    response=GroupOut,
    status=201,
    errors=(409,),
    idempotent=True,
)
async def create_group(ctx: Ctx) -> GroupOut:
    return GroupOut.model_validate(await contacts.add_group(ctx.s, ctx.user.account.id, ctx.body.name))


@API("DELETE", "/api/v1/groups/{id}", "remove a group (its contacts stay)", "address book", status=204)
async def delete_group(ctx: Ctx) -> None:
    await contacts.delete_group(ctx.s, ctx.user.account.id, ctx.id())


@API(
    "GET",
    "/api/v1/groups/{id}/members",
    "the contacts of a group",
    "address book",
    response=ContactPage,
    paginated=True,
)
async def group_members(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total = await contacts.members(ctx.s, ctx.user.account.id, ctx.id(), offset, limit)
    return page([ContactOut.model_validate(c) for c in rows], total, offset, limit)


@API(
    "POST",
    "/api/v1/groups/{id}/members",
    "add contacts to a group",
    "address book",
    body=MembersIn,
    response=GroupOut,
)
async def add_members(ctx: Ctx) -> GroupOut:
    g = await contacts.add_members(ctx.s, ctx.user.account.id, ctx.id(), ctx.body.contact_ids)
    return GroupOut.model_validate(g)


@API(
    "DELETE",
    "/api/v1/groups/{id}/members/{contactId}",
    "take a contact out of a group",
    "address book",
    status=204,
)
async def remove_member(ctx: Ctx) -> None:
    await contacts.remove_member(ctx.s, ctx.user.account.id, ctx.id(), ctx.id("contactId"))


# ---------------------------------------------------------------- files (R-FILE-1)


class FileOut(Out):
    id: int
    name: str
    size: int
    status: str
    source: str = Field(description="upload, or recording (the recording module's files, R-REC-4)")
    event_id: int | None = Field(
        None,
        description="set when the file is in an event's room (uploaded straight into it, R-FILE-2, or "
        "brought into it from the library, issue 17): that event, the oldest when several rooms hold it",
    )
    event_ids: list[int] = Field(
        default_factory=list,
        description="every event whose room holds the file, oldest first (a deck may be in the rooms of "
        "several events: issue 17); empty for a file in no room",
    )
    created_at: dt.datetime


class FilePage(Page[FileOut]):
    used_bytes: int
    quota_bytes: int


@API(
    "GET",
    "/api/v1/files",
    "the file library with the space used and the plan's quota (R-FILE-1); the files of events' rooms "
    "are here too, with their eventIds",
    "files",
    response=FilePage,
    paginated=True,
)
async def list_files(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    got = await catalog.library(ctx.s, ctx.user, offset, limit)
    items = [
        FileOut(
            id=f.id,
            name=f.name,
            size=f.size,
            status=f.status,
            source=f.source,
            event_id=event_ids[0] if event_ids else None,
            event_ids=event_ids,
            created_at=f.created_at,
        )
        for f, event_ids in got.rows
    ]
    return {
        **page(items, got.total, offset, limit),
        "used_bytes": got.used_bytes,
        "quota_bytes": got.quota_bytes,
    }


@API(
    "DELETE",
    "/api/v1/files/{id}",
    "delete a file, a room's file too, from every room that holds it (frees space for uploads, R-FILE-3)",
    "files",
    status=204,
)
async def delete_file(ctx: Ctx) -> None:
    await catalog.delete_file(ctx.s, Storage.of(ctx.settings), ctx.user, ctx.id())


@API("GET", "/api/v1/files/{id}/content", "download a file of the library", "files", response=None)
async def file_content(ctx: Ctx) -> Download:
    return await catalog.download(ctx.s, Storage.of(ctx.settings), ctx.user, ctx.id())


# ---------------------------------------------------------------- a room's files (R-FILE-2)


class RoomFileOut(Out):
    id: int
    name: str
    size: int
    kind: roomfiles.Kind = Field(
        description="what the room does with it (issue 17): pdf or document (an office file, converted to "
        "PDF) is presented on the stage, video plays in the shared player; image or other"
    )
    uploaded_by: str = Field(description="organiser, host or presenter")
    created_at: dt.datetime
    url: str = Field(description="the file's content (GET, with the same join token or session)")


class RoomFilePage(Page[RoomFileOut]):
    event_id: int
    room_id: str


async def _room(ctx: Ctx) -> RoomAccess:
    return await catalog.room_access(
        ctx.s, ctx.settings.secret, ctx.request.match_info["roomId"], _token_of(ctx.request)
    )


room_access = _room  # the same access for a room file's document (signaling.api.documents, issue 17)


_ROOM_AUTH = (
    "Send the room's join token as 'Authorization: Bearer <join token>' (any role: the room shares its "
    "files with its participants), or the organiser's session or API key."
)


@API(
    "GET",
    "/api/v1/rooms/{roomId}/files",
    "the files of an event's room (uploaded straight into it, R-FILE-2, or brought from the library), "
    "newest first, each with its kind",
    "files",
    response=RoomFilePage,
    paginated=True,
    auth=False,
    errors=(401, 403),
    description=_ROOM_AUTH,
)
async def list_room_files(ctx: Ctx) -> dict[str, Any]:
    access = await _room(ctx)
    offset, limit = ctx.page()
    rows, total = await catalog.room_files(ctx.s, access.event.id, offset, limit)
    base = f"/api/v1/rooms/{access.event.room_id}/files"
    items = [
        RoomFileOut(
            id=f.id,
            name=f.name,
            size=f.size,
            kind=roomfiles.kind_of(f.name),
            uploaded_by=by,
            created_at=f.created_at,
            url=f"{base}/{f.id}/content",
        )
        for f, by in rows
    ]
    return {**page(items, total, offset, limit), "event_id": access.event.id, "room_id": access.event.room_id}


class LibraryPick(Model):
    file_id: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(description="a file of the account's library")


class PresentableOut(Out):
    id: int
    name: str
    size: int
    kind: roomfiles.Kind = Field(description="pdf, document (an office file, converted to PDF) or video")
    other_event_ids: list[int] = Field(
        description="the other events whose rooms hold this file (it may be in this room too)"
    )
    created_at: dt.datetime


@API(
    "GET",
    "/api/v1/rooms/{roomId}/library",
    "the documents and videos of the event's account's library that the room's host and presenters may "
    "bring into the room to present (issue 17): those not in this room yet, newest first",
    "files",
    response=Page[PresentableOut],
    paginated=True,
    auth=False,
    errors=(401, 403),
    description=_ROOM_AUTH,
)
async def room_library(ctx: Ctx) -> dict[str, Any]:
    access = await _room(ctx)
    offset, limit = ctx.page()
    rows, total = await catalog.library_for_room(ctx.s, access, offset, limit)
    items = [
        PresentableOut(
            id=f.id,
            name=f.name,
            size=f.size,
            kind=roomfiles.kind_of(f.name),
            other_event_ids=events,
            created_at=f.created_at,
        )
        for f, events in rows
    ]
    return page(items, total, offset, limit)


@API(
    "POST",
    "/api/v1/rooms/{roomId}/files",
    "the room's host or a presenter (or the organiser) brings a file of the account's library into the room, "
    "to present it there (issue 17), whatever other events' rooms hold it; 409 already_in_room for a file "
    "this room has",
    "files",
    body=LibraryPick,
    response=RoomFileOut,
    status=201,
    auth=False,
    errors=(401, 403, 404, 409, 415),
    description=_ROOM_AUTH,
)
async def room_attach(ctx: Ctx) -> RoomFileOut:
    access = await _room(ctx)
    f, by = await catalog.attach_to_room(ctx.s, access, ctx.body.file_id)
    return RoomFileOut(
        id=f.id,
        name=f.name,
        size=f.size,
        kind=roomfiles.kind_of(f.name),
        uploaded_by=by,
        created_at=f.created_at,
        url=f"/api/v1/rooms/{access.event.room_id}/files/{f.id}/content",
    )


@API(
    "DELETE",
    "/api/v1/rooms/{roomId}/files/{id}",
    "the room's host or a presenter (or the organiser) takes a file out of the room (issue 17): it stays in "
    "the account's library and in the other events' rooms that hold it",
    "files",
    status=204,
    auth=False,
    errors=(401, 403),
    description=_ROOM_AUTH,
)
async def room_detach(ctx: Ctx) -> None:
    access = await _room(ctx)
    await catalog.detach_from_room(ctx.s, access, ctx.id())


@API(
    "GET",
    "/api/v1/rooms/{roomId}/files/{id}/content",
    "download a file of an event's room (R-FILE-2)",
    "files",
    response=None,
    auth=False,
    errors=(401, 403),
    description=_ROOM_AUTH,
)
async def room_file_content(ctx: Ctx) -> Download:
    access = await _room(ctx)
    return await catalog.room_download(ctx.s, Storage.of(ctx.settings), access.event.id, ctx.id())


# ---------------------------------------------------------------- resumable uploads (tus, R-FILE-1..4)


def _owner(owner: str) -> tuple[int | None, str | None, str]:
    """(account id, room ID, role) of an upload's owner as ``authorize`` below wrote it."""
    if owner.startswith("room:"):
        _, room_id, role, _who = owner.split(":", 3)
        return None, room_id, role
    return (int(owner) if owner.isascii() and owner.isdigit() else None), None, ""


def add_upload_routes(app: web.Application) -> None:
    """tus 1.0 uploads at /api/v1/uploads into the file library, and at /api/v1/rooms/{roomId}/uploads
    straight into an event's room (R-FILE-2: at most 50 MB; the room's files, still in the account's
    library), with the account's quota (R-FILE-3)."""
    settings = app[keys.SETTINGS]
    db = app[keys.DB]
    store = Storage.of(settings)

    async def authorize(request: web.Request) -> str:
        """The upload's owner: the account's id for the library; ``room:<roomId>:<role>:<who>`` for a room."""
        token = _token_of(request)
        room_id = request.match_info.get("roomId")
        async with db.read() as s:
            if room_id is not None:
                access = await catalog.room_access(s, settings.secret, room_id, token)
                await s.commit()
                catalog.room_uploader(access)
                return f"room:{access.event.room_id}:{access.role}:{access.who}"
            p = await identity.resolve(s, token) if token else None
            if p is not None:
                await s.commit()
        if p is None:
            raise SignalError("unauthorized", "sign in or send 'Authorization: Bearer <API key>'", 401)
        return str(p.account.id)

    async def on_create(owner: str, filename: str, length: int, into_room: bool) -> dict[str, Any]:
        account_id, room_id, role = _owner(owner)
        async with db.tx() as s:
            file_id = await catalog.reserve_upload(s, account_id, room_id, role, filename, length, into_room)
        return {"file_id": file_id}

    async def on_complete(owner: str, upload: Upload) -> None:
        async with db.tx() as s:
            await catalog.complete_upload(s, store, _owner(owner)[0], upload)
        if keys.CONVERTER in app:  # a document uploaded is converted now (issue 17)
            app[keys.CONVERTER].wake()

    async def on_terminate(owner: str, upload: Upload) -> None:
        async with db.tx() as s:
            await catalog.release_upload(s, _owner(owner)[0], upload)

    # R-FILE-3: an upload with no progress for upload_expiry seconds is swept and its reserved space freed
    uploads.add_upload_routes(
        app,
        "/api/v1/uploads",
        store.root,
        uploads.UploadHooks(
            authorize,
            on_create,
            on_complete,
            on_terminate,
            on_expire=on_terminate,
            expiry=settings.upload_expiry,
        ),
        room_prefix="/api/v1/rooms/{roomId}/uploads",
    )


# ---------------------------------------------------------------- contact import (R-FILE-5)


class ImportOut(Out):
    imported: int = Field(description="contacts added to the address book")
    already_there: int = Field(description="rows whose e-mail the address book already had (not added twice)")
    skipped: list[dict[str, Any]] = Field(description="rows left out: {line, reason}")
    format: str = Field(description="what the file was read as: csv, xls or xlsx")
    encoding: str | None = Field(description="the text encoding detected (a CSV's legacy code page too)")
    group_id: int | None = Field(description="the group the contacts were also added to")


@API(
    "POST",
    "/api/v1/contacts/import",
    "import contacts from CSV, XLS or XLSX; legacy Windows code pages "
    "(cp1251 and others) are detected, an unreadable file is refused with the reason (R-FILE-5); a file over "
    "the import limits (size, rows, cells, a sheet's declared dimension, an XLSX's unpacked size or "
    "compression ratio, the reader's memory or time: docs/configuration.md) is refused with 413 naming it",
    "address book",
    response=ImportOut,
    status=201,
    errors=(413, 415),
    request_body={
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    },
    query=(
        {
            "name": "groupId",
            "in": "query",
            "required": False,
            "description": "also add them to this group",
            "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
        },
    ),
)
async def import_contacts(ctx: Ctx) -> ImportOut:
    raw = ctx.request.query.get("groupId")
    group_id = (
        None if raw is None else int(raw) if raw.isascii() and raw.isdigit() and int(raw) < 2**31 else 0
    )  # 0: no such group
    limits = import_worker.Limits(ctx.settings.import_memory_mb, ctx.settings.import_timeout)
    got = await contacts.import_file(ctx.s, ctx.user.account.id, group_id, lambda: _upload_field(ctx), limits)
    return ImportOut.model_validate(got)


async def _upload_field(ctx: Ctx) -> tuple[str, bytes]:
    """The 'file' part of a multipart body, read up to the import limit (the app's 1 MB body cap is for
    JSON)."""
    if not ctx.request.content_type.startswith("multipart/"):
        raise ControlError("bad_request", "send the file as multipart/form-data in a field named 'file'")
    try:
        reader = await ctx.request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name != "file":  # a nested multipart has no name
                continue
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data += chunk
                if len(data) > contacts_import.MAX_IMPORT_BYTES:
                    raise ControlError(
                        "too_large",
                        f"the file is larger than {contacts_import.MAX_IMPORT_BYTES // files.MB} MB",
                        413,
                    )
            return part.filename or "", bytes(data)
    except (ValueError, AssertionError, RuntimeError, HttpProcessingError) as e:
        raise ControlError("bad_request", f"the multipart body is malformed: {e}") from None
    raise ControlError("bad_request", "no field named 'file' in the multipart body")
