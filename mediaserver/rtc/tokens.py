"""Signed join tokens (JWT, HS256): who may join which room in which role."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from mediaserver.errors import forbidden

ROLES = ("host", "presenter", "attendee")


class TokenError(ValueError):
    """The token is malformed, badly signed, expired or grants nothing."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


@dataclass(frozen=True)
class Grant:
    room: str
    role: str
    name: str
    identity: str
    expires: int
    email: str = ""  # the person's e-mail address, when the token was issued for one (a room's join)
    adhoc: bool = True  # a room of this name may be made on the fly (False: only an existing room)
    attendance: int = 0  # R-STAT-1: the event's attendance row of this join (its stays are added up there)

    def person(self) -> frozenset[str]:
        """What a host's removal is bound to (issue 14 finding 13): the identity without the random part a
        join adds to an e-mail address (``a@b.c#1f2e``), and the e-mail address, lower-cased: a new token for
        the same person (the same e-mail or invitation) is still the same person."""
        keys = {self.identity.split("#", 1)[0].lower() if "#" in self.identity else self.identity}
        if self.email:
            keys.add(self.email.lower())
        return frozenset(k for k in keys if k)

    @property
    def can_publish(self) -> bool:
        return self.role in ("host", "presenter")

    def for_room(self, room: str) -> Grant:
        """This grant, when it is for ``room``; a token for another room is refused (ControlError, 403)."""
        if self.room != room:
            raise forbidden(f"the token is for room {self.room!r}, not {room!r}")
        return self

    def publisher(self) -> Grant:
        """This grant, when its role publishes (host, presenter): WHIP ingest is for them only (403 else)."""
        if not self.can_publish:
            raise forbidden(f"role {self.role!r} may not publish")
        return self

    def may_end(self, owner_identity: str) -> None:
        """Only a session's owner or a host may end it (a WHIP/WHEP resource): ControlError (403) else."""
        if owner_identity != self.identity and self.role != "host":
            raise forbidden("only the session's owner or a host may end it")


def issue(
    secret: str,
    room: str,
    role: str,
    name: str,
    identity: str,
    ttl: int = 3600,
    email: str = "",
    adhoc: bool = True,
    attendance: int = 0,
) -> str:
    """A signed token. ``email``: the person's address (bans hold across their tokens); ``adhoc=False``: the
    token is for a room that exists (an instant or an event's room), and never makes an ad-hoc one when that
    room is gone (issue 14 findings 13, 17); ``attendance``: the event's attendance row (R-STAT-1)."""
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body: dict[str, object] = {
        "room": room,
        "role": role,
        "name": name,
        "sub": identity,
        "exp": int(time.time()) + ttl,
    }
    if email:
        body["email"] = email
    if not adhoc:
        body["adhoc"] = False
    if attendance:
        body["att"] = attendance
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(sig)}"


def verify(secret: str, token: str, now: float | None = None) -> Grant:
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise TokenError("token is not a JWT (header.payload.signature)")
    try:
        header = json.loads(_unb64(parts[0]))
        body = json.loads(_unb64(parts[1]))
        sig = _unb64(parts[2])
    except (ValueError, UnicodeDecodeError) as e:
        raise TokenError("token is not valid base64url JSON") from e
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenError("token algorithm must be HS256")
    good = hmac.new(secret.encode(), f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(sig, good):
        raise TokenError("token signature is invalid")
    if not isinstance(body, dict):
        raise TokenError("token payload must be an object")
    exp = body.get("exp")
    if not isinstance(exp, int) or exp < (now if now is not None else time.time()):
        raise TokenError("token has expired")
    room, role = body.get("room"), body.get("role")
    if not isinstance(room, str) or not room or role not in ROLES:
        raise TokenError("token does not grant a room and a known role")
    name = body.get("name") if isinstance(body.get("name"), str) else ""
    sub = body.get("sub") if isinstance(body.get("sub"), str) else ""
    email = body["email"] if isinstance(body.get("email"), str) else ""
    adhoc = body.get("adhoc") is not False
    att = body.get("att")
    attendance = att if isinstance(att, int) and not isinstance(att, bool) and att > 0 else 0
    return Grant(room, role, name or "guest", sub or name or "guest", exp, email, adhoc, attendance)
