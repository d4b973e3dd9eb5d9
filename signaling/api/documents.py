"""/api/v1 operations of documents (issue 17 item 1, R-MEDIA-8): the conversion state of a PDF or office file,
its PDF and its page images, for the account's library and for the files of an event's room."""

from __future__ import annotations

from pydantic import Field

from mediaserver.library import catalog, convert, documents, roomfiles
from mediaserver.library.catalog import Download
from mediaserver.library.storage import Storage
from mediaserver.store.models import LibraryFile
from signaling import keys
from signaling.api import library
from signaling.api.framework import API, Ctx, Out


class DocumentError(Out):
    code: str = Field(
        description="corrupt, encrypted, too_many_pages, too_large, timed_out, unsupported (no LibreOffice "
        "on the server) or conversion_failed"
    )
    message: str


class DocumentOut(Out):
    file_id: int
    name: str
    status: str = Field(description="converting, ready or failed")
    pages: int = Field(description="the page count; 0 while the PDF is not made yet")
    pages_ready: int = Field(description="page images rendered, from page 1: each can be fetched at once")
    error: DocumentError | None = Field(description="why the document cannot be shown (status failed)")
    pdf_url: str = Field(description="the PDF (GET; Range requests), once pages is set")
    page_url: str = Field(description="page N's image: replace {page}; ?width=80..1920&format=png|webp")


_PAGE_QUERY = (
    {
        "name": "width",
        "in": "query",
        "required": False,
        "description": f"the image's width in pixels, {documents.MIN_WIDTH}..{documents.MAX_WIDTH}, rounded "
        f"up to a multiple of {documents.WIDTH_STEP} (default {documents.THUMB_WIDTH}, rendered for every "
        "page as it is converted; other widths are rendered on first request and cached)",
        "schema": {"type": "integer", "minimum": documents.MIN_WIDTH, "maximum": documents.MAX_WIDTH},
    },
    {
        "name": "format",
        "in": "query",
        "required": False,
        "description": "png (default) or webp",
        "schema": {"type": "string", "enum": sorted(documents.FORMATS)},
    },
)
_STATES = (
    "A document is a PDF or an office file (doc, docx, odt, pages, txt, ppt, pptx, odp, key, ods, xlsx, "
    "numbers) converted to PDF by LibreOffice when it is uploaded; page images are rendered one by one, so "
    "pagesReady grows while status is converting. 415 not_a_document for other files; 409 not_converted "
    "for a document uploaded before conversions (POST converts it)."
)


def _out(doc: documents.Doc, base: str) -> DocumentOut:
    d = doc.state
    return DocumentOut(
        file_id=doc.file.id,
        name=doc.file.name,
        status=d.status,
        pages=d.pages,
        pages_ready=d.pages_ready,
        error=DocumentError(code=d.error_code or "conversion_failed", message=d.error or "")
        if d.status == "failed"
        else None,
        pdf_url=f"{base}/pdf",
        page_url=f"{base}/pages/{{page}}",
    )


def _pdf(ctx: Ctx, doc: documents.Doc) -> Download:
    documents.pdf_ready(doc)
    stem = doc.file.name.rsplit(".", 1)[0]
    return Download(
        documents.pdf_path(Storage.of(ctx.settings), doc.file),
        f"{stem}.pdf",
        content_type="application/pdf",
        inline=True,
        cache="private, max-age=300",
    )


async def _page(ctx: Ctx, doc: documents.Doc) -> Download:
    page = ctx.id("page")
    width, fmt = documents.page_request(
        doc, page, ctx.request.query.get("width"), ctx.request.query.get("format")
    )
    limits = convert.Limits.of(ctx.settings)
    path = await convert.page_file(Storage.of(ctx.settings), doc, page, width, fmt, limits)
    return Download(
        path,
        f"page-{page}.{fmt}",
        content_type=documents.FORMATS[fmt],
        inline=True,
        cache="private, max-age=3600",  # a page never changes: converting again keeps the same pages
    )


def _wake(ctx: Ctx) -> None:
    converter = ctx.app.get(keys.CONVERTER)
    if converter is not None:
        ctx.after_commit.append(converter.wake)


# ---------------------------------------------------------------- the account's library


async def _library(ctx: Ctx) -> LibraryFile:
    return await documents.library_file(ctx.s, ctx.user, ctx.id())


def _base(f: LibraryFile) -> str:
    return f"/api/v1/files/{f.id}/document"


