"""The whiteboard (issue 17 item 3, R-INT-5): one CRDT document per room, Yjs in the browsers and pycrdt here.

The document's schema (docs/signaling.md, "The whiteboard"; the page's editor signaling/static/room/board.js
and the server's renderer mediaserver.interaction.board_render read the same):

- one root, the Y.Array ``pages``; each page is a Y.Array of shapes, in drawing order;
- a shape is a Y.Map: ``id`` (a string unique in the board), ``type`` (:data:`TYPES`), ``color``
  (``#rrggbb``), ``width`` (the stroke, 1 to 64), ``points`` (a Y.Array of numbers ``x0, y0, x1, y1, ...`` in
  board units, :data:`WIDTH` x :data:`HEIGHT` a page: a pen stroke's points, or the two corners / ends of the
  others), ``text`` (text and sticky notes) and ``by`` (the room's id of the participant who drew it).

Clients send Yjs updates (base64) with ``board.update``; the server decides whether the sender may draw (the
host and presenters; attendees when a member of the staff turned collaboration on; never a phone or tablet,
R-INT-5), applies the update to a COPY of the document, checks the copy, and only then keeps it: a refused
update leaves the document as it was. The accepted updates of a tick go to everyone as one merged update
(``board`` event); a late joiner gets the whole document as one update in the snapshot.

What the check enforces on an update (a Yjs update is a set of insertions and deletions of items, so these
are checked on the document it produces, not on the update's bytes): the update decodes; it adds no root but
``pages``; every page is an array of maps, every shape has the schema above (type, colour, sizes, number of
points, text length); the whole document stays under ``board_max_bytes`` (encoded); and from anyone but the
host no page disappears and no shape disappears unless its ``by`` is the sender, and every new shape's ``by``
is the sender. What it cannot tell apart: a collaborator CHANGING another's shape (moving points,
recolouring, rewriting a note's text) is allowed, as the issue asks ("may only add or change"); deleted items
stay in the document as Yjs tombstones (small, counted in the size). Only the host clears (``board.clear``).
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Callable
from typing import Any

from pycrdt import Array, Doc, Map, merge_updates

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.journal import Record
from mediaserver.interaction.log import EVERYONE, RoomLog
from mediaserver.interaction.members import Member, is_staff, require_host, require_staff
from mediaserver.rtc import devices

ROOT = "pages"
TYPES = frozenset({"pen", "line", "rect", "ellipse", "arrow", "text", "note"})
WIDTH, HEIGHT = 1600, 900  # a page, in board units (the editor scales it to its canvas)
POINTS_MAX = 20_000  # numbers in one shape's points (a pen stroke of 10,000 points)
TEXT_MAX = 2000
ID_MAX = 40
PAGES_MAX = 50
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_SHAPE_KEYS = frozenset({"id", "type", "color", "width", "points", "text", "by"})

#: the board's bytes (the encoded document) that this room may hold: settings.board_max_bytes
DEFAULT_MAX_BYTES = 2_000_000
#: seconds between two saves of a changed board (settings.board_save_seconds); the session's end saves too
DEFAULT_SAVE_SECONDS = 30.0


def _refuse(what: str) -> ControlError:
    return ControlError("bad_update", f"this whiteboard update is refused: {what}", 400)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and -1e6 < v < 1e6


def _check_shape(s: Any) -> tuple[str, str]:
    """A shape's (id, by), or the error naming what is wrong with it."""
    if not isinstance(s, Map):
        raise _refuse("a page holds something that is not a shape (a map)")
    d = s.to_py()
    assert isinstance(d, dict)
    sid, by = d.get("id"), d.get("by")
    if not isinstance(sid, str) or not 0 < len(sid) <= ID_MAX:
        raise _refuse(f"a shape needs an 'id' of 1 to {ID_MAX} characters")
    if not isinstance(by, str) or len(by) > 64:
        raise _refuse("a shape needs 'by', its author's id")
    extra = set(d) - _SHAPE_KEYS
    if extra:
        raise _refuse(f"a shape has unknown fields {sorted(extra)}")
    if d.get("type") not in TYPES:
        raise _refuse(f"a shape's type must be one of {sorted(TYPES)}")
    if not isinstance(d.get("color"), str) or not _COLOR.fullmatch(d["color"]):
        raise _refuse("a shape's colour must be #rrggbb")
    w = d.get("width")
    if not isinstance(w, (int, float)) or not _number(w) or not 1 <= w <= 64:
        raise _refuse("a shape's width must be a number from 1 to 64")
    pts = d.get("points")
    if not isinstance(s.get("points"), Array) or not isinstance(pts, list):
        raise _refuse("a shape's points must be an array of numbers")
    if len(pts) % 2 or len(pts) > POINTS_MAX or not all(_number(p) for p in pts):
        raise _refuse(f"a shape's points must be pairs of numbers, at most {POINTS_MAX} numbers")
    text = d.get("text", "")
    if not isinstance(text, str) or len(text) > TEXT_MAX:
        raise _refuse(f"a shape's text is at most {TEXT_MAX} characters")
    return sid, by


