"""Raised hands (issue 16, R-ROOM-3): an attendee asks for the floor; the staff see the queue, oldest first,
and the host grants the floor from it (the room's ``grantFloor``), which lowers the hand. The attendee lowers
their own hand; the host or a presenter dismisses one. The queue and each change go to the staff and the
attendee concerned only."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.log import RoomLog, staff_and
from mediaserver.interaction.members import Member, is_staff, require_staff


class Hands(Feature):
    key = "hands"

    def __init__(self, log: RoomLog, find: Callable[[str], Member | None]) -> None:
        self.log = log
        self.find = find
        self.queue: dict[str, dict[str, Any]] = {}  # participant id -> {participant, name, at}, oldest first

    def commands(self) -> dict[str, Handler]:
        return {"hand.raise": self.raise_hand, "hand.lower": self.lower}

    def raise_hand(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        if is_staff(m):
            raise ControlError("bad_request", "the host and presenters have the floor already")
        if m.floor:
            raise ControlError("conflict", "you have the floor already", 409)
        if m.id not in self.queue:
            hand = {"participant": m.id, "name": m.name, "at": int(time.time() * 1000)}
            self.queue[m.id] = hand
            self.log.append("hand", {**hand, "raised": True}, staff_and(m.person_key))
        return {"raised": True, "position": list(self.queue).index(m.id) + 1}

    def lower(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{participant?}``: one's own hand, or (the staff) someone's."""
        pid = params.get("participant", m.id)
        if not isinstance(pid, str):
            raise ControlError("bad_request", "'participant' must be a participant id")
        if pid != m.id:
            require_staff(m, "lower someone else's hand")
        target = m if pid == m.id else self.find(pid)
        if target is not None:
            self._drop(target)
        return {"raised": False}

    def _drop(self, m: Member) -> None:
        if self.queue.pop(m.id, None) is not None:
            hand = {"participant": m.id, "name": m.name, "raised": False}
            self.log.append("hand", hand, staff_and(m.person_key))

    def floor_granted(self, m: Member) -> None:
        """The host gave ``m`` the floor: the hand is answered."""
        self._drop(m)

    def left(self, m: Member) -> None:
        self._drop(m)

    def snapshot(self, m: Member) -> dict[str, Any]:
        if is_staff(m):
            return {"queue": list(self.queue.values())}
        return {"raised": m.id in self.queue}
