"""The room's chat (R-INT-1, issue 16).

Public messages go to everyone. A private message of an attendee goes to the staff (host and presenters), and
the staff's private reply to that attendee: both are seen by the staff and that attendee only (a shared inbox,
so any of the staff can answer). The host turns the attendees' chat on and off live (an event's
``options.chat`` sets it at the start), deletes a message, and silences a person. A message is text of at most
:data:`MAX_CHARS` characters; the pages render it as text (links made clickable there, never HTML). Each
sender has a budget (:class:`Budget`): a flood is refused with 429 and costs the others nothing.

What a late joiner gets is the last :data:`HISTORY` public messages and the private ones they may see
(:meth:`Chat.snapshot`). Every message and deletion is recorded too (``record``, the room's journal), for the
history kept with the event's session and its exports.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.journal import Record
from mediaserver.interaction.log import EVERYONE, Audience, Entry, RoomLog, reaches, staff_and
from mediaserver.interaction.members import Member, is_staff, require_host, require_staff, who

MAX_CHARS = 2000
HISTORY = 100  # public messages a late joiner gets
PRIVATE_HISTORY = 200  # private messages kept for late joiners (each sees the ones they may)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass
class Budget:
    """A token bucket per sender: ``burst`` messages at once, then ``rate`` a second."""

    burst: float = 5.0
    rate: float = 1.0
    _level: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, at)

    def spend(self, key: str, now: float | None = None) -> float:
        """Take one token for ``key``; 0 when allowed, else the seconds until one is free."""
        now = time.monotonic() if now is None else now
        tokens, at = self._level.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._level[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._level[key] = (tokens - 1.0, now)
        if len(self._level) > 20_000:  # bounded: forget the fullest buckets (they are as good as new)
            full = [k for k, (t, a) in self._level.items() if t + (now - a) * self.rate >= self.burst]
            for k in full:
                del self._level[k]
        return 0.0


def clean_text(value: Any) -> str:
    """The message's text: a string, control and direction-override characters removed, trimmed, 1 to
    :data:`MAX_CHARS` characters (counted as characters, not bytes)."""
    if not isinstance(value, str):
        raise ControlError("bad_request", "'text' must be a string")
    text = _CONTROL.sub("", value).strip()
    if not text:
        raise ControlError("bad_request", "a message needs some text")
    if len(text) > MAX_CHARS:
        raise ControlError(
            "too_long", f"a message is at most {MAX_CHARS} characters; this one has {len(text)}", 400
        )
    return text


class Chat(Feature):
    key = "chat"
    mirrors = frozenset({"chat", "chatDeleted", "chatState", "chatSilenced"})

    def __init__(
        self,
        log: RoomLog,
        find: Callable[[str], Member | None],
        enabled: bool = True,
        record: Record | None = None,
        budget: Budget | None = None,
    ) -> None:
        self.log = log
        self.find = find  # a participant of the room by id (a private reply's recipient)
        self.enabled = enabled  # R-INT-1: the attendees' chat; the staff always write
        self.record = record  # the history kept with the event's session (journal kinds chat, chatDeleted)
        self.budget = budget or Budget()
        self.silenced: dict[str, str] = {}  # person key the host silenced -> their participant id then
        self.public: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.private: deque[tuple[Audience, dict[str, Any]]] = deque(maxlen=PRIVATE_HISTORY)

    def commands(self) -> dict[str, Handler]:
        return {
            "chat.send": self.send,
            "chat.delete": self.delete,
            "chat.setEnabled": self.set_enabled,
            "chat.silence": self.silence,
        }

    # ---- commands ----

    def send(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{text, to?}``: ``to`` absent for everyone; ``"staff"`` (an attendee's private message to the host
        and presenters); a participant's id (the staff's private reply)."""
        text = clean_text(params.get("text"))
        to = params.get("to")
        if not is_staff(m):
            if not self.enabled:
                raise ControlError("chat_off", "the host has turned the chat off", 403)
            if to not in (None, "staff"):
                raise ControlError("forbidden", "attendees write to everyone or privately to the staff", 403)
        if m.person_key in self.silenced:
            raise ControlError("silenced", "the host has silenced you in this chat", 403)
        wait = self.budget.spend(m.person_key)
        if wait:
            raise ControlError(
                "rate_limited",
                f"too many messages: wait {wait:.1f} s",
                429,
                {"Retry-After": str(int(wait) + 1)},
            )
        msg: dict[str, Any] = {"from": who(m), "text": text, "at": int(time.time() * 1000)}
        audience = EVERYONE
        if to == "staff":
            audience = staff_and(m.person_key)
            msg["to"] = "staff"
        elif to is not None:
            target = self.find(to) if isinstance(to, str) else None
            if target is None:
                raise ControlError("not_found", "no such participant in this room", 404)
            audience = staff_and(target.person_key)
            msg["to"] = who(target)
        entry = self.log.append("chat", msg, audience)
        msg = {"id": f"m{entry.seq}", **msg}
        entry.data["id"] = msg["id"]
        if audience == EVERYONE:
            self.public.append(msg)
        else:
            self.private.append((audience, msg))
        if self.record is not None:
            self.record("chat", {**msg, "private": audience != EVERYONE})
        return {"id": msg["id"], "seq": entry.seq}

    def delete(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{id}``: the host (or a presenter) removes a message for everyone who saw it."""
        require_staff(m, "delete messages")
        mid = params.get("id")
        if not isinstance(mid, str):
            raise ControlError("bad_request", "'id' (a message id) is required")
        for i, msg in enumerate(self.public):
            if msg["id"] == mid:
                del self.public[i]
                self.log.append("chatDeleted", {"id": mid})
                break
        else:
            for i, (aud, msg) in enumerate(self.private):
                if msg["id"] == mid:
                    del self.private[i]
                    self.log.append("chatDeleted", {"id": mid}, aud)
                    break
            else:
                raise ControlError("not_found", "no such message (or too old to delete here)", 404)
        if self.record is not None:
            self.record("chatDeleted", {"id": mid})
        return {}

    def mirror(self, entry: Entry) -> None:
        """Issue 19, on an edge: an entry of the owner's chat, kept here as the owner keeps it, so that this
        node has the chat as it stands if it takes the room over."""
        if entry.kind == "chat" and isinstance(entry.data.get("id"), str):
            if entry.audience == EVERYONE:
                self.public.append(dict(entry.data))
            else:
                self.private.append((entry.audience, dict(entry.data)))
        elif entry.kind == "chatDeleted":
            mid = entry.data.get("id")
            self.public = deque((x for x in self.public if x["id"] != mid), maxlen=HISTORY)
            self.private = deque((x for x in self.private if x[1]["id"] != mid), maxlen=PRIVATE_HISTORY)
        elif entry.kind == "chatState":
            self.enabled = bool(entry.data.get("enabled"))
        elif entry.kind == "chatSilenced" and entry.audience[0] == "staff+":  # its audience names the person
            if entry.data.get("silenced"):
                self.silenced[entry.audience[1]] = str(entry.data.get("participant"))
            else:
                self.silenced.pop(entry.audience[1], None)

    def set_enabled(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{enabled}``: the host turns the attendees' chat on or off (R-INT-1)."""
        require_host(m, "turn the chat on or off")
        on = params.get("enabled")
        if not isinstance(on, bool):
            raise ControlError("bad_request", "'enabled' must be true or false")
        if on != self.enabled:
            self.enabled = on
            self.log.append("chatState", {"enabled": on})
        return {"enabled": on}

    def silence(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{participant, silenced}``: the host stops (or lets again) one person writing."""
        require_host(m, "silence people")
        target = self.find(params["participant"]) if isinstance(params.get("participant"), str) else None
        if target is None:
            raise ControlError("not_found", "no such participant in this room", 404)
        on = params.get("silenced", True)
        if not isinstance(on, bool):
            raise ControlError("bad_request", "'silenced' must be true or false")
        if is_staff(target):
            raise ControlError("forbidden", "the host and presenters cannot be silenced", 403)
        if on:
            self.silenced[target.person_key] = target.id
        else:
            self.silenced.pop(target.person_key, None)
        self.log.append(
            "chatSilenced", {"participant": target.id, "silenced": on}, staff_and(target.person_key)
        )
        return {"silenced": on}

    # ---- what a member sees on joining ----

    def snapshot(self, m: Member) -> dict[str, Any]:
        mine = [msg for aud, msg in self.private if reaches(aud, m.person_key, m.role)]
        messages = sorted([*self.public, *mine], key=lambda msg: int(msg["id"][1:]))[-HISTORY:]
        seen = {"enabled": self.enabled, "silenced": m.person_key in self.silenced, "messages": messages}
        if is_staff(m):  # who is silenced, so that the host's page offers to let them write again
            seen["silencedPeople"] = sorted(self.silenced.values())
        return seen
