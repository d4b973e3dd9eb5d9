"""Documents shown in rooms (issue 17 item 1, R-MEDIA-8, R-FILE-4): which library files are documents, their
conversion's state in the database (``converting`` / ``ready`` / ``failed``, pages, page images ready, what
went wrong), who reaches them, and the paths of their PDF and page images.

A PDF is shown as it is; an office file among R-FILE-4's extensions is converted to PDF by LibreOffice in a
worker process (:mod:`mediaserver.library.convert`). Either way page images are rendered one by one, so the
first page is there before the last; the status says how many are. Conversion starts when a document is
uploaded (:func:`mediaserver.library.catalog.complete_upload`), again on demand (:func:`requeue`), and a
server restart takes up those left ``converting``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.identity import Principal
from mediaserver.errors import ControlError, not_found
from mediaserver.events import visibility
from mediaserver.library.storage import Storage
from mediaserver.store.db import utcnow
from mediaserver.store.models import Document, LibraryFile

# R-FILE-4's extensions that are documents: PDF, and what LibreOffice 7.4 imports (its Writer, Impress and
# Calc filters; key, pages and numbers through libetonyek)
OFFICE = frozenset(
    ("doc", "docx", "odt", "pages", "txt", "ppt", "pptx", "odp", "key", "ods", "xlsx", "numbers")
)
EXTENSIONS = OFFICE | {"pdf"}

THUMB_WIDTH = 320  # the page images the worker renders for every page (the default of the page API)
MIN_WIDTH, MAX_WIDTH, WIDTH_STEP = 80, 1920, 80  # other widths: rendered on request, rounded up, cached
FORMATS = {"png": "image/png", "webp": "image/webp"}


def extension(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def is_document(name: str) -> bool:
    """Whether a file of this name is shown as a document (and so converted when uploaded)."""
    return extension(name) in EXTENSIONS


@dataclass
class Doc:
    """A document the caller reaches: its file and its conversion state."""

    file: LibraryFile
    state: Document

    @property
    def is_pdf(self) -> bool:
        return extension(self.file.name) == "pdf"


def pdf_path(store: Storage, f: LibraryFile) -> Path:
    """The PDF shown: the file itself for a PDF, its conversion otherwise."""
    if extension(f.name) == "pdf":
        return store.path(f.storage_key)
    return store.document_dir(f.storage_key) / "document.pdf"


def page_path(store: Storage, f: LibraryFile, page: int, width: int, fmt: str) -> Path:
    return store.document_dir(f.storage_key) / f"page-{page}-w{width}.{fmt}"


# ---------------------------------------------------------------- the state


async def queue(s: AsyncSession, f: LibraryFile) -> None:
    """(Re)start the conversion of a document file: it is ``converting`` until the worker says otherwise."""
    d = await s.get(Document, f.id)
    if d is None:
        d = Document(file_id=f.id)
        s.add(d)
    d.status, d.pages, d.pages_ready, d.error_code, d.error = "converting", 0, 0, None, None
    d.updated_at = utcnow()
    await s.flush()


async def queued(s: AsyncSession) -> list[tuple[int, str, str]]:
    """(file id, storage key, name) of the documents waiting for or in conversion, oldest first."""
    rows = await s.execute(
        select(LibraryFile.id, LibraryFile.storage_key, LibraryFile.name)
        .join(Document, Document.file_id == LibraryFile.id)
        .where(Document.status == "converting", LibraryFile.status == "complete")
        .order_by(Document.updated_at, LibraryFile.id)
    )
    return [(i, k, n) for i, k, n in rows]


async def progress(s: AsyncSession, file_id: int, pages: int | None = None, ready: int | None = None) -> bool:
    """Note the worker's progress; False when the document is gone (its file was deleted)."""
    values: dict[str, object] = {"updated_at": utcnow()}
    if pages is not None:
        values["pages"] = pages
    if ready is not None:
        values["pages_ready"] = ready
    done = await s.execute(
        update(Document).where(Document.file_id == file_id, Document.status == "converting").values(**values)
    )
    return bool(getattr(done, "rowcount", 0))


