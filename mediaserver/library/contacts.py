"""The address book (R-ACC-6): contacts, groups and their members, and importing contacts from a file
(R-FILE-5; the file is read by mediaserver.library.contacts_import). Every function acts for one account and
refuses what is not its own as not found."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.identity import check_email
from mediaserver.errors import ControlError, not_found
from mediaserver.library import contacts_import, import_worker
from mediaserver.store.db import paged
from mediaserver.store.models import Contact, ContactGroup, GroupMember


async def _save(s: AsyncSession, conflict: str) -> None:
    """Flush in a savepoint; a unique index refusing the row is a 409 with ``conflict`` as the message."""
    try:
        async with s.begin_nested():
            await s.flush()
    except IntegrityError:
        raise ControlError("conflict", conflict, 409) from None


_DUPLICATE = "the address book already has a contact with this e-mail address"


# ---------------------------------------------------------------- contacts


async def contact(s: AsyncSession, account_id: int, contact_id: int) -> Contact:
    c = await s.get(Contact, contact_id)
    if c is None or c.account_id != account_id:
        raise not_found("contact")
    return c


async def contacts(s: AsyncSession, account_id: int, offset: int, limit: int) -> tuple[list[Contact], int]:
    """(a page of the address book by name, how many in all)."""
    where = Contact.account_id == account_id
    return await paged(s, Contact, where, Contact.name, Contact.id, offset=offset, limit=limit)


async def add_contact(
    s: AsyncSession, account_id: int, name: str, email: str | None, phone: str, company: str
) -> Contact:
    c = Contact(
        account_id=account_id,
        name=name,
        phone=phone,
        company=company,
        email=check_email(email) if email else None,
    )
    s.add(c)
    await _save(s, _DUPLICATE)
    return c


async def change_contact(
    s: AsyncSession, account_id: int, contact_id: int, changes: dict[str, Any]
) -> Contact:
    """Set the given fields (None leaves one as it is)."""
    c = await contact(s, account_id, contact_id)
    for key, value in changes.items():
        if value is not None:
            setattr(c, key, check_email(value) if key == "email" else value)
    await _save(s, _DUPLICATE)
    return c


async def delete_contact(s: AsyncSession, account_id: int, contact_id: int) -> None:
    await s.delete(await contact(s, account_id, contact_id))


# ---------------------------------------------------------------- groups


@dataclass
class Group:
    """A group with the number of its members."""

    id: int
    name: str
    kind: str
    members: int
    created_at: Any


async def _group(s: AsyncSession, account_id: int, group_id: int) -> ContactGroup:
    g = await s.get(ContactGroup, group_id)
    if g is None or g.account_id != account_id:
        raise not_found("contact group")
    return g


async def _counted(s: AsyncSession, g: ContactGroup) -> Group:
    n = await s.scalar(select(func.count()).select_from(GroupMember).where(GroupMember.group_id == g.id))
    return Group(g.id, g.name, g.kind, int(n or 0), g.created_at)


async def groups(s: AsyncSession, account_id: int) -> list[Group]:
    """The account's groups by name, those filled by registrations too."""
    rows = await s.scalars(
        select(ContactGroup).where(ContactGroup.account_id == account_id).order_by(ContactGroup.name)
    )
    return [await _counted(s, g) for g in rows]


async def add_group(s: AsyncSession, account_id: int, name: str) -> Group:
    g = ContactGroup(account_id=account_id, name=name, kind="manual")
    s.add(g)
    await _save(s, "a group with this name exists")
    return await _counted(s, g)


async def delete_group(s: AsyncSession, account_id: int, group_id: int) -> None:
    """The group goes; its contacts stay."""
    await s.delete(await _group(s, account_id, group_id))


async def members(
    s: AsyncSession, account_id: int, group_id: int, offset: int, limit: int
) -> tuple[list[Contact], int]:
    g = await _group(s, account_id, group_id)
    q = (
        select(Contact)
        .join(GroupMember, GroupMember.contact_id == Contact.id)
        .where(GroupMember.group_id == g.id)
    )
    total = await s.scalar(select(func.count()).select_from(q.subquery()))
    rows = await s.scalars(q.order_by(Contact.name, Contact.id).offset(offset).limit(limit))
    return list(rows), int(total or 0)


async def add_members(s: AsyncSession, account_id: int, group_id: int, contact_ids: list[int]) -> Group:
    """Add the account's contacts to the group (those already in it stay once)."""
    g = await _group(s, account_id, group_id)
    ids = set(contact_ids)
    found = set(
        await s.scalars(select(Contact.id).where(Contact.id.in_(ids), Contact.account_id == account_id))
    )
    if found != ids:
        raise not_found("contact")
    await _join(s, g, ids)
    return await _counted(s, g)


async def _join(s: AsyncSession, g: ContactGroup, contact_ids: set[int]) -> None:
    have = set(await s.scalars(select(GroupMember.contact_id).where(GroupMember.group_id == g.id)))
    for cid in sorted(contact_ids - have):
        s.add(GroupMember(group_id=g.id, contact_id=cid))
    await s.flush()


async def remove_member(s: AsyncSession, account_id: int, group_id: int, contact_id: int) -> None:
    g = await _group(s, account_id, group_id)
    m = await s.get(GroupMember, (g.id, contact_id))
    if m is None:
        raise not_found("group member")
    await s.delete(m)


# ---------------------------------------------------------------- import (R-FILE-5)


@dataclass
class Imported:
    imported: int
    already_there: int
    skipped: list[dict[str, Any]]
    format: str
    encoding: str | None
    group_id: int | None


# other refusals of a file are 400; import_failed is the import worker failing otherwise than on its limits
IMPORT_STATUS = {"unknown_format": 415, "too_large": 413, "import_failed": 500}


async def import_file(
    s: AsyncSession,
    account_id: int,
    group_id: int | None,
    read: Callable[[], Awaitable[tuple[str, bytes]]],
    limits: import_worker.Limits,
) -> Imported:
    """Import contacts from the file ``read()`` gives as (name, bytes) (CSV, XLS, XLSX; legacy code pages are
    detected), adding them to the group ``group_id`` too when given. The group is checked before the file is
    read; a contact already in the address book (same e-mail) is not added twice. The file is read in a worker
    process within ``limits`` (issue 14 finding 2)."""
    group = await _group(s, account_id, group_id) if group_id is not None else None
    name, data = await read()
    try:
        result = await import_worker.parse(data, name, limits)
    except contacts_import.ImportRefused as e:
        raise ControlError(e.code, e.message, IMPORT_STATUS.get(e.code, 400)) from None
    have = {c.email: c for c in await s.scalars(select(Contact).where(Contact.account_id == account_id))}
    imported = already = 0
    found = set()
    for row in result.rows:
        email = row.email.strip().lower()
        c = have.get(email)
        if c is None:
            c = Contact(
                account_id=account_id,
                name=row.name[:200],
                email=email,
                phone=row.phone[:64],
                company=row.company[:200],
            )
            s.add(c)
            have[email] = c
            imported += 1
        else:
            already += 1
        found.add(c)
    await s.flush()
    if group is not None:
        await _join(s, group, {c.id for c in found})
    return Imported(
        imported,
        already,
        [{"line": line, "reason": reason} for line, reason in result.skipped],
        result.format,
        result.encoding,
        group.id if group else None,
    )
