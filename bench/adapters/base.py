"""The interface every server adapter implements for ``bench.side_by_side``.

An adapter starts its server pinned to one core, signals publishers and subscribers for the
native load generator (``bench.loadgen.Loadgen``) and stops the server again. The harness never
talks to a server directly, so the same scenario drives every server.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.loadgen import Loadgen


@dataclass(frozen=True)
class Media:
    """What one publisher sends: Opus and/or VP8 simulcast layers (rids, lowest first)."""

    audio: bool = True
    video_layers: tuple[str, ...] = ("q", "h", "f")


@dataclass
class Peer:
    """One load-generator peer signalled into a room."""

    name: str
    lg_peer: int  # the Loadgen peer id
    role: str  # "publisher" or "subscriber"
    ssrcs: dict[str, int] = field(default_factory=dict)  # e.g. {"audio": .., "q": .., "h": .., "f": ..}
    extra: dict[str, Any] = field(default_factory=dict)  # adapter-private handles


class Adapter(abc.ABC):
    """One server under test."""

    name: str = "?"
    simulcast: bool = True  # False: publishers send only the top layer

    def __init__(self) -> None:
        self.pids: list[int] = []  # every process of the running server (CPU and RSS are summed)

    @abc.abstractmethod
    async def start(self, core: int, workdir: Path) -> None:
        """Start the server pinned to ``core`` (taskset); return when it accepts signaling."""

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop the server and every process it started; idempotent."""

    async def create_room(self, room: str, publishers: int) -> None:  # noqa: B027 - optional hook
        """Prepare a room for up to ``publishers`` publishers (servers that need it)."""

    @abc.abstractmethod
    async def publish(self, lg: Loadgen, room: str, name: str, media: Media) -> Peer:
        """Signal a publisher; its sources are added to ``lg`` but not started."""

    @abc.abstractmethod
    async def subscribe(self, lg: Loadgen, room: str, name: str, publishers: list[Peer]) -> Peer:
        """Signal a subscriber receiving every stream of ``publishers`` (top layer of simulcast)."""

    @abc.abstractmethod
    async def leave(self, peer: Peer) -> None:
        """Remove a peer from its room (signaling) and close its load-generator peer."""

    def egress_counters(self) -> dict[str, float] | None:
        """The server's own datagram counters, when it exposes them; None otherwise."""
        return None