def index(doc: Doc[Any]) -> tuple[int, dict[str, str]]:
    """The document's pages and shapes as (page count, {shape id: by}), after checking its schema."""
    roots = set(doc.keys())
    if roots - {ROOT}:
        raise _refuse(f"the board has one root, {ROOT!r}; the update adds {sorted(roots - {ROOT})}")
    try:
        pages = doc.get(ROOT, type=Array)
    except Exception as e:  # the root exists with another type
        raise _refuse(f"{ROOT!r} must be an array") from e
    if len(pages) > PAGES_MAX:
        raise _refuse(f"a board has at most {PAGES_MAX} pages")
    shapes: dict[str, str] = {}
    for page in pages:
        if not isinstance(page, Array):
            raise _refuse("each page must be an array of shapes")
        for s in page:
            sid, by = _check_shape(s)
            if sid in shapes:
                raise _refuse(f"two shapes have the id {sid!r}")
            shapes[sid] = by
    return len(pages), shapes


def decode(value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise _refuse("'update' must be a base64 Yjs update")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise _refuse("'update' is not base64") from e


def encode(update: bytes) -> str:
    return base64.b64encode(update).decode()


def may_draw(m: Member, collaboration: bool) -> None:
    """R-INT-5: the staff draw; attendees when collaboration is on; never a phone or tablet."""
    if getattr(m, "device", devices.DESKTOP) == devices.MOBILE:
        raise ControlError(
            "mobile_device", "the whiteboard cannot be used from a phone or tablet (R-INT-5)", 403
        )
    if not is_staff(m) and not collaboration:
        raise ControlError(
            "forbidden", "only the host and presenters draw on the whiteboard until collaboration is on", 403
        )


class Board(Feature):
    """A room's whiteboard. ``max_bytes``: the document's bound; ``save_seconds``: at most one save of a
    changed board to the journal (kind ``board``) this often, and one when the session ends."""

    key = "board"

    def __init__(
        self,
        log: RoomLog,
        record: Record | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        save_seconds: float = DEFAULT_SAVE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.record = record
        self.max_bytes = max_bytes
        self.save_seconds = save_seconds
        self.clock = clock
        self.doc: Doc[Any] = Doc()
        self.doc.get(ROOT, type=Array).append(Array())  # the first page (made here, not twice by two clients)
        self.state = self.doc.get_update()
        self._b64 = ""  # the state in base64, made once for all who join until it changes
        self.pages = 1
        self.shapes: dict[str, str] = {}  # index(self.doc): shape id -> by
        self.collaboration = False
        self._pending: list[bytes] = []  # the tick's accepted updates
        self._dirty = False  # changed since the last save
        self._saved_at = clock()

    def commands(self) -> dict[str, Handler]:
        return {
            "board.update": self.update,
            "board.state": self.full,
            "board.collaborate": self.collaborate,
            "board.clear": self.clear,
        }

    def _keep(self, doc: Doc[Any], pages: int, shapes: dict[str, str], update: bytes) -> None:
        self.doc, self.pages, self.shapes = doc, pages, shapes
        self.state = doc.get_update()
        self._b64 = ""
        self._pending.append(update)
        self._dirty = True

    def update(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{update}``: a Yjs update (base64) of the sender's drawing: refused whole, or kept and sent."""
        may_draw(m, self.collaboration)
        update = decode(params.get("update"))
        trial: Doc[Any] = Doc()
        trial.apply_update(self.state)
        try:
            trial.apply_update(update)
        except ValueError as e:
            raise _refuse(f"it is not a Yjs update ({e})") from e
        size = len(trial.get_update())
        if size > self.max_bytes:
            raise ControlError(
                "board_full",
                f"the whiteboard would hold {size} bytes, more than its {self.max_bytes}; clear a page first",
                413,
            )
        pages, shapes = index(trial)
        if m.role != "host":
            if pages < self.pages:
                raise ControlError("forbidden", "only the host removes whiteboard pages", 403)
            gone = [sid for sid, by in self.shapes.items() if sid not in shapes and by != m.id]
            if gone:
                raise ControlError("forbidden", "only the host erases what others drew", 403)
            if any(by != m.id for sid, by in shapes.items() if sid not in self.shapes):
                raise _refuse("a new shape's 'by' must be the sender's id")
        self._keep(trial, pages, shapes, update)
        return {"bytes": size, "shapes": len(shapes)}

    def encoded(self) -> str:
        if not self._b64:
            self._b64 = encode(self.state)
        return self._b64

    def full(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """The whole board as one update (a client whose own change was refused starts again from it)."""
        return self.snapshot(m)

    def collaborate(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{on}``: the host or a presenter lets attendees draw (or stops them)."""
        require_staff(m, "turn the whiteboard's collaboration on or off")
        on = params.get("on")
        if not isinstance(on, bool):
            raise ControlError("bad_request", "'on' must be true or false")
        if on != self.collaboration:
            self.collaboration = on
            self.log.append("boardCollaboration", {"on": on}, EVERYONE)
        return {"on": on}

    def clear(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{page?}``: the host erases one page's shapes (its index) or, without ``page``, every page's."""
        require_host(m, "clear the whiteboard")
        page = params.get("page")
        pages = self.doc.get(ROOT, type=Array)
        if page is not None and (
            not isinstance(page, int) or isinstance(page, bool) or not 0 <= page < len(pages)
        ):
            raise ControlError("bad_request", f"'page' must be a page index from 0 to {len(pages) - 1}")
        before = self.doc.get_state()
        with self.doc.transaction():
            for i, p in enumerate(pages):
                if (page is None or i == page) and len(p):
                    del p[:]
        diff = self.doc.get_update(before)
        n, shapes = index(self.doc)
        self._keep(self.doc, n, shapes, diff)
        return {"shapes": len(shapes)}

    def tick(self) -> None:
        if self._pending:
            merged = self._pending[0] if len(self._pending) == 1 else merge_updates(*self._pending)
            self._pending = []
            self.log.append("board", {"update": encode(merged)}, EVERYONE)
        if self._dirty and self.record is not None and self.clock() - self._saved_at >= self.save_seconds:
            self._save()

    def _save(self) -> None:
        self._dirty = False
        self._saved_at = self.clock()
        if self.record is not None:
            self.record("board", {"state": self.encoded(), "at": int(time.time() * 1000)})

    def ended(self) -> None:
        if self._dirty:
            self._save()

    def snapshot(self, m: Member) -> dict[str, Any]:
        return {"update": self.encoded(), "collaboration": self.collaboration}
