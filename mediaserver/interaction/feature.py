"""What one interaction feature (chat, hands, reactions, Q&A, polls, the call to action) offers its room.

Issue 19 (failover): a durable feature also keeps a standby copy of itself on the room's edges, from the
owner's log (:meth:`Feature.mirror`, for the entry kinds it names in ``mirrors``), and runs from that copy if
the edge takes the room over (:meth:`Feature.resume`). Why the log and not a snapshot the owner writes to
Redis: the log already goes to every edge once per tick, so the copy costs the owner nothing more than the
few facts no client gets (``Entry.standby``: who voted, answered or clicked); a snapshot would be the whole
state serialised again and again on the node that carries the presenters, and would lose what changed since
it was last written. Each entry keeps its audience, so what was staff-only stays staff-only after takeover.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mediaserver.interaction.log import Entry
from mediaserver.interaction.members import Member

#: A command of the room's protocol: the member who sends it and its params in, the reply out (awaited first
#: when the command needs the database, e.g. ``poll.launch``; its checks are made before it returns).
Handler = Callable[[Member, dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


class Feature:
    """A feature of a room's interaction: its commands (``"chat.send"``: handler), what a member sees of it
    on joining (under ``key`` in the snapshot), and what it does when a member leaves or a tick passes."""

    key = ""
    #: issue 19: the kinds of the log's entries that carry this feature's durable state (given to mirror)
    mirrors: frozenset[str] = frozenset()

    def commands(self) -> dict[str, Handler]:
        return {}

    def snapshot(self, m: Member) -> dict[str, Any]:
        return {}

    def left(self, m: Member) -> None:
        """``m`` left the room."""

    def tick(self) -> None:
        """The fan-out is about to take the log's entries (aggregates append theirs now)."""

    def ended(self) -> None:
        """The room's session ended (what is still open is closed and recorded now)."""

    def mirror(self, entry: Entry) -> None:
        """Issue 19, on an edge: an entry of the owner's (one of ``mirrors``), applied to this standby copy
        as the owner applied it, appending nothing (the edge's features do not act)."""

    def resume(self) -> None:
        """Issue 19: this node took the room over: the feature runs here from its standby copy (its timers
        start again)."""
