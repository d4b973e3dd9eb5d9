"""The call to action (R-INT-4, issue 16): the host pops up a description of at most :data:`DESCRIPTION_MAX`
characters (spaces included, counted as characters, not bytes: 54 Cyrillic letters pass, R-INT-4 and the help
page "Что такое функция “Призыв к действию”": "до 54 символов с пробелами"), a button label and an http(s)
URL, for an optional display time; the host closes it at any time, and the room closes it when its time is up.
Each person's click is counted once (their person key, so a reconnection does not count twice); the count goes
to the staff once a tick when it changed, and each counted click is recorded (the journal's ``ctaClick`` kind)
for the event's statistics. The automated timeline's ``call_to_action`` item gets the same limit
(:func:`description`, used by mediaserver.events.automation).

Issue 19 (failover): an edge keeps a standby copy from the owner's log (:meth:`CallToAction.mirror`): the one
showing, who clicked it (``ctaClicks``'s ``Entry.standby``, never sent to a client) and the timeline's items
played; a node taking the room over closes it when its time is up (:meth:`CallToAction.resume`)."""

from __future__ import annotations

import re
import time
import unicodedata
import urllib.parse
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.journal import Record
from mediaserver.interaction.log import STAFF, Entry, RoomLog
from mediaserver.interaction.members import Member, is_staff, require_host, who

DESCRIPTION_MAX = 54
BUTTON_MAX = 60  # as the automated timeline's buttonText
URL_MAX = 2000
SECONDS_MAX = 86400
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def _clean(value: Any, what: str, most: int, limit: str) -> str:
    if not isinstance(value, str):
        raise ControlError("bad_request", f"'{what}' must be a string")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", value)).strip()
    if not text:
        raise ControlError("bad_request", f"'{what}' needs some text")
    if len(text) > most:
        raise ControlError("too_long", f"{limit} is at most {most} characters; this one has {len(text)}", 400)
    return text


def description(value: Any, what: str = "text") -> str:
    """A call to action's description: 1 to 54 characters, spaces included (composed letters count once)."""
    return _clean(value, what, DESCRIPTION_MAX, "a call to action's description (spaces included)")


def check_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > URL_MAX or _CONTROL.search(value) or " " in value:
        raise ControlError(
            "bad_url", f"'url' must be an http:// or https:// URL of at most {URL_MAX} characters"
        )
    u = urllib.parse.urlsplit(value)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ControlError("bad_url", "'url' must be an http:// or https:// URL with a host")
    return value


