"""Whom the server mails on an event's behalf after a join (issue 14 finding 9): the thank-you e-mail
(R-STAT-3) and the recording's link (R-REC-4) go only to addresses the server knows belong to the person,
never to whatever a joiner typed into the room's form. An address counts when the event invited it (an
invitation or a paid ticket, both mailed to it, their personal token proving that its holder reads that
mailbox) or when it is an activated user's of this server (activation is a link mailed to it). A
registration does not count: registering mails nothing, so it does not confirm the address."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.store.models import Event, Invitation, User


async def confirmed(s: AsyncSession, ev: Event, addresses: Iterable[str]) -> set[str]:
    """The lower-cased ``addresses`` the server may mail about ``ev`` (see the module's docstring)."""
    wanted = {a.lower() for a in addresses}
    if not wanted:
        return set()
    invited = set(
        await s.scalars(
            select(func.lower(Invitation.email)).where(
                Invitation.event_id == ev.id, func.lower(Invitation.email).in_(wanted)
            )
        )
    )
    users = set(
        await s.scalars(
            select(func.lower(User.email)).where(
                func.lower(User.email).in_(wanted),
                User.active.is_(True),
                User.activation_hash.is_(None),
            )
        )
    )
    return (invited | users) & wanted
