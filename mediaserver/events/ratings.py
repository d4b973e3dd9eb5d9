"""The attendees' rating of an event (R-STAT-1 "event rating", R-STAT-3's thank-you page and e-mail): 1 to 5
stars and an optional comment, one per attendee (their e-mail) and event.

Who rates is told by a signed rating token, the way the thank-you page and e-mail know the person: the join
gives it to the room page (its thank-you screen has the form), and the thank-you e-mail's link carries it
(``/rate#<token>``, a page with the same form). The token is an HMAC of the server's secret over the event and
the e-mail, kept for :data:`TTL`; nothing is stored for it. A second rating by the same person replaces the
first (people change their mind; there is still one per person). Every try costs the caller's address one of
``rate_limit_rating``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.errors import ControlError
from mediaserver.ratelimit import Caller
from mediaserver.store.db import utcnow
from mediaserver.store.models import Attendance, Event, EventRating

TTL = 60 * 86400  # a rating link works for 60 days after the join
COMMENT_MAX = 2000
_DOMAIN = b"rating."  # a rating token's MAC is unlike any other token's of the same secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode(), _DOMAIN + payload.encode(), hashlib.sha256).digest())


def token_for(secret: str, event_id: int, email: str, now: float | None = None) -> str:
    """The rating token of one attendee of one event."""
    body = {"e": event_id, "m": email.strip().lower(), "x": int(now or time.time()) + TTL}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_mac(secret, payload)}"


def link(base_url: str, secret: str, event_id: int, email: str) -> str:
    """The thank-you e-mail's rating link (the page /rate; the token after ``#`` stays out of server logs),
    or "" without a secret or base URL to make one."""
    if not secret or not base_url:
        return ""
    return f"{base_url}/rate#{token_for(secret, event_id, email)}"


def bad_token() -> ControlError:
    return ControlError("bad_token", "this rating link is not valid (or has expired)", 403)


def verify(secret: str, token: str, now: float | None = None) -> tuple[int, str]:
    """(event id, e-mail) of a rating token; ControlError ``bad_token`` (403) for a forged, broken or expired
    one."""
    payload, _, mac = token.partition(".")
    if not payload or not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        raise bad_token()
    try:
        body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        event_id, email, expires = int(body["e"]), str(body["m"]), int(body["x"])
    except (ValueError, KeyError, TypeError):
        raise bad_token() from None
    if expires < (now or time.time()):
        raise bad_token()
    return event_id, email


def check(stars: object, comment: object) -> tuple[int, str]:
    """The rating's stars (an integer 1..5) and comment (at most :data:`COMMENT_MAX` characters), or 400."""
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        raise ControlError("bad_rating", "'stars' must be an integer from 1 to 5")
    if comment is None:
        comment = ""
    if not isinstance(comment, str) or len(comment.strip()) > COMMENT_MAX or "\x00" in comment:
        raise ControlError("bad_comment", f"'comment' must be text of at most {COMMENT_MAX} characters")
    # a lone surrogate (JSON lets one through) becomes U+FFFD: the databases take valid UTF-8 only
    return stars, comment.strip().encode("utf-8", "surrogatepass").decode("utf-8", "replace")


@dataclass
class Rated:
    rating: EventRating
    event: Event
    replaced: bool


async def rate(
    s: AsyncSession, caller: Caller, secret: str, token: str, stars: object, comment: object
) -> Rated:
    """Rate the event the token names as the attendee it names (see the module's docstring): 429 over the
    address's budget, 403 for a bad token or someone who never joined, 400 for bad stars or comment, 404
    for an event deleted since; nothing is changed by a refusal."""
    await caller.spend("rating")
    event_id, email = verify(secret, token)
    stars, text = check(stars, comment)
    ev = await s.get(Event, event_id)
    if ev is None:
        raise ControlError("not_found", "the event of this rating link no longer exists", 404)
    who = await s.scalar(
        select(Attendance)
        .where(Attendance.event_id == ev.id, func.lower(Attendance.email) == email)
        .order_by(Attendance.id.desc())
        .limit(1)
    )
    if who is None:
        raise ControlError("not_attended", "only people who joined the event can rate it", 403)
    row = await s.scalar(select(EventRating).where(EventRating.event_id == ev.id, EventRating.email == email))
    replaced = row is not None
    if row is None:
        row = EventRating(event_id=ev.id, email=email)
        s.add(row)
    row.name, row.stars, row.comment, row.rated_at = who.name, stars, text, utcnow()
    await s.flush()
    return Rated(row, ev, replaced)