class CallToAction(Feature):
    key = "cta"
    mirrors = frozenset({"cta", "ctaClicks"})

    def __init__(self, log: RoomLog, record: Record | None = None) -> None:
        self.log = log
        self.record = record  # journal kind ctaClick
        self.current: dict[str, Any] | None = None  # {id, text, button, url, seconds, shownAt, until}
        self.deadline: float | None = None  # time.monotonic() when it closes by itself
        self.clicked: set[str] = set()  # person keys counted for the current one
        self._clicks_changed = False
        self._fresh: list[str] = []  # who clicked since the last count (for the edges' copies)
        self.played: set[str] = set()  # the automated timeline's items shown in this room (play)

    def commands(self) -> dict[str, Handler]:
        return {"cta.show": self.show, "cta.close": self.close, "cta.click": self.click}

    def show(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{text, button, url, seconds?}``: the host's pop-up for everyone (it replaces one showing)."""
        require_host(m, "show a call to action")
        text = description(params.get("text"))
        button = _clean(params.get("button"), "button", BUTTON_MAX, "a button's label")
        url = check_url(params.get("url"))
        seconds = params.get("seconds")
        if seconds is not None and (
            not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= SECONDS_MAX
        ):
            raise ControlError(
                "bad_request", f"'seconds' must be a whole number from 1 to {SECONDS_MAX}, or null"
            )
        return self._open(text, button, url, seconds)

    def play(self, key: str, text: str, button: str, url: str, seconds: int) -> bool:
        """The automated timeline's call-to-action item ``key`` (R-AUTO-1, R-INT-4), shown by the server's
        timeline clock as the host would show it, so that its clicks are counted the same way; once per room
        (a host who closes it early is not overruled). False: played already, or not valid."""
        if key in self.played:
            return False
        self.played.add(key)
        try:
            text, button, url = (
                description(text),
                _clean(button, "button", BUTTON_MAX, "a button's label"),
                check_url(url),
            )
        except ControlError:
            return False
        self._open(text, button, url, max(1, min(seconds, SECONDS_MAX)), played=key)
        return True

    def _open(
        self, text: str, button: str, url: str, seconds: int | None, played: str | None = None
    ) -> dict[str, Any]:
        if self.current is not None:
            self._close("replaced")
        now = time.time()
        cta: dict[str, Any] = {
            "text": text,
            "button": button,
            "url": url,
            "seconds": seconds,
            "shownAt": int(now * 1000),
            "until": int((now + seconds) * 1000) if seconds else None,
        }
        entry = self.log.append("cta", {}, standby={"played": played} if played else None)
        cta = {"id": f"c{entry.seq}", **cta}
        entry.data["cta"] = cta
        self.current = cta
        self.deadline = time.monotonic() + seconds if seconds else None
        self.clicked = set()
        self._clicks_changed = False
        self._fresh = []
        return {"id": cta["id"], "seq": entry.seq}

    def close(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """The host closes it (nothing showing: nothing to do)."""
        require_host(m, "close the call to action")
        if self.current is None:
            return {"closed": False, "clicks": 0}
        clicks = len(self.clicked)
        self._close("host")
        return {"closed": True, "clicks": clicks}

    def _close(self, reason: str) -> None:
        assert self.current is not None
        cid, clicks = self.current["id"], len(self.clicked)
        self.current, self.deadline = None, None
        self.log.append("cta", {"cta": None, "closed": cid, "reason": reason})
        self.log.append("ctaClicks", {"id": cid, "clicks": clicks, "final": True}, STAFF)
        self.clicked = set()
        self._clicks_changed = False
        self._fresh = []

    def click(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{id?}``: an attendee pressed the button; counted once per person. Resolves ``{counted, url}``."""
        cta = self.current
        cid = params.get("id")
        if cid is not None and not isinstance(cid, str):
            raise ControlError("bad_request", "'id' must be a call to action's id")
        if cta is None or (cid is not None and cid != cta["id"]):
            raise ControlError("cta_closed", "this call to action has closed", 409)
        counted = not is_staff(m) and m.person_key not in self.clicked
        if counted:
            self.clicked.add(m.person_key)
            self._fresh.append(m.person_key)
            self._clicks_changed = True
            if self.record is not None:
                self.record(
                    "ctaClick",
                    {
                        "cta": cta["id"],
                        "text": cta["text"],
                        "url": cta["url"],
                        "from": who(m),
                        "person": m.person_key,
                        "at": int(time.time() * 1000),
                    },
                )
        return {"counted": counted, "url": cta["url"]}

    def tick(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self._close("expired")
        elif self._clicks_changed and self.current is not None:
            fresh, self._fresh = self._fresh, []  # who clicked: for the edges' copies only
            clicks = {"id": self.current["id"], "clicks": len(self.clicked)}
            self.log.append("ctaClicks", clicks, STAFF, {"clicked": fresh})
            self._clicks_changed = False

    def mirror(self, entry: Entry) -> None:
        sb = entry.standby or {}
        if entry.kind == "cta":
            cta = entry.data.get("cta")
            self.current = dict(cta) if isinstance(cta, dict) else None
            self.deadline, self.clicked = None, set()  # the deadline is the owner's (see resume)
            if sb.get("played"):
                self.played.add(str(sb["played"]))
        elif self.current is not None and entry.data.get("id") == self.current["id"]:  # ctaClicks
            self.clicked.update(sb.get("clicked") or ())

    def resume(self) -> None:
        until = (self.current or {}).get("until")
        if isinstance(until, int):
            self.deadline = time.monotonic() + max(0.0, until / 1000 - time.time())

    def snapshot(self, m: Member) -> dict[str, Any]:
        if is_staff(m):
            return {"cta": self.current, "clicks": len(self.clicked)}
        return {"cta": self.current, "clicked": m.person_key in self.clicked}
