"""Invitations (R-ROOM-10, -11): inviting by address, contact or group, re-sending after a change, the
personal join link and token, the invitee's Decline and Add-to-calendar buttons, and the dial-in details
the e-mail carries."""

from __future__ import annotations

import datetime as dt
import math
import secrets
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import localtime
from mediaserver.accounts.identity import Principal, check_email
from mediaserver.billing import subscription
from mediaserver.errors import ControlError, forbidden, not_found
from mediaserver.events.lifecycle import dial_in_pin, get_event
from mediaserver.outbox import mail, webhooks
from mediaserver.outbox.webhooks import public_ref
from mediaserver.store.db import utcnow
from mediaserver.store.models import (
    Account,
    Contact,
    ContactGroup,
    Email,
    Event,
    GroupMember,
    Invitation,
    User,
)
from mediaserver.store.sealed import digest


async def invite(
    s: AsyncSession,
    p: Principal,
    event_id: int,
    emails: list[str],
    contact_ids: list[int],
    group_ids: list[int],
    role: str,
    settings: Any,
) -> list[Invitation]:
    """Invite by pasted addresses, address-book contacts and contact groups, before or during the event."""
    require_confirmed(p)
    ev = await get_event(s, p, event_id, write=True)
    if ev.status == "done":
        raise ControlError("conflict", "this event is over; invitations go to planned or live events", 409)
    people: dict[str, str] = {}
    for e in emails:
        people.setdefault(check_email(e), "")
    if contact_ids:
        rows = list(
            await s.scalars(
                select(Contact).where(Contact.id.in_(contact_ids), Contact.account_id == p.account.id)
            )
        )
        if len(rows) != len(set(contact_ids)):
            raise not_found("contact")
        for c in rows:
            if c.email:
                people.setdefault(c.email.lower(), c.name)
    if group_ids:
        groups = list(
            await s.scalars(
                select(ContactGroup.id).where(
                    ContactGroup.id.in_(group_ids), ContactGroup.account_id == p.account.id
                )
            )
        )
        if len(groups) != len(set(group_ids)):
            raise not_found("contact group")
        members = await s.scalars(
            select(Contact)
            .join(GroupMember, GroupMember.contact_id == Contact.id)
            .where(GroupMember.group_id.in_(group_ids))
        )
        for c in members:
            if c.email:
                people.setdefault(c.email.lower(), c.name)
    if not people:
        raise ControlError(
            "bad_request", "nobody to invite: give e-mail addresses, contacts or groups with e-mail addresses"
        )
    await within_hourly_cap(s, p, len(people))
    existing = {i.email: i for i in await s.scalars(select(Invitation).where(Invitation.event_id == ev.id))}
    out = []
    for email, name in people.items():
        inv = existing.get(email)
        if inv is None:
            inv = Invitation(
                event_id=ev.id, email=email, name=name, role=role, token=secrets.token_urlsafe(18)
            )
            s.add(inv)
            await s.flush()
        elif role == "presenter":
            inv.role = "presenter"
        await _send_invitation(s, ev, inv, settings)
        out.append(inv)
    return out


async def resend(
    s: AsyncSession, p: Principal, event_id: int, invitation_ids: list[int] | None, settings: Any
) -> list[Invitation]:
    require_confirmed(p)
    ev = await get_event(s, p, event_id, write=True)
    if ev.status == "done":
        raise ControlError("conflict", "this event is over", 409)
    q = select(Invitation).where(Invitation.event_id == ev.id)
    if invitation_ids:
        q = q.where(Invitation.id.in_(invitation_ids))
    rows = list(await s.scalars(q.order_by(Invitation.id)))
    if invitation_ids and len(rows) != len(set(invitation_ids)):
        raise not_found("invitation")
    await within_hourly_cap(s, p, len(rows))
    for inv in rows:
        await _send_invitation(s, ev, inv, settings)
    return rows


