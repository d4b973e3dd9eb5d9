"""The room's interaction log (issue 16): each event appended once, numbered, with its audience.

The log is the one place interaction events pass through. Features append; the fan-out of the signaling plane
(`signaling/realtime/fanout.py`) takes the entries appended since its last tick, serialises each audience's
share once and writes the same frame to every socket of that audience. The log keeps no history of its own:
what a late joiner needs (the last chat lines, the open poll, the raised hands) is each feature's state, and
the snapshot is built from it, never by replaying the log.

:class:`RoomLog` is the interface; :class:`MemoryLog` keeps the pending entries in this process (one node).
A log shared by several nodes (a Redis stream per room) implements the same three members.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

#: Who an entry is for: everyone in the room; the staff (host and presenters); one person; or the staff and
#: one person (a private message of an attendee to the staff, or the staff's reply to one). A person is named
#: by their person key (members.Member.person_key), so that what is theirs follows them to a new connection.
EVERYONE = ("all", "")
STAFF = ("staff", "")
STAFF_ROLES = frozenset({"host", "presenter"})

Audience = tuple[str, str]


def one(person: str) -> Audience:
    """Only ``person`` (a person key)."""
    return ("one", person)


def staff_and(person: str) -> Audience:
    """The staff and ``person``."""
    return ("staff+", person)


def reaches(audience: Audience, person: str, role: str) -> bool:
    """Whether an entry for ``audience`` goes to the participant with person key ``person`` and ``role``."""
    kind, who = audience
    if kind == "all":
        return True
    if kind == "staff":
        return role in STAFF_ROLES
    if kind == "one":
        return person == who
    return role in STAFF_ROLES or person == who


@dataclass(frozen=True, slots=True)
class Entry:
    """One interaction event: ``kind`` names it for the clients (``chat``, ``hand``, ...), ``data`` is what
    they get, ``seq`` its number in the room (increasing; a client that sees a gap missed something).
    ``standby``: what no client gets but a node's standby copy of the feature needs (issue 19: who voted,
    answered or clicked, by person key; a test's answers), carried to the edges with the entry."""

    seq: int
    kind: str
    data: dict[str, Any]
    audience: Audience
    standby: dict[str, Any] | None = None

    def wire(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, **self.data}


class RoomLog(Protocol):
    """The interface the features and the fan-out use."""

    @property
    def last_seq(self) -> int:
        """The number of the last entry appended (0 before any)."""
        ...

    def append(
        self,
        kind: str,
        data: dict[str, Any],
        audience: Audience = EVERYONE,
        standby: dict[str, Any] | None = None,
    ) -> Entry:
        """Append one event; the fan-out sends it at its next tick (``standby``: see :class:`Entry`)."""
        ...

    def take(self) -> list[Entry]:
        """The entries appended since the last call, oldest first (the fan-out's tick)."""
        ...


class MemoryLog:
    """A :class:`RoomLog` in this process. ``on_append`` is called when the first entry after a ``take``
    arrives (the fan-out marks the room as having something to send)."""

    def __init__(self, on_append: Callable[[], None] | None = None) -> None:
        self._seq = 0
        self._pending: list[Entry] = []
        self.on_append = on_append
        # issue 19: on a room's owner node, what each take hands the cluster's edges (mediaserver.cluster)
        self.on_take: Callable[[list[Entry]], None] | None = None

    @property
    def last_seq(self) -> int:
        return self._seq

    def append(
        self,
        kind: str,
        data: dict[str, Any],
        audience: Audience = EVERYONE,
        standby: dict[str, Any] | None = None,
    ) -> Entry:
        self._seq += 1
        entry = Entry(self._seq, kind, data, audience, standby)
        self._pending.append(entry)
        if len(self._pending) == 1 and self.on_append is not None:
            self.on_append()
        return entry

    def put(self, entry: Entry) -> None:
        """Issue 19: an entry of the room's owner node, numbered there, to send here as if appended here (on
        an edge, where nothing appends: the features act on the owner)."""
        self._seq = max(self._seq, entry.seq)
        self._pending.append(entry)
        if len(self._pending) == 1 and self.on_append is not None:
            self.on_append()

    def skip_to(self, seq: int) -> None:
        """Issue 19: the owner's entries up to ``seq`` were seen here (the standby copy has them): this log
        numbers its own after them, should this node take the room over."""
        self._seq = max(self._seq, seq)

    def take(self) -> list[Entry]:
        taken, self._pending = self._pending, []
        if taken and self.on_take is not None:
            self.on_take(taken)
        return taken
