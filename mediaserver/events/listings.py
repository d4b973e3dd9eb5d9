"""Read-only views of an event for its organiser and its public page: the invitations and registrations,
page by page (R-ROOM-9, -10), and the branding its pages show (R-ROOM-11)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.store.db import paged
from mediaserver.store.models import Account, Event, Invitation, Registration

PUBLIC_BRANDING = ("logo", "colors", "backgrounds")


async def invitations(s: AsyncSession, ev: Event, offset: int, limit: int) -> tuple[list[Invitation], int]:
    """(a page of the event's invitations in the order they were made; how many in all)."""
    where = Invitation.event_id == ev.id
    return await paged(s, Invitation, where, Invitation.id, offset=offset, limit=limit)


async def registrations(
    s: AsyncSession, ev: Event, offset: int, limit: int
) -> tuple[list[Registration], int]:
    """(a page of who registered, in order; how many in all)."""
    where = Registration.event_id == ev.id
    return await paged(s, Registration, where, Registration.id, offset=offset, limit=limit)


async def public_branding(s: AsyncSession, ev: Event) -> dict[str, Any]:
    """R-ROOM-11: what the pages show (logo, colours, backgrounds), the event's own over the account's
    colour by colour and background by background; the e-mail layout and signature stay private."""
    account = await s.get(Account, ev.account_id)
    own, base = ev.branding or {}, (account.branding if account else None) or {}
    brand: dict[str, Any] = {}
    for key in PUBLIC_BRANDING:
        if isinstance(own.get(key), dict) or isinstance(base.get(key), dict):
            merged = {**(base.get(key) or {}), **(own.get(key) or {})}
            if merged:
                brand[key] = merged
        elif own.get(key) or base.get(key):
            brand[key] = own.get(key) or base.get(key)
    return brand
