"""Password reset (issue 20 item 1): a forgotten password is set again from an e-mailed link.

The link's token is stateless (no table, no migration): ``<user id>.<expiry>.<HMAC>``, the HMAC-SHA256 under
the server's ``secret`` of the user id, the expiry and the user's current password hash. So it expires by
itself, and it works once: setting the password changes the hash (argon2 salts every hash), and the token no
longer verifies; a later reset or an earlier one changes it the same way. A request answers the same whether
or not the address has an account, so that it tells nobody which addresses are registered.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.identity import check_email, mails_within_an_hour
from mediaserver.accounts.passwords import hash_password
from mediaserver.errors import ControlError
from mediaserver.outbox import mail
from mediaserver.ratelimit import Caller
from mediaserver.store.db import Database, utcnow
from mediaserver.store.models import Session, User

RESET_MINUTES = 60  # how long a reset link works
RESET_MAILS_PER_HOUR = 3  # reset mails to one address in an hour; more requests send nothing


def _mac(secret: str, user_id: int, expires: int, password_hash: str) -> str:
    msg = f"password-reset\n{user_id}\n{expires}\n{password_hash}".encode()
    digest = hmac.new(secret.encode(), msg, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(secret: str, user_id: int, password_hash: str, expires: dt.datetime) -> str:
    """The reset token of ``user_id`` whose password hash is ``password_hash``, valid until ``expires``."""
    stamp = int(expires.timestamp())
    return f"{user_id}.{stamp}.{_mac(secret, user_id, stamp, password_hash)}"


def _parts(token: str) -> tuple[int, int, str]:
    """(user id, expiry, MAC) of a token's form, or a 400 ``bad_token``."""
    parts = token.split(".")
    digits = all(p.isascii() and p.isdigit() for p in parts[:2]) if len(parts) == 3 else False
    if digits and len(parts[0]) < 12 and len(parts[1]) < 16 and parts[2].isascii():
        return int(parts[0]), int(parts[1]), parts[2]
    raise _bad_token()


def _bad_token() -> ControlError:
    return ControlError(
        "bad_token",
        "this password reset link is not valid, has been used or has expired: ask for a new one",
        400,
    )


def verify(secret: str, token: str, user: User | None, now: dt.datetime | None = None) -> User:
    """The user the token was made for, if it is theirs, unexpired and made for their current password."""
    user_id, expires, mac = _parts(token)
    if user is None or user.id != user_id or not user.active or user.password_hash is None:
        raise _bad_token()
    if not hmac.compare_digest(mac, _mac(secret, user_id, expires, user.password_hash)):
        raise _bad_token()
    if expires <= (now or utcnow()).timestamp():
        raise ControlError("token_expired", "this password reset link has expired: ask for a new one", 400)
    return user


async def request_reset(
    s: AsyncSession, caller: Caller, email: str, base_url: str, secret: str, now: dt.datetime | None = None
) -> None:
    """Mail a reset link to the address if an active user with a password has it; nothing otherwise (the
    caller answers 202 either way). The address's budget is spent first; at most RESET_MAILS_PER_HOUR
    links go to one address in an hour."""
    now = now or utcnow()
    email = check_email(email)
    await caller.spend("password_reset")
    user = await s.scalar(select(User).where(User.email == email))
    if user is None or not user.active or user.password_hash is None:
        return
    if await mails_within_an_hour(s, email, ("password_reset",), now) >= RESET_MAILS_PER_HOUR:
        return
    token = sign(secret, user.id, user.password_hash, now + dt.timedelta(minutes=RESET_MINUTES))
    ctx = {"name": user.name, "link": f"{base_url}/dashboard#reset={token}", "minutes": RESET_MINUTES}
    await mail.queue(s, user.account_id, "password_reset", email, user.language, ctx)


async def confirm_reset(
    db: Database, s: AsyncSession, caller: Caller, token: str, password: str, secret: str
) -> None:
    """Set the password of the token's user and end their sessions. The address's activation budget is spent
    and the token checked (in a read of its own) before the new password is hashed; the write then applies
    only if the password hash is still the one the token was made for
    (two confirmations at once: one wins)."""
    await caller.spend("activate")
    user_id, _, _ = _parts(token)
    async with db.read_only() as r:
        user = verify(secret, token, await r.get(User, user_id))
        old_hash = user.password_hash
    new_hash = await hash_password(password)
    done = await s.execute(
        update(User)
        .where(User.id == user_id, User.password_hash == old_hash, User.active.is_(True))
        .values(password_hash=new_hash)
    )
    if getattr(done, "rowcount", 0) != 1:  # an UPDATE's CursorResult
        raise _bad_token()
    await s.execute(delete(Session).where(or_(Session.user_id == user_id, Session.acting_user_id == user_id)))
