"""Raised hands (issue 16, R-ROOM-3): an attendee asks for the floor; the staff see the queue, oldest first,
and the host grants the floor from it (the room's ``grantFloor``), which lowers the hand. The attendee lowers
their own hand; the host or a presenter dismisses one. The queue and each change go to the staff and the
attendee concerned only. Each raised hand gets a ticket (the order of raising): an attendee's place in the
queue is told in the reply and the snapshot (as of its ``seq``), and kept current by ``handDone``, an event
for everyone with the ticket of a hand that left the queue while later ones wait (whoever holds a later
ticket moves up one), in the room's ordinary frame: not one message per waiting attendee.

Issue 19 (failover): an edge keeps a standby copy of the queue from the owner's log (:meth:`Hands.mirror`;
each ``hand`` entry's audience names the person). A hand whose participant is no longer in the room (they
were on the owner that died and came back as a new connection) can still be lowered by the staff."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.log import EVERYONE, Entry, RoomLog, staff_and
from mediaserver.interaction.members import Member, is_staff, require_staff


class Hands(Feature):
    key = "hands"
    mirrors = frozenset({"hand"})

    def __init__(self, log: RoomLog, find: Callable[[str], Member | None]) -> None:
        self.log = log
        self.find = find
        # participant id -> {participant, name, at, ticket}, oldest first
        self.queue: dict[str, dict[str, Any]] = {}
        self.people: dict[str, str] = {}  # participant id of a raised hand -> their person key
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
            self.people[m.id] = m.person_key
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
        elif pid in self.queue:  # issue 19: the hand of someone gone with the owner node that died
            self._lower(pid, str(self.queue[pid]["name"]), self.people.get(pid, ""))
        return {"raised": False}

    def _drop(self, m: Member) -> None:
        self._lower(m.id, m.name, m.person_key)

    def _lower(self, pid: str, name: str, person: str) -> None:
        hand = self.queue.pop(pid, None)
        self.people.pop(pid, None)
        if hand is not None:
            self.log.append("hand", {"participant": pid, "name": name, "raised": False}, staff_and(person))
            if self.queue and next(reversed(self.queue.values()))["ticket"] > hand["ticket"]:
                self.log.append("handDone", {"ticket": hand["ticket"]}, EVERYONE)  # later ones move up

    def floor_granted(self, m: Member) -> None:
        """The host gave ``m`` the floor: the hand is answered."""
        self._drop(m)

    def left(self, m: Member) -> None:
        self._drop(m)

    def mirror(self, entry: Entry) -> None:
        """Issue 19, on an edge: a hand raised or lowered on the owner."""
        d = entry.data
        pid = str(d.get("participant"))
        if not d.get("raised"):
            self.queue.pop(pid, None)
            self.people.pop(pid, None)
        elif pid not in self.queue:
            hand: dict[str, Any] = {k: d[k] for k in ("participant", "name", "at", "ticket") if k in d}
            self.queue[pid] = hand
            self.people[pid] = entry.audience[1]
            self._tickets = max(self._tickets, int(hand.get("ticket") or 0))

    def snapshot(self, m: Member) -> dict[str, Any]:
        if is_staff(m):
            return {"queue": list(self.queue.values())}
        hand = self.queue.get(m.id)
        if hand is None:
            return {"raised": False}
        position = self._position(m.id)
        return {"raised": True, "position": position, "ticket": hand["ticket"], "seq": self.log.last_seq}
