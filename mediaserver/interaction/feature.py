"""What one interaction feature (chat, hands, reactions, Q&A, polls, the call to action) offers its room."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mediaserver.interaction.members import Member

#: A command of the room's protocol: the member who sends it and its params in, the reply out (awaited first
#: when the command needs the database, e.g. ``poll.launch``; its checks are made before it returns).
Handler = Callable[[Member, dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]


class Feature:
    """A feature of a room's interaction: its commands (``"chat.send"``: handler), what a member sees of it
    on joining (under ``key`` in the snapshot), and what it does when a member leaves or a tick passes."""

    key = ""

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
