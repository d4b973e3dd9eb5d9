"""What a live room may show of its event's files (issue 17): the rooms' file source
(mediaserver.interaction.presentation.FileSource). A file of the room (uploaded into it, R-FILE-2) is told
with its kind and where a participant reads it with their join token: a document (a PDF, or an office file
converted to PDF, mediaserver.library.documents) as its checked PDF once its page count is known (until then
``url`` is None; a failed conversion gives ``error``), a video or an image as the file itself."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mediaserver.events import entry
from mediaserver.library import documents, files
from mediaserver.store.db import Database
from mediaserver.store.models import Document, LibraryFile, RoomFile

IMAGES = frozenset({"png", "jpg"})


def kind_of(name: str) -> str:
    ext = files.extension(name)
    if ext == "pdf":
        return "pdf"
    if ext in documents.OFFICE:  # R-FILE-4's office formats, shown once converted to PDF
        return "document"
    if ext in IMAGES:
        return "image"
    return "video" if files.video_type(name) else "other"


class RoomFiles:
    """The rooms' :class:`~mediaserver.interaction.presentation.FileSource`, one short transaction a call."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def room_file(self, room_id: str, file_id: int) -> dict[str, Any] | None:
        async with self.db.tx() as s:
            ev = await entry.event_of_room(s, room_id)
            if ev is None:
                return None
            f = await s.scalar(
                select(LibraryFile)
                .join(RoomFile, RoomFile.file_id == LibraryFile.id)
                .where(
                    LibraryFile.id == file_id,
                    RoomFile.event_id == ev.id,
                    LibraryFile.status == "complete",
                )
            )
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