def require_confirmed(p: Principal) -> None:
    """Issue 14 finding 9: invitations go out in the name of a user whose address is confirmed (activated by
    the link mailed to it). Users sign in only once activated, but the main account logged in as a
    sub-account (R-ACC-3) acts as its user, who may not have activated yet: 403 until they do."""
    if not p.user.active or p.user.activation_hash is not None or p.user.password_hash is None:
        raise forbidden(
            f"{p.user.email} has not confirmed its address yet: invitations are sent in its name only once "
            "it is verified (follow the activation link mailed to it)"
        )


async def within_hourly_cap(s: AsyncSession, p: Principal, count: int) -> None:
    """Issue 14 finding 9: an account (with its sub-accounts, whose plan is the main account's) sends at most
    its plan's invitations_per_hour invitation e-mails in any hour; ``count`` more would go over: 429 with
    Retry-After, the seconds until enough of the last hour's invitations are an hour old."""
    cap = subscription.account_limits(p.main, None).invitations_per_hour
    family = select(Account.id).where(or_(Account.id == p.main.id, Account.parent_id == p.main.id))
    now = utcnow()
    sent = list(
        await s.scalars(
            select(Email.created_at)
            .where(
                Email.kind == "invitation",
                Email.account_id.in_(family),
                Email.created_at > now - dt.timedelta(hours=1),
            )
            .order_by(Email.created_at)
        )
    )
    if len(sent) + count <= cap:
        return
    over = len(sent) + count - cap  # how many of the hour's mails must age out first
    wait = (
        3600
        if count > cap or over > len(sent)
        else max(1, math.ceil((sent[over - 1] + dt.timedelta(hours=1) - now).total_seconds()))
    )
    raise ControlError(
        "rate_limited",
        f"this plan sends at most {cap} invitation e-mails an hour ({len(sent)} sent in the last hour, "
        f"{count} more asked): retry in {wait} s, or send fewer",
        429,
        headers={"Retry-After": str(wait)},
    )


def join_link(base_url: str, ev: Event, inv: Invitation | None = None) -> str:
    link = (
        f"{base_url}/{'watch' if ev.kind == 'on_demand' else 'room'}/{ev.room_id}"  # R-AUTO-2: the watch page
    )
    if inv is not None and inv.role == "presenter":
        return f"{link}?presenter={inv.token}"
    if inv is not None and ev.access in ("token", "paid"):
        return f"{link}?token={inv.token}"
    return link


async def invitation_by_token(s: AsyncSession, token: str) -> tuple[Invitation, Event]:
    inv = (
        await s.scalar(select(Invitation).where(Invitation.token_hash == digest(token)))
        if 8 <= len(token) <= 64
        else None
    )
    ev = await s.get(Event, inv.event_id) if inv is not None else None
    if inv is None or ev is None:
        raise not_found("invitation")
    return inv, ev


async def decline_invitation(s: AsyncSession, token: str) -> tuple[Invitation, Event, bool]:
    """The invitee's Decline button (R-ROOM-11): recorded once (webhook invitation.declined); whether it is
    new."""
    inv, ev = await invitation_by_token(s, token)
    if inv.declined_at is not None:
        return inv, ev, False
    inv.declined_at = utcnow()
    await webhooks.emit(
        s,
        ev.account_id,
        "invitation.declined",
        {
            "event": public_ref(ev),
            "invitation": {"id": inv.id, "email": inv.email, "name": inv.name, "role": inv.role},
        },
    )
    return inv, ev, True


