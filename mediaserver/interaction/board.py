"""The whiteboard (issue 17 item 3, R-INT-5): one CRDT document per room, Yjs in the browsers and pycrdt
here.

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

What the check enforces on an update (a Yjs update is a set of insertions and deletions of items; pycrdt
reports what applying it changed, and that is what is checked, so an update costs what it changes, not what
the board holds): the update decodes; it adds no root but ``pages``; pages are arrays of maps and every new
or changed field keeps to the schema above (type, colour, sizes, number of points, text length); a shape's
``id`` and ``by`` never change, a new shape's ``by`` is its sender; the document stays under
``board_max_bytes`` (encoded); and only the host removes pages, or changes or erases shapes drawn by others
(the others change and erase their own: "a collaborator's update may only add", and a collaborator's eraser
and undo work on their own strokes). Only the host clears (``board.clear``). What is not enforced: erased
items stay in the document as Yjs tombstones (small, counted in the size); an update that depends on items
the server has not seen is kept pending by pycrdt, unchecked, and checked with the update that completes it
(whose sender is refused if the result breaks the rules).

Issue 19 (failover): an edge keeps a standby copy of the board from the owner's log (:meth:`Board.mirror`:
the merged updates, the page shown, collaboration, on the stage or not). Every node's board starts from the
same empty document (:data:`EMPTY`: its first page made by one fixed Yjs client), so the owner's updates
apply to the copy as they do to the owner's.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pycrdt import Array, Doc, Map, merge_updates

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.journal import Record
from mediaserver.interaction.log import EVERYONE, Entry, RoomLog
from mediaserver.interaction.members import Member, is_staff, require_host, require_staff
from mediaserver.rtc import devices

log = logging.getLogger(__name__)

ROOT = "pages"
TYPES = frozenset({"pen", "line", "rect", "ellipse", "arrow", "text", "note"})
WIDTH, HEIGHT = 1600, 900  # a page, in board units (the editor scales it to its canvas)
POINTS_MAX = 10_000  # numbers in one shape's points (a pen stroke of 5,000 points)
TEXT_MAX = 2000
ID_MAX = 40
PAGES_MAX = 50
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
REQUIRED = frozenset({"id", "type", "color", "width", "points", "by"})  # and ``text``, optional

#: the board's bytes (the encoded document) that this room may hold: settings.board_max_bytes
DEFAULT_MAX_BYTES = 2_000_000
#: seconds between two saves of a changed board (settings.board_save_seconds); the session's end saves too
DEFAULT_SAVE_SECONDS = 30.0
#: seconds between two steps of the drawing over time (journal kind ``board_step``: what changed meanwhile)
STEP_SECONDS = 1.0
#: the Yjs client that makes the empty board's first page, the same on every node (issue 19); no other
#: change is made as it (a browser's client id is random: one in four billion draws it)
BASE_CLIENT = 0x7FFF_FFF1


def _empty() -> bytes:
    doc: Doc[Any] = Doc(client_id=BASE_CLIENT)
    doc.get(ROOT, type=Array).append(Array())
    return doc.get_update()


#: the empty board (one page) as one update: every room's board starts from it, on every node
EMPTY = _empty()


def _refuse(what: str) -> ControlError:
    return ControlError("bad_update", f"this whiteboard update is refused: {what}", 400)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and -1e6 < v < 1e6


def _check_field(key: str, value: Any) -> None:
    """One field of a shape, or the error naming what is wrong with it."""
    if key == "id":
        if not isinstance(value, str) or not 0 < len(value) <= ID_MAX:
            raise _refuse(f"a shape needs an 'id' of 1 to {ID_MAX} characters")
    elif key == "by":
        if not isinstance(value, str) or len(value) > 64:
            raise _refuse("a shape needs 'by', its author's id")
    elif key == "type":
        if value not in TYPES:
            raise _refuse(f"a shape's type must be one of {sorted(TYPES)}")
    elif key == "color":
        if not isinstance(value, str) or not _COLOR.fullmatch(value):
            raise _refuse("a shape's colour must be #rrggbb")
    elif key == "width":
        if not _number(value) or not 1 <= value <= 64:
            raise _refuse("a shape's width must be a number from 1 to 64")
    elif key == "points":
        if not isinstance(value, Array):
            raise _refuse("a shape's points must be an array of numbers")
        n = len(value)
        if n % 2 or n > POINTS_MAX or not all(_number(v) for v in value):
            raise _refuse(f"a shape's points must be pairs of numbers, at most {POINTS_MAX} numbers")
    elif key == "text":
        if not isinstance(value, str) or len(value) > TEXT_MAX:
            raise _refuse(f"a shape's text is at most {TEXT_MAX} characters")
    else:
        raise _refuse(f"a shape has an unknown field {key!r}")


def _check_shape(s: Any) -> tuple[str, str]:
    """A new shape's (id, by), after checking every field of it."""
    if not isinstance(s, Map):
        raise _refuse("a page holds something that is not a shape (a map)")
    keys = set(s.keys())
    if REQUIRED - keys:
        raise _refuse(f"a shape needs {sorted(REQUIRED - keys)}")
    for k in keys:
        _check_field(k, s[k])
    return str(s["id"]), str(s["by"])


