"""An event's contact groups (R-ACC-6): the people who registered for an event, and the leads of on-demand
viewing (R-REC-5), land in contact groups of the account's address book."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.store.models import Contact, ContactGroup, Event, GroupMember


async def add_to_event_group(
    s: AsyncSession, ev: Event, kind: str, label: str, email: str, person: str
) -> None:
    """R-ACC-6: an event's contact group of one kind (registrations; leads of on-demand viewing, R-REC-5)."""
    name = f"{label}: {ev.name} ({ev.room_id})"[:200]
    group = await s.scalar(
        select(ContactGroup).where(ContactGroup.account_id == ev.account_id, ContactGroup.name == name)
    )
    if group is None:
        group = ContactGroup(account_id=ev.account_id, name=name, kind=kind, event_id=ev.id)
        s.add(group)
        await s.flush()
    contact = await s.scalar(
        select(Contact).where(Contact.account_id == ev.account_id, Contact.email == email)
    )
    if contact is None:
        contact = Contact(account_id=ev.account_id, name=person[:200], email=email)
        s.add(contact)
        await s.flush()
    if await s.get(GroupMember, (group.id, contact.id)) is None:
        s.add(GroupMember(group_id=group.id, contact_id=contact.id))
