"""An account's webhook subscriptions and their delivery log (R-API-2): what the integrations page manages.
Sending them is mediaserver.outbox.webhooks and the dispatcher."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import outbound
from mediaserver.errors import ControlError, not_found
from mediaserver.outbox.webhooks import check_url
from mediaserver.store.db import paged
from mediaserver.store.models import Webhook, WebhookDelivery

MAX_WEBHOOKS = 20


async def subscribe(
    s: AsyncSession, account_id: int, url: str, events: list[str], policy: outbound.Policy
) -> Webhook:
    """A new webhook with its own signing secret (at most MAX_WEBHOOKS per account); ``events`` empty: all.
    Its URL must be one the server may send to (``policy``; checked again at every delivery)."""
    await check_url(policy, url)
    count = await s.scalar(select(func.count()).select_from(Webhook).where(Webhook.account_id == account_id))
    if (count or 0) >= MAX_WEBHOOKS:
        raise ControlError("limit_reached", f"at most {MAX_WEBHOOKS} webhooks per account", 409)
    hook = Webhook(
        account_id=account_id,
        url=url,
        secret=secrets.token_hex(32),
        events=list(dict.fromkeys(events)),
        active=True,
    )
    s.add(hook)
    await s.flush()
    return hook


async def webhook(s: AsyncSession, account_id: int, hook_id: int) -> Webhook:
    hook = await s.get(Webhook, hook_id)
    if hook is None or hook.account_id != account_id:
        raise not_found("webhook")
    return hook


async def webhooks(s: AsyncSession, account_id: int) -> list[Webhook]:
    return list(await s.scalars(select(Webhook).where(Webhook.account_id == account_id).order_by(Webhook.id)))


async def unsubscribe(s: AsyncSession, account_id: int, hook_id: int) -> None:
    """The webhook goes with its delivery log."""
    await s.delete(await webhook(s, account_id, hook_id))


async def deliveries(
    s: AsyncSession, account_id: int, hook_id: int, offset: int, limit: int
) -> tuple[list[WebhookDelivery], int]:
    """(a page of the webhook's delivery log, newest first; how many in all)."""
    hook = await webhook(s, account_id, hook_id)
    where = WebhookDelivery.webhook_id == hook.id
    return await paged(s, WebhookDelivery, where, WebhookDelivery.id.desc(), offset=offset, limit=limit)