@API(
    "GET",
    "/api/v1/files/{id}/document",
    "a document's conversion: status, pages, pages ready, what went wrong (issue 17, R-MEDIA-8)",
    "documents",
    response=DocumentOut,
    errors=(409, 415),
    description=_STATES,
)
async def library_document(ctx: Ctx) -> DocumentOut:
    f = await _library(ctx)
    return _out(await documents.document(ctx.s, f), _base(f))


@API(
    "POST",
    "/api/v1/files/{id}/document",
    "convert a document again (after a failure, or one uploaded before conversions); one converting goes on",
    "documents",
    response=DocumentOut,
    status=202,
    errors=(415,),
    idempotent=True,
)
async def library_convert(ctx: Ctx) -> DocumentOut:
    f = await _library(ctx)
    doc = await documents.requeue(ctx.s, f)
    _wake(ctx)
    return _out(doc, _base(f))


@API(
    "GET",
    "/api/v1/files/{id}/document/pdf",
    "a document's PDF (Range requests), once its page count is known",
    "documents",
    response=None,
    errors=(409, 415),
    produces=("application/pdf",),
)
async def library_pdf(ctx: Ctx) -> Download:
    return _pdf(ctx, await documents.document(ctx.s, await _library(ctx)))


@API(
    "GET",
    "/api/v1/files/{id}/document/pages/{page}",
    "page N's image (from 1): 409 while not rendered yet, 404 past the last page",
    "documents",
    response=None,
    errors=(409, 415),
    query=_PAGE_QUERY,
    produces=tuple(documents.FORMATS.values()),
)
async def library_page(ctx: Ctx) -> Download:
    return await _page(ctx, await documents.document(ctx.s, await _library(ctx)))


# ---------------------------------------------------------------- a room's files (R-FILE-2)

_ROOM_AUTH = (
    "Send the room's join token as 'Authorization: Bearer <join token>' (any role reads: the room shares its "
    "files with its participants), or the organiser's session or API key. " + _STATES
)


async def _room(ctx: Ctx) -> tuple[catalog.RoomAccess, LibraryFile]:
    access = await library.room_access(ctx)  # who asks: a join token for the room, or its organiser
    return access, await roomfiles.document(ctx.s, access.event.id, ctx.id())


def _room_base(access: catalog.RoomAccess, f: LibraryFile) -> str:
    return f"/api/v1/rooms/{access.event.room_id}/files/{f.id}/document"


@API(
    "GET",
    "/api/v1/rooms/{roomId}/files/{id}/document",
    "a room file's document conversion: status, pages, pages ready, what went wrong (issue 17)",
    "documents",
    response=DocumentOut,
    auth=False,
    errors=(401, 403, 409, 415),
    description=_ROOM_AUTH,
)
async def room_document(ctx: Ctx) -> DocumentOut:
    access, f = await _room(ctx)
    return _out(await documents.document(ctx.s, f), _room_base(access, f))


@API(
    "POST",
    "/api/v1/rooms/{roomId}/files/{id}/document",
    "convert a room file's document again: its host, presenters and organiser (R-FILE-2)",
    "documents",
    response=DocumentOut,
    status=202,
    auth=False,
    errors=(401, 403, 415),
    description=_ROOM_AUTH,
    idempotent=True,
)
async def room_convert(ctx: Ctx) -> DocumentOut:
    access, f = await _room(ctx)
    catalog.room_uploader(access)
    doc = await documents.requeue(ctx.s, f)
    _wake(ctx)
    return _out(doc, _room_base(access, f))


@API(
    "GET",
    "/api/v1/rooms/{roomId}/files/{id}/document/pdf",
    "a room file's document as PDF (Range requests), once its page count is known",
    "documents",
    response=None,
    auth=False,
    errors=(401, 403, 409, 415),
    description=_ROOM_AUTH,
    produces=("application/pdf",),
)
async def room_pdf(ctx: Ctx) -> Download:
    _, f = await _room(ctx)
    return _pdf(ctx, await documents.document(ctx.s, f))


@API(
    "GET",
    "/api/v1/rooms/{roomId}/files/{id}/document/pages/{page}",
    "a room file's page N image (from 1): 409 while not rendered yet, 404 past the last page",
    "documents",
    response=None,
    auth=False,
    errors=(401, 403, 409, 415),
    description=_ROOM_AUTH,
    query=_PAGE_QUERY,
    produces=tuple(documents.FORMATS.values()),
)
async def room_page(ctx: Ctx) -> Download:
    _, f = await _room(ctx)
    return await _page(ctx, await documents.document(ctx.s, f))
