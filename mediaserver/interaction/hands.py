"""Raised hands (issue 16, R-ROOM-3): an attendee asks for the floor; the staff see the queue, oldest first,
and the host grants the floor from it (the room's ``grantFloor``), which lowers the hand. The attendee lowers
their own hand; the host or a presenter dismisses one. The queue and each change go to the staff and the
attendee concerned only. Each raised hand gets a ticket (the order of raising): an attendee's place in the
queue is told in the reply and the snapshot (as of its ``seq``), and kept current by ``handDone``, an event
for everyone with the ticket of a hand that left the queue while later ones wait (whoever holds a later
ticket moves up one), in the room's ordinary frame: not one message per waiting attendee."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.log import EVERYONE, RoomLog, staff_and
from mediaserver.interaction.members import Member, is_staff, require_staff


class Hands(Feature):
    key = "hands"

    def __init__(self, log: RoomLog, find: Callable[[str], Member | None]) -> None:
        self.log = log
        self.find = find
        # participant id -> {participant, name, at, ticket}, oldest first
        self.queue: dict[str, dict[str, Any]] = {}
        self._tickets = 0

    def commands(self) -> dict[str, Handler]:
        return {"hand.raise": self.raise_hand, "hand.lower": self.lower}

    def raise_hand(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        if is_staff(m):
            raise ControlError("bad_request", "the host and presenters have the floor already")
        if m.floor:
            raise ControlError("conflict", "you have the floor already", 409)
        hand = self.queue.get(m.id)
        if hand is None:
            self._tickets += 1
            hand = {
                "participant": m.id,
                "name": m.name,
                "at": int(time.time() * 1000),
                "ticket": self._tickets,
            }
            self.queue[m.id] = hand
            self.log.append("hand", {**hand, "raised": True}, staff_and(m.person_key))
        position = self._position(m.id)
        return {"raised": True, "position": position, "ticket": hand["ticket"], "seq": self.log.last_seq}

    def _position(self, pid: str) -> int:
        if next(reversed(self.queue)) == pid:  # the usual case: just raised, last in the queue
            return len(self.queue)
        return list(self.queue).index(pid) + 1

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
        hand = self.queue.pop(m.id, None)
        if hand is not None:
            self.log.append(
                "hand", {"participant": m.id, "name": m.name, "raised": False}, staff_and(m.person_key)
            )
            if self.queue and next(reversed(self.queue.values()))["ticket"] > hand["ticket"]:
                self.log.append("handDone", {"ticket": hand["ticket"]}, EVERYONE)  # later ones move up

    def floor_granted(self, m: Member) -> None:
        """The host gave ``m`` the floor: the hand is answered."""
        self._drop(m)

    def left(self, m: Member) -> None:
        self._drop(m)

    def snapshot(self, m: Member) -> dict[str, Any]:
        if is_staff(m):
            return {"queue": list(self.queue.values())}
        hand = self.queue.get(m.id)
        if hand is None:
            return {"raised": False}
        position = self._position(m.id)
        return {"raised": True, "position": position, "ticket": hand["ticket"], "seq": self.log.last_seq}
