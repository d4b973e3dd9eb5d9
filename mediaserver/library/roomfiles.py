"""The files of an event's room (R-FILE-2, issue 17) as a live room and the room's API see them: the one
query of "a complete file in this event's room" (:func:`find`, for its downloads, its documents and what the
stage shows), each file's kind, and the rooms' file source
(mediaserver.interaction.presentation.FileSource). A file may be in the rooms of several events (room_files
is keyed by the file and the event): every lookup names the event.

The file source tells a file of the room with its kind and where a participant reads it with their join
token: a document (a PDF, or an office file converted to PDF, mediaserver.library.documents) as its checked
PDF once its page count is known (until then ``url`` is None; a failed conversion gives ``error``), a video or
an image as the file itself."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.errors import not_found
from mediaserver.events import entry
from mediaserver.library import documents, files
from mediaserver.store.db import Database
from mediaserver.store.models import Document, LibraryFile, RoomFile

IMAGES = frozenset({"png", "jpg"})
Kind = Literal["pdf", "document", "video", "image", "other"]


def kind_of(name: str) -> Kind:
    """What the room does with a file of this name (one of KINDS): a ``pdf`` or a ``document`` (R-FILE-4's
    office formats, converted to PDF) is presented on the stage, a ``video`` plays in the shared player."""
    ext = files.extension(name)
    if ext == "pdf":
        return "pdf"
    if ext in documents.OFFICE:  # R-FILE-4's office formats, shown once converted to PDF
        return "document"
    if ext in IMAGES:
        return "image"
    return "video" if files.video_type(name) else "other"


async def find(s: AsyncSession, event_id: int, file_id: int) -> LibraryFile | None:
    """The complete file ``file_id`` when it is in the room of the event ``event_id``, else None."""
    return await s.scalar(
        select(LibraryFile)
        .join(RoomFile, RoomFile.file_id == LibraryFile.id)
        .where(LibraryFile.id == file_id, RoomFile.event_id == event_id, LibraryFile.status == "complete")
    )


async def get(s: AsyncSession, event_id: int, file_id: int) -> LibraryFile:
    """:func:`find`, or ControlError 404 (a file of another room, of the library only, or none)."""
    f = await find(s, event_id, file_id)
    if f is None:
        raise not_found("file in this room")
    return f


async def document(s: AsyncSession, event_id: int, file_id: int) -> LibraryFile:
    """A complete document file of the event's room; 404 for any other file, 415 for one that is no
    document."""
    return documents.require_document(await get(s, event_id, file_id))


class RoomFiles:
    """The rooms' :class:`~mediaserver.interaction.presentation.FileSource`, one short transaction a call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def room_file(self, room_id: str, file_id: int) -> dict[str, Any] | None:
        async with self.db.tx() as s:
            ev = await entry.event_of_room(s, room_id)
            if ev is None:
                return None
            f = await find(s, ev.id, file_id)
            if f is None:
                return None
            kind = kind_of(f.name)
            base = f"/api/v1/rooms/{room_id}/files/{f.id}"
            out: dict[str, Any] = {
                "id": f.id,
                "name": f.name,
                "kind": kind,
                "size": f.size,
                "url": f"{base}/content" if kind in ("video", "image") else None,
                "pages": None,
            }
            if documents.is_document(f.name):
                d = await s.get(Document, f.id)
                if d is not None and d.status == "failed":
                    out["error"] = d.error or "the conversion failed"
                elif d is not None and d.pages:
                    out.update(url=f"{base}/document/pdf", pages=d.pages)
            return out
