"""Idempotency-Keys (R-API-1): a creating request's key and the answer it got, so that a retry of the same
request gets that answer again instead of creating twice. The HTTP framework (signaling.api.framework) decides
which operations take a key and how a request is hashed; this module keeps the rows and
forgets them after IDEMPOTENCY_TTL."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.errors import ControlError
from mediaserver.store.db import utcnow
from mediaserver.store.models import IdempotencyKey

IDEMPOTENCY_TTL = dt.timedelta(hours=24)  # R-API-1: an Idempotency-Key's answer is kept this long (OpenAPI)

#: what committing a claim raises when a request running at the same time committed the same key first (the
#: unique index): answer with that request's response instead
KeyTaken = IntegrityError


@dataclass
class Answer:
    """A stored response to replay."""

    status: int
    body: str | None


def _row(user_id: int | None, key: str) -> Any:
    who = IdempotencyKey.user_id.is_(None) if user_id is None else IdempotencyKey.user_id == user_id
    return (who, IdempotencyKey.key == key)


async def stored(
    s: AsyncSession, user_id: int | None, key: str, request_hash: str, now: dt.datetime | None = None
) -> Answer | None:
    """The stored answer to replay, None for a new request; a key older than IDEMPOTENCY_TTL (24 hours, as the
    OpenAPI document says) is forgotten here even before the dispatcher's sweep removes it. The same key with
    another request is refused (422)."""
    row = await s.scalar(select(IdempotencyKey).where(*_row(user_id, key)))
    if row is None:
        return None
    if row.created_at <= (now or utcnow()) - IDEMPOTENCY_TTL:
        await s.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
        return None
    if row.request_hash != request_hash:
        raise ControlError(
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request; use a new key for a new request",
            422,
        )
    return Answer(row.status_code or 200, row.response)


async def claim(s: AsyncSession, user_id: int | None, key: str, request_hash: str) -> IdempotencyKey:
    """Take the key before the request does anything: a concurrent twin waits on the unique index, then
    replays. Fill in the answer with :func:`answer` before the transaction commits."""
    row = IdempotencyKey(user_id=user_id, key=key, request_hash=request_hash, created_at=utcnow())
    s.add(row)
    await s.flush()
    return row


def answer(row: IdempotencyKey, status: int, body: str | None) -> None:
    row.status_code, row.response = status, body


def withhold(row: IdempotencyKey, made_id: Any) -> None:
    """The answer of a request whose response showed a secret once (issue 14 finding 11): its retry is told
    what was made (its id) and gets 409 ``secret_not_replayed``, not the secret, which the server keeps no
    clear copy of."""
    ref = f" (id {made_id})" if made_id is not None else ""
    body = {
        "error": {
            "code": "secret_not_replayed",
            "message": f"the first request with this Idempotency-Key already made this{ref}; its secret is "
            "shown only once and is not kept, so a retry cannot show it again: use it if it was saved, else "
            "delete what was made and make it again with a new Idempotency-Key",
        }
    }
    answer(row, 409, json.dumps(body))


async def purge_idempotency_keys(s: AsyncSession, now: dt.datetime | None = None) -> int:
    """Forget Idempotency-Keys older than IDEMPOTENCY_TTL (the dispatcher's sweep); returns how many went."""
    result = await s.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at <= (now or utcnow()) - IDEMPOTENCY_TTL)
    )
    assert isinstance(result, CursorResult)  # a DELETE without RETURNING: its rowcount is the answer
    return int(result.rowcount or 0)