def _id_of(s: Any) -> str:
    return str(s.get("id")) if isinstance(s, Map) else ""


def index(doc: Doc[Any]) -> tuple[list[list[str]], dict[str, str]]:
    """The document's shape ids page by page and {shape id: by}, after checking all of it (a saved board, the
    tests; a room checks each update's changes only)."""
    roots = set(doc.keys())
    if roots - {ROOT}:
        raise _refuse(f"the board has one root, {ROOT!r}; the update adds {sorted(roots - {ROOT})}")
    pages = doc.get(ROOT, type=Array)
    if len(pages) > PAGES_MAX:
        raise _refuse(f"a board has at most {PAGES_MAX} pages")
    ids: list[list[str]] = []
    by: dict[str, str] = {}
    for page in pages:
        if not isinstance(page, Array):
            raise _refuse("each page must be an array of shapes")
        ids.append([])
        for s in page:
            sid, author = _check_shape(s)
            if sid in by:
                raise _refuse(f"two shapes have the id {sid!r}")
            ids[-1].append(sid)
            by[sid] = author
    return ids, by


@dataclass
class _Change:
    """One change an update made (pycrdt's event, read while it is valid): where, and what."""

    path: list[Any]
    delta: list[dict[str, Any]]  # an array's: retain / delete / insert
    keys: dict[str, dict[str, Any]]  # a map's: key -> {action, newValue, oldValue}
    target: Any


