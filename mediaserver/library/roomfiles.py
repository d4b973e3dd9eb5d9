"""What a live room may show of its event's files (issue 17): the rooms' file source
(mediaserver.interaction.presentation.FileSource). A file of the room (uploaded into it, R-FILE-2) is told
with its kind and where a participant reads it: a PDF as it is, through the room's files API with their join
token; an office document once converted to PDF (until then ``url`` is None)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from mediaserver.events import entry
from mediaserver.library import files
from mediaserver.store.db import Database
from mediaserver.store.models import LibraryFile, RoomFile

#: R-FILE-4's office formats: shown after their conversion to PDF
DOCUMENTS = frozenset(
    {"doc", "docx", "key", "numbers", "odp", "ods", "odt", "pages", "ppt", "pptx", "txt", "xlsx"}
)
IMAGES = frozenset({"png", "jpg"})


def kind_of(name: str) -> str:
    ext = files.extension(name)
    if ext == "pdf":
        return "pdf"
    if ext in DOCUMENTS:
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
            content = f"/api/v1/rooms/{room_id}/files/{f.id}/content"
            return {
                "id": f.id,
                "name": f.name,
                "kind": kind,
                "size": f.size,
                "url": content if kind in ("pdf", "video", "image") else None,
                "pages": None,
            }
