"""Resumable uploads over tus 1.0.0 (core, creation, termination, expiration) for the file library
(R-FILE-1..4).

Mount with :func:`add_upload_routes`. The uploads' state lives in ``store_dir`` as
:class:`mediaserver.library.storage.UploadStore` keeps it (the data file's size is the upload's offset, so an
upload survives a server restart and a PATCH cut off mid-body keeps every byte that reached the disk). PATCH
bodies are streamed to disk in chunks: memory stays bounded whatever the file size.

The caller supplies :class:`UploadHooks`: ``authorize(request) -> owner`` (raise ``SignalError`` or
``ControlError`` to refuse), ``on_create(owner, filename, length, into_room)`` (raise ``FileRefused``, e.g.
from ``mediaserver.library.files.check_upload``) and ``on_complete(owner, upload)``, and ``on_terminate(owner,
upload)`` after a DELETE removed an upload (give back space reserved in ``on_create``). Hooks may be sync or
async.

Expiration (R-FILE-3: an abandoned upload must not keep its reserved space forever): with ``hooks.expiry``
set, an unfinished upload with no progress for that many seconds (its last byte written, or its creation) is
swept by a task started with the application (once at start, then periodically): its partial data goes, a
small tombstone sidecar stays for a week so that a late PATCH or HEAD is answered 410 Gone rather than 404,
and ``on_expire(owner, upload)`` gives the reserved space back (retried at the next sweep if it fails).
Responses about unfinished uploads carry ``Upload-Expires`` and ``expiration`` is in ``Tus-Extension``.
Errors use the project's JSON shape ``{"error": {"code", "message"}}``; every response except OPTIONS
carries ``Tus-Resumable``.

Metadata keys the server reads: ``filename`` (required).

Uploads straight into a room (R-FILE-2: at most 50 MB) are made through the routes mounted at ``room_prefix``
(e.g. ``/api/v1/rooms/{roomId}/uploads``): the route, never a client flag, makes an upload a room upload, and
``into_room`` is True in ``on_create`` and on the :class:`Upload`. ``authorize`` sees the request (its
``match_info`` names the room) and returns an owner that the app makes room-specific; an upload is reached
only through the kind of route that created it. An ``into_room`` metadata key sent to the library route is
refused (it used to be a client-chosen flag). ``on_create`` may return a dict: it is kept with the upload as
``Upload.extra`` (e.g. the id of the database row that reserves the space) and handed back to the other hooks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import email.utils
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from os import PathLike
from typing import Any

from aiohttp import ClientError, web

from mediaserver.errors import ControlError
from mediaserver.library.files import LIBRARY_MAX_FILE, ROOM_MAX_FILE, FileRefused, check_name, check_size
from mediaserver.library.storage import Upload, UploadStore
from signaling.errors import SignalError, json_error

log = logging.getLogger("signaling.api.uploads")
TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination"
CHUNK = 64 * 1024


@dataclass
class UploadHooks:
    """What the application decides; see the module docstring."""

    authorize: Callable[[web.Request], Any]
    on_create: Callable[[str, str, int, bool], Any] = lambda owner, filename, length, into_room: None
    on_complete: Callable[[str, Upload], Any] = lambda owner, upload: None
    on_terminate: Callable[[str, Upload], Any] = lambda owner, upload: None
    max_size: int = LIBRARY_MAX_FILE
    on_expire: Callable[[str, Upload], Any] = lambda owner, upload: None
    expiry: float | None = None  # seconds without progress before an unfinished upload is swept; None: never


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    return await result if inspect.isawaitable(result) else result


def parse_metadata(header: str) -> dict[str, str]:
    """Decode ``Upload-Metadata``: comma-separated ``key base64(value)`` pairs (value optional)."""
    result: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        if not key or " " in value.strip() or key in result:
            raise SignalError("bad_metadata", f"Upload-Metadata pair {pair[:60]!r} is malformed", 400)
        try:
            result[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SignalError(
                "bad_metadata", f"Upload-Metadata value of {key!r} is not base64 of UTF-8 text", 400
            ) from None
    return result


def _int_header(request: web.Request, name: str) -> int:
    raw = request.headers.get(name)
    if raw is None:
        raise SignalError("bad_request", f"the {name} header is required", 400)
    if not (raw.isascii() and raw.isdigit()):
        raise SignalError("bad_request", f"the {name} header must be a non-negative integer", 400)
    return int(raw)


def add_upload_routes(
    app: web.Application,
    prefix: str,
    store_dir: str | PathLike[str],
    hooks: UploadHooks,
    room_prefix: str | None = None,
) -> UploadStore:
    """Serve tus uploads at ``prefix`` (POST, OPTIONS) and ``prefix/{id}`` (HEAD, PATCH, DELETE, OPTIONS);
    with ``room_prefix`` (which may hold route variables such as ``{roomId}``), the same at ``room_prefix``
    for uploads straight into a room (R-FILE-2: at most 50 MB, whatever the client says)."""
    prefix = prefix.rstrip("/")
    store = UploadStore(store_dir)

    extensions = EXTENSIONS + (",expiration" if hooks.expiry else "")

    def tus_headers(resp: web.StreamResponse) -> web.StreamResponse:
        resp.headers["Tus-Resumable"] = TUS_VERSION
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def expires(upload: Upload, headers: dict[str, str]) -> dict[str, str]:
        """tus expiration: when an unfinished upload will be swept if it makes no progress (RFC 9110 date)."""
        if hooks.expiry and not upload.completed:
            headers["Upload-Expires"] = email.utils.formatdate(
                store.last_progress(upload) + hooks.expiry, usegmt=True
            )
        return headers

    def error(e: SignalError | FileRefused | ControlError) -> web.StreamResponse:
        resp = json_error(SignalError(e.code, e.message, e.status))
        if e.status == 412:
            resp.headers["Tus-Version"] = TUS_VERSION
        return tus_headers(resp)

    def handler(
        fn: Callable[[web.Request, bool], Awaitable[web.StreamResponse]], into_room: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            try:
                if request.headers.get("Tus-Resumable") != TUS_VERSION:
                    raise SignalError(
                        "unsupported_version",
                        f"this server speaks tus {TUS_VERSION}; send Tus-Resumable: {TUS_VERSION}",
                        412,
                    )
                return tus_headers(await fn(request, into_room))
            except (SignalError, FileRefused, ControlError) as e:
                return error(e)

        return wrapped

    def max_size(into_room: bool) -> int:
        return min(hooks.max_size, ROOM_MAX_FILE) if into_room else hooks.max_size

    async def owned(request: web.Request, into_room: bool) -> tuple[str, Upload]:
        owner = await _call(hooks.authorize, request)
        upload = store.get(request.match_info["upload_id"])
        if upload is None or upload.owner != owner or upload.into_room != into_room:
            gone_upload = store.tombstone(request.match_info["upload_id"])
            if gone_upload is not None and gone_upload.owner == owner and gone_upload.into_room == into_room:
                raise SignalError(
                    "upload_expired",
                    "this upload made no progress for too long and was deleted "
                    "with its partial data, which freed its space (R-FILE-3); start a new upload",
                    410,
                )
            raise SignalError(
                "not_found", "no such upload (finished uploads of others and deleted ones are not shown)", 404
            )
        return owner, upload

    async def options(request: web.Request, into_room: bool) -> web.StreamResponse:
        return web.Response(
            status=204,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": extensions,
                "Tus-Max-Size": str(max_size(into_room)),
            },
        )

    def capabilities(into_room: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def answer(request: web.Request) -> web.StreamResponse:
            return await options(request, into_room)

        return answer

    async def create(request: web.Request, into_room: bool) -> web.StreamResponse:
        owner = await _call(hooks.authorize, request)
        if "Upload-Defer-Length" in request.headers:
            raise SignalError("bad_request", "Upload-Defer-Length is not supported: send Upload-Length", 400)
        length = _int_header(request, "Upload-Length")
        metadata = parse_metadata(request.headers.get("Upload-Metadata", ""))
        filename = metadata.get("filename", "")
        if not filename:
            raise SignalError("bad_metadata", "Upload-Metadata must carry the filename", 400)
        if "into_room" in metadata and not into_room:
            raise SignalError(
                "bad_metadata",
                "'into_room' is not a flag: upload straight into a room through the "
                "room's own upload endpoint (POST /api/v1/rooms/{roomId}/uploads), which binds the "
                "file to the room and limits it to 50 MB (R-FILE-2)",
                400,
            )
        # R-FILE-4 then R-FILE-2 before anything is reserved (the most useful message first)
        check_name(filename)
        check_size(filename, length, into_room, max_size(into_room))
        extra = await _call(hooks.on_create, owner, filename, length, into_room)
        upload = store.create(
            owner, filename, length, into_room, metadata, extra if isinstance(extra, dict) else None
        )
        if length == 0:
            await finish(upload)
        location = request.url.with_path(f"{request.path.rstrip('/')}/{upload.id}").with_query(None)
        return web.Response(
            status=201, headers=expires(upload, {"Location": str(location), "Upload-Offset": "0"})
        )

    async def head(request: web.Request, into_room: bool) -> web.StreamResponse:
        _, upload = await owned(request, into_room)
        headers = {"Upload-Offset": str(upload.offset), "Upload-Length": str(upload.length)}
        if request.headers.get("Upload-Metadata") is not None or upload.metadata:
            headers["Upload-Metadata"] = ",".join(
                f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in upload.metadata.items()
            )
        return web.Response(status=200, headers=expires(upload, headers))

    async def patch(request: web.Request, into_room: bool) -> web.StreamResponse:
        if request.content_type != "application/offset+octet-stream":
            raise SignalError("bad_content_type", "PATCH bodies must be application/offset+octet-stream", 415)
        offset = _int_header(request, "Upload-Offset")
        _, seen = await owned(request, into_room)
        lock = store.lock(seen.id)
        if lock.locked():
            raise SignalError("upload_busy", "another request is writing this upload", 409)
        async with lock:
            current = store.get(seen.id)  # as it is now (another request may have moved it)
            if current is None:
                raise SignalError(
                    "upload_expired", "this upload was deleted meanwhile; start a new upload", 410
                )
            upload = current
            if offset != upload.offset:
                raise SignalError(
                    "offset_mismatch",
                    f"Upload-Offset is {offset} but the upload is at "
                    f"{upload.offset}; send HEAD and resume from there",
                    409,
                )
            declared = request.content_length
            if declared is not None and offset + declared > upload.length:
                raise SignalError(
                    "too_large",
                    f"the body would take the upload past its length of {upload.length} bytes",
                    413,
                )
            written, overflow = upload.offset, False
            with store.writer(upload) as out:
                out.seek(written)
                try:
                    async for chunk in request.content.iter_chunked(CHUNK):
                        room = upload.length - written
                        if len(chunk) > room:
                            chunk, overflow = chunk[:room], True
                        out.write(chunk)
                        written += len(chunk)
                        if overflow:
                            break
                except (ConnectionError, ClientError, asyncio.IncompleteReadError):
                    # the client went away: what reached the disk stays, HEAD reports it
                    raise SignalError("interrupted", f"the body was cut off at byte {written}", 400) from None
            upload.offset = written
            if overflow:
                raise SignalError(
                    "too_large",
                    f"the body went past the upload's length of {upload.length} "
                    "bytes; the bytes up to it were kept",
                    413,
                )
            if upload.done and not upload.completed:
                await finish(upload)
        return web.Response(status=204, headers=expires(upload, {"Upload-Offset": str(written)}))

    async def finish(upload: Upload) -> None:
        upload.completed = True
        store.save(upload)
        await _call(hooks.on_complete, upload.owner, upload)

    async def terminate(request: web.Request, into_room: bool) -> web.StreamResponse:
        _, upload = await owned(request, into_room)
        if store.lock(upload.id).locked():
            raise SignalError("upload_busy", "the upload is being written; stop that request first", 409)
        if upload.completed:  # its data is the stored file now: it goes only with the file
            raise SignalError(
                "upload_finished",
                "this upload is finished and its file is stored; delete the file "
                "instead (DELETE /api/v1/files/{id})",
                409,
            )
        store.delete(upload)
        await _call(hooks.on_terminate, upload.owner, upload)
        return web.Response(status=204)

    async def sweep() -> None:
        for upload in store.expire(hooks.expiry or 0.0):
            try:
                await _call(hooks.on_expire, upload.owner, upload)
            except Exception:  # e.g. the database is down: the tombstone says to try again next time
                log.exception(
                    "giving back the space of expired upload %s failed; retried at the next sweep", upload.id
                )
                continue
            upload.released = True
            store.save(upload)
            log.info(
                "upload %s (%s, %d of %d bytes) expired after %.0f s without progress",
                upload.id,
                upload.filename,
                upload.offset,
                upload.length,
                hooks.expiry,
            )

    async def sweeper() -> None:
        every = min(max((hooks.expiry or 0.0) / 4, 0.05), 60.0)
        while True:
            await asyncio.sleep(every)
            try:
                await sweep()
            except Exception:
                log.exception("sweeping expired uploads failed")

    tasks: list[asyncio.Task[None]] = []

    async def start_sweeper(app: web.Application) -> None:
        await sweep()  # at start: uploads abandoned while the server was down
        tasks.append(asyncio.create_task(sweeper(), name="upload-expiry"))

    async def stop_sweeper(app: web.Application) -> None:
        while tasks:
            task = tasks.pop()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    if hooks.expiry:
        app.on_startup.append(start_sweeper)
        app.on_cleanup.append(stop_sweeper)
    mounts = [(prefix, False)] + ([(room_prefix.rstrip("/"), True)] if room_prefix else [])
    for base, into_room in mounts:
        app.router.add_route("OPTIONS", base, capabilities(into_room))
        app.router.add_route("OPTIONS", base + "/{upload_id}", capabilities(into_room))
        app.router.add_post(base, handler(create, into_room))
        app.router.add_route("HEAD", base + "/{upload_id}", handler(head, into_room))
        app.router.add_route("PATCH", base + "/{upload_id}", handler(patch, into_room))
        app.router.add_delete(base + "/{upload_id}", handler(terminate, into_room))
    return store