async def finish(
    s: AsyncSession,
    file_id: int,
    error_code: str | None = None,
    error: str | None = None,
    pages: int | None = None,
) -> bool:
    """The conversion ended: ``ready`` (with all its ``pages`` ready), or ``failed`` with what the person is
    told."""
    values: dict[str, object] = {"updated_at": utcnow(), "error_code": error_code, "error": error}
    if pages is not None:
        values["pages_ready"] = pages
    values["status"] = "failed" if error_code else "ready"
    done = await s.execute(
        update(Document).where(Document.file_id == file_id, Document.status == "converting").values(**values)
    )
    return bool(getattr(done, "rowcount", 0))


# ---------------------------------------------------------------- who reaches a document


def _not_a_document(f: LibraryFile) -> ControlError:
    return ControlError(
        "not_a_document",
        f"'{f.name}' is not a document: PDF and office files ({', '.join(sorted(OFFICE))}) are",
        415,
    )


async def _doc(s: AsyncSession, f: LibraryFile | None, what: str) -> Doc:
    if f is None or f.status != "complete":
        raise not_found(what)
    if not is_document(f.name):
        raise _not_a_document(f)
    d = await s.get(Document, f.id)
    if d is None:
        raise ControlError(
            "not_converted",
            "this document was uploaded before documents were converted: POST to its document URL to "
            "convert it",
            409,
        )
    return Doc(f, d)


async def library_file(s: AsyncSession, p: Principal, file_id: int) -> LibraryFile:
    """A complete document file the principal reaches in the library; 404 for any other file."""
    f = await s.scalar(select(LibraryFile).where(LibraryFile.id == file_id, visibility.files(p)))
    if f is None or f.status != "complete":
        raise not_found("file")
    return require_document(f)


def require_document(f: LibraryFile) -> LibraryFile:
    """``f`` when it is a document; else ControlError 415 naming the formats that are."""
    if not is_document(f.name):
        raise _not_a_document(f)
    return f


async def document(s: AsyncSession, f: LibraryFile) -> Doc:
    """The conversion state of a document file (from :func:`library_file`, or a room's:
    mediaserver.library.roomfiles.document)."""
    return await _doc(s, f, "file")


async def requeue(s: AsyncSession, f: LibraryFile) -> Doc:
    """Convert the document again on demand (after a failure, or a file from before conversions); one that
    is converting goes on."""
    d = await s.get(Document, f.id)
    if d is None or d.status != "converting":
        await queue(s, f)
    return await _doc(s, f, "file")


# ---------------------------------------------------------------- what may be sent


def _not_ready(doc: Doc) -> ControlError:
    if doc.state.status == "failed":
        return ControlError("conversion_failed", doc.state.error or "the conversion failed", 409)
    return ControlError(
        "not_ready",
        f"the document is still converting ({doc.state.pages_ready} of {doc.state.pages or '?'} pages "
        "ready): try again in a moment",
        409,
    )


def pdf_ready(doc: Doc) -> None:
    """The PDF may be sent once it is known to be good (its page count is set), before the page images."""
    if doc.state.pages == 0 or doc.state.status == "failed":
        raise _not_ready(doc)


def page_request(doc: Doc, page: int, width: str | None, fmt: str | None) -> tuple[int, str]:
    """(width, format) of a page image request; raises ControlError for a page out of range (404), not
    rendered yet (409), a bad width or format (400)."""
    if fmt is None:
        fmt = "png"
    if fmt not in FORMATS:
        raise ControlError("bad_request", "'format' must be png or webp")
    w = THUMB_WIDTH
    if width is not None:
        if not (width.isascii() and width.isdigit()) or not MIN_WIDTH <= int(width) <= MAX_WIDTH:
            raise ControlError("bad_request", f"'width' must be an integer from {MIN_WIDTH} to {MAX_WIDTH}")
        w = -(-int(width) // WIDTH_STEP) * WIDTH_STEP  # rounded up: a bounded number of cached sizes
    if doc.state.status == "failed":
        raise _not_ready(doc)
    if doc.state.pages and page > doc.state.pages:
        raise ControlError("not_found", f"no page {page}: the document has {doc.state.pages} pages", 404)
    if page > doc.state.pages_ready:
        raise _not_ready(doc)
    return w, fmt