def _change(e: Any) -> _Change:
    return _Change(
        list(e.path), list(getattr(e, "delta", None) or []), dict(getattr(e, "keys", None) or {}), e.target
    )


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
    changed board to the journal (kind ``board``) this often, and one when the session ends. The drawing over
    time goes to the journal too (kind ``board_step``): at most every :data:`STEP_SECONDS`, what changed since
    the last step, so a recording's watch page can draw the board as it was at each moment.

    Two copies of the document: ``doc``, the board, and ``shadow``, where an update is tried first. Only the
    changes an update makes are checked (pycrdt's events on the shadow): the cost of an update is that of the
    update, not of the board. A refused update leaves the shadow changed, so it is made again from the board
    (the whole board's cost, for refusals only, which only those allowed to draw can cause)."""

    key = "board"
    mirrors = frozenset({"board", "boardCollaboration", "boardPage", "boardShown"})

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
        self.doc.apply_update(EMPTY)  # the first page (made here, not twice by two clients)
        self._state: bytes | None = None  # the board as one update, made when asked for after a change
        self._b64 = ""  # the same in base64, made once for all who join until it changes
        self.shadow: Doc[Any] = Doc()
        self.shadow.apply_update(self.state)
        self.ids: list[list[str]] = [[]]  # the shape ids, page by page, in order
        self.by: dict[str, str] = {}  # shape id -> its author's participant id
        self._size = len(self.state)  # the encoded size, exact or over-estimated (+ the updates' sizes)
        self.collaboration = False
        self.page = 0  # the page the staff show: everyone's board follows it
        self.shown = False  # on everyone's stage (issue 17: one presented item at a time)
        self._pending: list[bytes] = []  # the tick's accepted updates
        self._dirty = False  # changed since the last save
        self._saved_at = clock()
        self._stepped: bytes = b"\x00"  # the state vector at the last step (none yet: the empty one)
        self._step_dirty = False
        self._step_at = clock()

    @property
    def state(self) -> bytes:
        if self._state is None:
            self._state = self.doc.get_update()
        return self._state

    def encoded(self) -> str:
        if not self._b64:
            self._b64 = encode(self.state)
        return self._b64

    def commands(self) -> dict[str, Handler]:
        return {
            "board.update": self.update,
            "board.state": self.full,
            "board.collaborate": self.collaborate,
            "board.clear": self.clear,
            "board.page": self.show_page,
            "board.show": self.show,
        }

    def update(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{update}``: a Yjs update (base64) of the sender's drawing: refused whole, or kept and sent."""
        may_draw(m, self.collaboration)
        update = decode(params.get("update"))
        changes: list[_Change] = []
        pages = self.shadow.get(ROOT, type=Array)
        sub = pages.observe_deep(lambda events: changes.extend(_change(e) for e in events))
        try:
            try:
                self.shadow.apply_update(update)
            except ValueError as e:
                raise _refuse(f"it is not a Yjs update ({e})") from e
            finally:
                pages.unobserve(sub)
            ids, by = self._check(m, pages, changes, len(update))
        except ControlError:
            self.shadow = Doc()
            self.shadow.apply_update(self.state)
            raise
        self.doc.apply_update(update)
        self._kept(ids, by, update)
        return {"bytes": self._size, "shapes": len(by)}

    def _check(
        self, m: Member, pages: Array[Any], changes: list[_Change], size: int
    ) -> tuple[list[list[str]], dict[str, str]]:
        """The board's ids and authors after ``changes``, if the sender may make them and they keep to the
        schema (else the error saying why)."""
        host = m.role == "host"
        extra = set(self.shadow.keys()) - {ROOT}
        if extra:
            raise _refuse(f"the board has one root, {ROOT!r}; the update adds {sorted(extra)}")
        if not 1 <= len(pages) <= PAGES_MAX:
            raise _refuse(f"a board has 1 to {PAGES_MAX} pages")
        new: list[Any] = []  # the shapes the update adds (whole: checked whole)
        gone: list[str] = []  # the ids of the shapes it removes
        ids = [list(p) for p in self.ids]
        root = [c for c in changes if not c.path]
        for c in root:
            for op in c.delta:
                if "delete" in op and not host:
                    raise ControlError("forbidden", "only the host removes whiteboard pages", 403)
                for page in op.get("insert", ()):
                    if not isinstance(page, Array):
                        raise _refuse("each page must be an array of shapes")
                    new.extend(page)
        for c in changes:
            if not c.path:
                continue  # the pages themselves: above
            if len(c.path) == 1:  # a page's shapes added or removed
                old, out, i = self.ids[c.path[0]] if not root else [], [], 0
                for op in c.delta:
                    if "retain" in op:
                        out.extend(old[i : i + op["retain"]])
                        i += op["retain"]
                    elif "delete" in op:
                        gone.extend(old[i : i + op["delete"]])
                        i += op["delete"]
                    else:
                        new.extend(op.get("insert", ()))
                        out.extend(_id_of(s) for s in op.get("insert", ()))
                if not root:
                    ids[c.path[0]] = out + old[i:]
            elif len(c.path) == 2:  # a shape's fields
                sid = _id_of(pages[c.path[0]][c.path[1]])
                for key, change in c.keys.items():
                    if key in ("id", "by"):
                        raise _refuse("a shape's id and author never change")
                    if change.get("action") == "delete":
                        if key in REQUIRED:
                            raise _refuse(f"a shape keeps its {key!r}")
                    else:
                        _check_field(key, change.get("newValue"))
                self._own(m, host, sid, "change")
            elif len(c.path) == 3 and c.path[2] == "points":  # points added to (or taken from) a shape
                sid = _id_of(pages[c.path[0]][c.path[1]])
                self._own(m, host, sid, "change")
                added = [v for op in c.delta for v in op.get("insert", ())]
                n = len(c.target)
                if n % 2 or n > POINTS_MAX or not all(_number(v) for v in added):
                    raise _refuse(f"a shape's points must be pairs of numbers, at most {POINTS_MAX} numbers")
            else:
                raise _refuse("the update changes something the board's schema has no place for")
        if root:  # pages came or went: their ids again (ids only, not the shapes' contents)
            ids = [[_id_of(s) for s in p] if isinstance(p, Array) else [] for p in pages]
            now = {i for p in ids for i in p}
            gone = [i for i in self.by if i not in now]
        by = dict(self.by)
        for sid in gone:
            self._own(m, host, sid, "erase")
            by.pop(sid, None)
        for s in new:
            sid, author = _check_shape(s)
            if sid in by:
                raise _refuse(f"two shapes have the id {sid!r}")
            if not host and author != m.id:
                raise _refuse("a new shape's 'by' must be the sender's id")
            by[sid] = author
        estimate = self._size + size
        if estimate > self.max_bytes:
            exact = len(self.shadow.get_update())
            if exact > self.max_bytes:
                raise ControlError(
                    "board_full",
                    f"the whiteboard would hold {exact} bytes, more than its {self.max_bytes}; clear a page",
                    413,
                )
            estimate = exact
        self._size = estimate
        return ids, by

    def _own(self, m: Member, host: bool, sid: str, what: str) -> None:
        """Only the host changes or erases what others drew."""
        if not host and self.by.get(sid, m.id) != m.id:
            raise ControlError("forbidden", f"only the host may {what} what others drew", 403)

    def _kept(self, ids: list[list[str]], by: dict[str, str], update: bytes) -> None:
        self.ids, self.by = ids, by
        self.page = min(self.page, len(ids) - 1)  # the host removed the page shown
        self._state, self._b64 = None, ""
        self._pending.append(update)
        self._dirty = self._step_dirty = True

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

    def show_page(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{page}``: the host or a presenter turns everyone's board to this page (an index from 0)."""
        require_staff(m, "turn the whiteboard's page for everyone")
        page, count = params.get("page"), len(self.ids)
        if not isinstance(page, int) or isinstance(page, bool) or not 0 <= page < count:
            raise ControlError("bad_request", f"'page' must be a page index from 0 to {count - 1}")
        if page != self.page:
            self.page = page
            self.log.append("boardPage", {"page": page}, EVERYONE)
        return {"page": page}

    def show(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{shown}``: the host or a presenter puts the board on everyone's stage (issue 17: it takes the
        document or the video off it), or takes it off; everyone gets ``boardShown {shown}``."""
        require_staff(m, "show the whiteboard to everyone")
        shown = params.get("shown", True)
        if not isinstance(shown, bool):
            raise ControlError("bad_request", "'shown' must be true or false")
        if shown != self.shown:
            self.shown = shown
            self.log.append("boardShown", {"shown": shown}, EVERYONE)
        return {"shown": shown}

    def leave_stage(self) -> None:
        """Something else took the stage: the board leaves everyone's stage (it is kept as it is)."""
        if self.shown:
            self.shown = False
            self.log.append("boardShown", {"shown": False}, EVERYONE)

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
        self.shadow.apply_update(diff)
        ids = [[] if page is None or i == page else list(p) for i, p in enumerate(self.ids)]
        keep = {i for p in ids for i in p}
        self._kept(ids, {k: v for k, v in self.by.items() if k in keep}, diff)
        self._size = len(self.state)
        return {"shapes": len(keep)}

    def tick(self) -> None:
        if self._pending:
            merged = self._pending[0] if len(self._pending) == 1 else merge_updates(*self._pending)
            self._pending = []
            self.log.append("board", {"update": encode(merged)}, EVERYONE)
        if self._dirty and self.record is not None and self.clock() - self._saved_at >= self.save_seconds:
            self._save()
        if self._step_dirty and self.record is not None and self.clock() - self._step_at >= STEP_SECONDS:
            self._step()

    def _step(self, final: bool = False) -> None:
        """One step of the drawing over time: the changes since the last (a Yjs update; the first has all).
        ``final``: made by the session's end (its record belongs to the session that just ended)."""
        self._step_dirty = False
        self._step_at = self.clock()
        diff = self.doc.get_update(self._stepped)
        self._stepped = self.doc.get_state()
        if self.record is not None:
            self.record("board_step", {"update": encode(diff), "at": int(time.time() * 1000), "final": final})

    def _save(self, final: bool = False) -> None:
        self._dirty = False
        self._saved_at = self.clock()
        if self.record is not None:
            self.record("board", {"state": self.encoded(), "at": int(time.time() * 1000), "final": final})

    def ended(self) -> None:
        """The session ended (already written): its last save and step are the ended session's."""
        if self._dirty:
            self._save(final=True)
        if self._step_dirty:
            self._step(final=True)

    def mirror(self, entry: Entry) -> None:
        """Issue 19, on an edge: the owner's accepted updates (merged per tick) and its stage flags."""
        d = entry.data
        if entry.kind == "board":
            try:
                self.doc.apply_update(decode(d.get("update")))
            except (ControlError, ValueError) as e:
                log.warning("the owner's board update could not be applied to the standby copy: %s", e)
                return
            self._state, self._b64 = None, ""
        elif entry.kind == "boardCollaboration":
            self.collaboration = bool(d.get("on"))
        elif entry.kind == "boardPage":
            self.page = int(d.get("page") or 0)
        else:
            self.shown = bool(d.get("shown"))

    def resume(self) -> None:
        """The copy's checks made ready: the shadow, the shapes' ids and authors, the size."""
        self.shadow = Doc()
        self.shadow.apply_update(self.state)
        try:
            self.ids, self.by = index(self.doc)
        except ControlError as e:  # the owner's board broke no rule; should it have, it is drawn on as is
            log.warning("the board taken over does not index: %s", e)
        self._size = len(self.state)
        self.page = min(self.page, max(len(self.ids) - 1, 0))

    def snapshot(self, m: Member) -> dict[str, Any]:
        return {
            "update": self.encoded(),
            "collaboration": self.collaboration,
            "page": self.page,
            "shown": self.shown,
        }
