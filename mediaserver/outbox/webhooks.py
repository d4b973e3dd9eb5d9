"""Webhooks (R-API-1, -2): happenings of events, participants, recordings and payments, queued in the same
transaction as the happening (an outbox), signed with HMAC-SHA256, retried with exponential back-off, and
logged per delivery."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from mediaserver import outbound
from mediaserver.errors import ControlError
from mediaserver.store.db import utcnow
from mediaserver.store.models import Event, Webhook, WebhookDelivery

# What can be subscribed to. recording.* is emitted by the recording module, stream.* by live streaming
# (mediaserver/output/streaming.py, R-REC-6) and payment.* by the paid-webinar flow
# (mediaserver/billing/payments.py, R-BILL-10) through emit(); this module delivers whatever is emitted.
EVENT_TYPES = (
    "event.created",
    "event.updated",
    "event.started",
    "event.ended",
    "event.deleted",
    "event.failed",  # an automated event could not start at its time (mediaserver.events.automation)
    "participant.registered",
    "participant.joined",
    "participant.left",  # with the time attended (R-STAT-1; mediaserver.events.attendance)
    "invitation.declined",
    "recording.started",
    "recording.ready",
    "stream.started",
    "stream.stopped",
    "question.published",  # the host published a question (R-INT-2; mediaserver.interaction.hooks)
    "payment.succeeded",
    "payment.failed",
    "payment.refused",
    "billing.plan_changed",
    "billing.addon_added",
    "poll.closed",  # a poll or test closed in the room, with its results (interaction/polls_store.py)
)
SIGNATURE_HEADER = "X-Mediaserver-Signature"


def sign(secret: str, timestamp: int, delivery: int | str, body: bytes) -> str:
    """`t=<unix time>,v2=<hex HMAC-SHA256 of "<t>.<delivery id>.<body>">`; the receiver recomputes it with the
    X-Mediaserver-Delivery header and checks the time. The delivery id is signed (issue 14 finding 19) so a
    receiver that drops deliveries it has seen cannot be fed a captured one under another id."""
    mac = hmac.new(secret.encode(), f"{timestamp}.{delivery}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v2={mac}"


def verify(
    secret: str,
    header: str,
    delivery: int | str,
    body: bytes,
    tolerance: int = 300,
    now: float | None = None,
) -> bool:
    """What a receiver does (docs/api.md shows it): same HMAC, and a timestamp no older than `tolerance`."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, delivery, body).split(",", 1)[1], f"v2={parts.get('v2', '')}")


async def check_url(policy: outbound.Policy, url: str) -> None:
    """A webhook's URL when it is subscribed (issue 14 findings 4, 19): https to a public address; plain http
    and internal addresses only for hosts the operator lists in ``outbound_allow``. ControlError (400)."""
    try:
        u = URL(url)
        scheme, host, port = u.scheme, u.raw_host or "", u.port
    except ValueError:
        scheme, host, port = "", "", None
    if scheme not in ("http", "https") or not host:
        raise ControlError("bad_webhook_url", "the webhook URL must be an https:// URL with a host")
    if scheme == "http" and not policy.listed(host):
        raise ControlError(
            "https_required",
            "webhooks are sent over https only: use an https:// URL (the server's operator can allow plain "
            "http for an internal receiver with the outbound_allow setting)",
        )
    await policy.vet(host, port or 443, "the webhook's host")


def public_ref(ev: Event) -> dict[str, Any]:
    """How the webhooks' payloads name an event."""
    return {"id": ev.id, "name": ev.name, "kind": ev.kind, "status": ev.status, "roomId": ev.room_id}


async def wanted(s: AsyncSession, account_id: int, event_type: str) -> bool:
    """Whether an active webhook of the account takes ``event_type`` (a happening of thousands, such as the
    end of a big session's stays, is not built for nobody)."""
    hooks = await s.scalars(
        select(Webhook.events).where(Webhook.account_id == account_id, Webhook.active.is_(True))
    )
    return any(not events or event_type in events for events in hooks)


async def emit(s: AsyncSession, account_id: int, event_type: str, data: dict[str, Any]) -> int:
    """Queue the happening for every active webhook of the account that subscribed to it."""
    assert event_type in EVENT_TYPES, event_type
    hooks = await s.scalars(select(Webhook).where(Webhook.account_id == account_id, Webhook.active.is_(True)))
    n = 0
    now = utcnow()
    for hook in hooks:
        if hook.events and event_type not in hook.events:
            continue
        payload = json.dumps(
            {"type": event_type, "createdAt": now.isoformat(), "accountId": account_id, "data": data},
            default=str,
            separators=(",", ":"),
            sort_keys=True,
        )
        s.add(
            WebhookDelivery(webhook_id=hook.id, event_type=event_type, payload=payload, next_attempt_at=now)
        )
        n += 1
    if n:
        await s.flush()
    return n


def backoff(attempts: int, base: float) -> dt.timedelta:
    """base, 2 base, 4 base ... capped at an hour."""
    return dt.timedelta(seconds=min(3600.0, base * 2 ** max(0, attempts - 1)))