def calendar_ics(ev: Event, inv: Invitation, base_url: str) -> str:
    """The invitation's "download" button (R-ROOM-11): the event as an iCalendar file (RFC 5545) with its join
    link and room ID; 409 for an event without a date."""
    if ev.starts_at is None:
        raise ControlError("no_date", "this event has no date to put in a calendar", 409)

    def stamp(t: dt.datetime) -> str:
        return t.astimezone(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")

    def text(v: str) -> str:
        return (
            v.replace("\\", "\\\\")
            .replace(";", "\\;")
            .replace(",", "\\,")
            .replace("\r", "")
            .replace("\n", "\\n")
        )

    def fold(line: str) -> list[str]:  # lines of at most 75 octets (RFC 5545 3.1)
        parts, cur, limit = [], "", 75
        for ch in line:
            if len((cur + ch).encode()) > limit:
                parts.append(cur)
                cur, limit = "", 74  # a continuation line starts with a space
            cur += ch
        return [*parts[:1], *(" " + p for p in parts[1:]), (" " if parts else "") + cur]

    link = join_link(base_url, ev, inv)
    end = ev.starts_at + dt.timedelta(minutes=max(1, ev.duration_minutes or 60))
    about = "\n".join([link, f"Room ID: {ev.room_id}", *([ev.agenda] if ev.agenda else [])])
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//mediaserver//events//EN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:event-{ev.id}-{inv.id}@mediaserver",
        f"DTSTAMP:{stamp(utcnow())}",
        f"DTSTART:{stamp(ev.starts_at)}",
        f"DTEND:{stamp(end)}",
        f"SUMMARY:{text(ev.name)}",
        f"DESCRIPTION:{text(about)}",
        f"URL:{link}",
        f"LOCATION:{text(link)}",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(part for line in lines for part in fold(line)) + "\r\n"


def _mail_context(
    ev: Event, inv: Invitation, account: Account, owner: User, brand: dict[str, Any], settings: Any
) -> dict[str, Any]:
    """What the invitation e-mail says (R-ROOM-10): the link, the room ID, the dial-in numbers and, for token
    rooms, the token; laid out by the e-mail blocks of ``brand`` (R-ROOM-11)."""
    when = "" if ev.starts_at is None else localtime.wall_clock(ev.starts_at, ev.timezone)
    personal = ev.access in ("token", "paid") or inv.role == "presenter"
    numbers = ", ".join(settings.dial_in_numbers) if ev.dial_in else ""
    return {
        "name": inv.name or inv.email,
        "event": ev.name,
        "when": when or ev.kind.replace("_", " "),
        "organiser": owner.name,
        "role": inv.role,
        "link": join_link(settings.public_url, ev, inv),
        "room_id": ev.room_id,
        "token": inv.token if personal else "",
        "numbers": numbers,
        "pin": dial_in_pin(ev),
        "agenda": ev.agenda,
        "blocks": brand.get("emailBlocks"),
        "logo": brand.get("logo"),
        "decline_link": f"{settings.public_url}/i/{inv.token}/decline",
        "calendar_link": f"{settings.public_url}/i/{inv.token}/calendar.ics" if ev.starts_at else "",
        "signature": brand.get("signature") or account.signature,
        "password_note": ev.access == "password",
    }


async def preview(
    s: AsyncSession, p: Principal, event_id: int, branding: dict[str, Any] | None, settings: Any
) -> tuple[str, str, str]:
    """Issue 20 (the dashboard's e-mail layout): (subject, text, HTML) of the invitation an attendee of the
    event would get now, with ``branding`` (not saved: what the organiser is editing) in place of the
    event's own, over the account's as in a sent one; a sample invitee, nothing is sent or stored."""
    ev = await get_event(s, p, event_id)
    account = await s.get(Account, ev.account_id)
    owner = await s.get(User, ev.owner_id)
    assert account is not None and owner is not None
    own = ev.branding if branding is None else branding
    brand = {**(account.branding or {}), **(own or {})}
    sample = Invitation(event_id=ev.id, email="invitee@example.com", name="", role="attendee", token="TOKEN")
    return mail.render("invitation", ev.language, _mail_context(ev, sample, account, owner, brand, settings))


async def _send_invitation(s: AsyncSession, ev: Event, inv: Invitation, settings: Any) -> None:
    """R-ROOM-10: the link, the room ID, the dial-in numbers and, for token rooms, the token; laid out by the
    event's (or the account's) e-mail blocks (R-ROOM-11)."""
    account = await s.get(Account, ev.account_id)
    owner = await s.get(User, ev.owner_id)
    assert account is not None and owner is not None
    brand = {**(account.branding or {}), **(ev.branding or {})}
    await mail.queue(
        s,
        ev.account_id,
        "invitation",
        inv.email,
        ev.language,
        _mail_context(ev, inv, account, owner, brand, settings),
    )
    inv.sent_count += 1
    inv.sent_version = ev.settings_version
    inv.last_sent_at = utcnow()
