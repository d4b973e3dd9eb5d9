"""The document on the stage (issue 17, R-MEDIA-8): the host or a presenter shows a file of the room (a PDF,
or an office document the server converts to PDF), turns its pages and zooms; everyone's page follows, and a
late joiner opens on the current page (the snapshot). With ``free`` on, attendees may browse the document on
their own (their pages are their own business: nothing is sent for them); turning it off brings everyone
back to the presenter's page.

Every change appends one ``doc`` event with the whole state (a few hundred bytes) for everyone: the fan-out
sends the tick's events in one frame, so a presenter flipping ten pages a second costs ten small events in a
frame, not a message per attendee. The files come from the room's :class:`FileSource` (the room's files, with
where to read the PDF: mediaserver.library.roomfiles); the pages are rendered by each browser (pdf.js).

Issue 19 (failover): an edge keeps a standby copy of the document on the stage from the owner's log (each
``doc`` event carries the whole state: :meth:`Presentation.mirror`)."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.log import Entry, RoomLog
from mediaserver.interaction.members import Member, require_staff, who

ZOOM_MIN, ZOOM_MAX = 0.25, 4.0
PAGES_MAX = 5000  # a page number past a document's known page count is refused; unknown: this bound


class FileSource(Protocol):
    """The files of a room's event (mediaserver.library.roomfiles.RoomFiles)."""

    async def room_file(self, room_id: str, file_id: int) -> dict[str, Any] | None:
        """``{id, name, kind, url, pages}`` of a complete file of the room (``kind``: ``pdf``, ``document``
        (converted to PDF for showing), ``video``, ``image`` or ``other``; ``url``: where a participant reads
        the PDF, None while a conversion is not done; ``pages`` when known), or None."""
        ...


Finder = Callable[[int], Awaitable[dict[str, Any] | None]]


def _int(value: Any, what: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ControlError("bad_request", f"'{what}' must be a whole number from {low} to {high}")
    return value


class Presentation(Feature):
    key = "doc"
    mirrors = frozenset({"doc"})

    def __init__(self, log: RoomLog, find_file: Finder | None = None) -> None:
        self.log = log
        self.find_file = find_file  # None: a room without an event has no files to show
        self.current: dict[str, Any] | None = None

    def commands(self) -> dict[str, Handler]:
        return {
            "doc.show": self.show,
            "doc.page": self.page,
            "doc.zoom": self.zoom,
            "doc.free": self.free,
            "doc.stop": self.stop,
        }

    def show(self, m: Member, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """``{file}``: a file of the room on everyone's stage, at page 1 (it replaces the one showing)."""
        require_staff(m, "present documents")
        file_id = _int(params.get("file"), "file", 1, 2**31 - 1)
        if self.find_file is None:
            raise ControlError("no_files", "only an event's room has files to present", 409)
        return self._show(m, file_id, self.find_file)

    async def _show(self, m: Member, file_id: int, find: Finder) -> dict[str, Any]:
        f = await find(file_id)
        if f is None:
            raise ControlError("not_found", "no such file in this room", 404)
        if f.get("kind") not in ("pdf", "document"):
            raise ControlError(
                "not_a_document",
                f"{f.get('name')!r} is not a document: PDFs and office documents are presented "
                "(a video plays in the shared player)",
                415,
            )
        if f.get("error"):
            raise ControlError("conversion_failed", f"{f.get('name')!r} cannot be shown: {f['error']}", 409)
        if not f.get("url"):
            raise ControlError(
                "not_ready", f"{f.get('name')!r} is still being converted; try again in a moment", 409
            )
        entry = self.log.append("doc", {})
        doc = {
            "id": f"d{entry.seq}",
            "file": {"id": f["id"], "name": f.get("name", ""), "url": f["url"], "pages": f.get("pages")},
            "page": 1,
            "zoom": 1.0,
            "free": False,
            "by": who(m),
            "at": int(time.time() * 1000),
        }
        entry.data["doc"] = doc
        self.current = doc
        return {"doc": doc}

    def _change(self, m: Member, what: str, **values: Any) -> dict[str, Any]:
        require_staff(m, what)
        if self.current is None:
            raise ControlError("no_document", "no document is on the stage", 409)
        if all(self.current.get(k) == v for k, v in values.items()):
            return {"doc": self.current}  # nothing changes: no event
        self.current = {**self.current, **values, "at": int(time.time() * 1000)}
        self.log.append("doc", {"doc": self.current})
        return {"doc": self.current}

    def page(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{page}``: everyone to this page (1-based; at most the document's page count when known)."""
        pages = (self.current or {}).get("file", {}).get("pages") or PAGES_MAX
        n = _int(params.get("page"), "page", 1, pages)
        return self._change(m, "turn the pages", page=n)

    def zoom(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{zoom}``: the scale everyone sees (1 = the page fits the stage)."""
        z = params.get("zoom")
        if (
            not isinstance(z, (int, float))
            or isinstance(z, bool)
            or not math.isfinite(z)
            or not ZOOM_MIN <= z <= ZOOM_MAX
        ):
            raise ControlError("bad_request", f"'zoom' must be a number from {ZOOM_MIN} to {ZOOM_MAX}")
        return self._change(m, "zoom the document", zoom=round(float(z), 3))

    def free(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{free}``: whether attendees may browse on their own (off: everyone back to the current page)."""
        free = params.get("free")
        if not isinstance(free, bool):
            raise ControlError("bad_request", "'free' must be true or false")
        return self._change(m, "let attendees browse", free=free)

    def stop(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """The document leaves the stage."""
        require_staff(m, "present documents")
        if self.current is not None:
            self.current = None
            self.log.append("doc", {"doc": None})
        return {"doc": None}

    def leave_stage(self) -> None:
        """Something else took the stage (one presented item at a time): the document leaves it."""
        if self.current is not None:
            self.current = None
            self.log.append("doc", {"doc": None})

    def mirror(self, entry: Entry) -> None:
        doc = entry.data.get("doc")
        self.current = dict(doc) if isinstance(doc, dict) else None

    def snapshot(self, m: Member) -> dict[str, Any]:
        return {"doc": self.current}

    def ended(self) -> None:
        self.current = None
