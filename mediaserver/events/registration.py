"""How people get into an event: registration (R-ROOM-9) and joining through the event's access rules
(R-ROOM-6, -7) to the usual join token of its room, or to a watch URL for an on-demand event (R-AUTO-2);
the embed snippet for another site (R-ROOM-12)."""

from __future__ import annotations

import html
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.identity import check_email
from mediaserver.billing import subscription
from mediaserver.errors import ControlError, forbidden, not_found
from mediaserver.events import attendance, automation, ondemand, ratings
from mediaserver.events.client_profile import Profile
from mediaserver.events.contact_groups import add_to_event_group
from mediaserver.events.lifecycle import room_for
from mediaserver.outbox import webhooks
from mediaserver.outbox.webhooks import public_ref
from mediaserver.rtc import tokens
from mediaserver.rtc.room_rules import check_person, entry_status
from mediaserver.rtc.rooms import RoomManager
from mediaserver.store.models import Account, Event, EventSession, Invitation, Registration
from mediaserver.store.sealed import digest

DEFAULT_FIELDS = ("firstName", "lastName", "email")  # R-ROOM-9


# ---------------------------------------------------------------- registration (R-ROOM-9)


def registration_form(ev: Event) -> dict[str, Any]:
    reg = ev.registration or {}
    return {
        "enabled": bool(reg.get("enabled")),
        "fields": [
            {"name": f, "label": f, "type": "email" if f == "email" else "text", "required": True}
            for f in DEFAULT_FIELDS
        ]
        + list(reg.get("fields") or []),
        "redirectUrl": reg.get("redirectUrl") or None,
    }


async def register(s: AsyncSession, room_id: str, data: dict[str, Any]) -> tuple[Registration, Event]:
    ev = await s.scalar(select(Event).where(Event.room_id == room_id))
    if ev is None:
        raise not_found("event")
    form = registration_form(ev)
    if not form["enabled"]:
        raise ControlError("registration_closed", "this event has no registration", 409)
    if ev.status == "done":
        raise ControlError("ended", "this event is over", 410)
    names: list[str] = []
    for key in ("firstName", "lastName"):
        value = data.get(key)
        if not isinstance(value, str) or not value.strip() or len(value) > 120:
            raise ControlError("bad_request", f"'{key}' is required (1 to 120 characters)")
        names.append(value.strip())
    first, last = names
    email = check_email(data.get("email"))
    given = data.get("fields") or {}
    answers: dict[str, Any] = {}
    for f in form["fields"][len(DEFAULT_FIELDS) :]:
        value = given.get(f["name"])
        if f.get("required") and (value is None or value == "" or value is False):
            raise ControlError("bad_request", f"the field {f['label']!r} is required")
        if value is not None:
            if f.get("type") == "select" and value not in (f.get("options") or []):
                raise ControlError("bad_request", f"the field {f['label']!r} must be one of its options")
            answers[f["name"]] = value
    unknown = set(given) - {f["name"] for f in form["fields"]}
    if unknown:
        raise ControlError("bad_request", f"unknown registration field(s): {', '.join(sorted(unknown))}")
    row = Registration(event_id=ev.id, email=email, first_name=first, last_name=last, fields=answers)
    s.add(row)
    try:
        async with s.begin_nested():
            await s.flush()
    except IntegrityError:
        raise ControlError(
            "already_registered", "this e-mail address is already registered for this event", 409
        ) from None
    await _registrations_group(s, ev, row)
    await webhooks.emit(
        s,
        ev.account_id,
        "participant.registered",
        {
            "event": public_ref(ev),
            "registration": {
                "id": row.id,
                "email": email,
                "firstName": row.first_name,
                "lastName": row.last_name,
                "fields": answers,
            },
        },
    )
    return row, ev


async def _registrations_group(s: AsyncSession, ev: Event, reg: Registration) -> None:
    """R-ACC-6: registrations fill a contact group of the address book."""
    await add_to_event_group(
        s, ev, "registrations", "Registrations", reg.email, f"{reg.first_name} {reg.last_name}"
    )


# ---------------------------------------------------------------- joining (R-ROOM-6, -7, -9)


def key_given(body: dict[str, Any]) -> bool:
    """Whether the join names its role with a host key or a personal token (then no password is asked), as
    :func:`join` reads the body."""
    return body.get("hostKey") is not None or (body.get("token") or body.get("presenterKey")) is not None


def wrong_password() -> ControlError:
    return ControlError(
        "password_required",
        "this event is password-protected: the password is wrong or missing (R-ROOM-6)",
        403,
    )


async def join(
    s: AsyncSession,
    ev: Event,
    body: dict[str, Any],
    rooms: RoomManager,
    secret: str,
    watch_ttl: int = 3600,
    checked_password: str | None = None,
    client: Profile | None = None,
) -> dict[str, Any]:
    """The event's access rules, then the usual signed join token for its room (``client``: what the
    request told of the client, kept with the attendance for the statistics, R-STAT-1); an on-demand event
    answers with a signed watch URL of its video instead (R-ROOM-4, R-AUTO-2; see
    mediaserver.events.ondemand). A password was checked before the transaction
    (mediaserver.events.entry.before_join: a hash never runs inside one, issue 14 finding 3):
    ``checked_password`` is the event's password hash it matched."""
    if ev.status == "done":
        raise ControlError("ended", "this event is over", 410)
    automation.refuse_failed(ev)
    role, inv = "attendee", None
    host_key = body.get("hostKey")
    token = body.get("token") or body.get("presenterKey")
    if host_key is not None:
        if not isinstance(host_key, str) or not secrets.compare_digest(
            host_key.encode(), ev.host_key.encode()
        ):
            raise forbidden("this hostKey does not open this room")
        role = "host"
    elif token is not None:
        inv = await s.scalar(
            select(Invitation).where(
                Invitation.event_id == ev.id, Invitation.token_hash == digest(str(token))
            )
        )
        if inv is None:
            raise ControlError(
                "bad_token",
                "this token does not open this event; use the link or token from your own invitation",
                403,
            )
        role = inv.role
    name, email = check_person(
        body.get("name") or (inv.name if inv else None) or (inv.email.split("@")[0] if inv else None),
        body.get("email") or (inv.email if inv else None),
    )
    if inv is not None and email.lower() != inv.email:
        raise ControlError(
            "bad_token",
            "this token belongs to another invitee: each token works only for the "
            "person it was sent to (R-ROOM-6)",
            403,
        )
    if role == "attendee":
        if ev.access == "password":
            # the hash it was checked against is still the event's (not changed in the meantime)
            if checked_password is None or checked_password != ev.password_hash:
                raise wrong_password()
        elif ev.access in ("token", "paid") and inv is None:
            what = (
                "a ticket (order one: POST /api/v1/public/events/{roomId}/tickets, R-BILL-10)"
                if ev.access == "paid"
                else "a personal token"
            )
            raise ControlError(
                "token_required",
                f"this event needs {what}: use the link from your invitation (R-ROOM-6)",
                403,
            )
        if registration_form(ev)["enabled"] and inv is None:
            reg = await s.scalar(
                select(Registration.id).where(
                    Registration.event_id == ev.id, Registration.email == email.lower()
                )
            )
            if reg is None:
                raise ControlError("registration_required", "register for this event first (R-ROOM-9)", 403)
    if ev.kind == "on_demand":  # the same access rules, then a watch URL instead of a room (R-AUTO-2)
        return await ondemand.playback(s, ev, role, inv, name, email, secret, watch_ttl, client)
    account = await s.get(Account, ev.account_id)
    assert account is not None
    parent = await s.get(Account, account.parent_id) if account.parent_id else None
    room = room_for(rooms, ev, subscription.account_limits(account, parent), ev.status)
    entry_status(room.settings, role, 0)
    # issue 14 finding 13: whom the host removed gets no new token, by e-mail nor by invitation
    room.check_not_removed(frozenset({email.lower(), *([f"inv{inv.id}"] if inv else [])}), role)
    session_id = await s.scalar(
        select(EventSession.id).where(EventSession.event_id == ev.id, EventSession.ended_at.is_(None))
    )
    row = attendance.new_row(ev, session_id, name, email, role, client)
    s.add(row)
    await s.flush()
    who = f"inv{inv.id}" if inv else f"{email}#{secrets.token_hex(4)}"
    await webhooks.emit(
        s,
        ev.account_id,
        "participant.joined",
        {"event": public_ref(ev), "participant": {"name": name, "email": email, "role": role}},
    )
    return {
        "token": tokens.issue(
            secret, ev.room_id, role, name, who, 6 * 3600, email=email, adhoc=False, attendance=row.id
        ),
        "role": role,
        "room": room.settings.public(),
        "thankYouUrl": ev.thank_you_url or None,
        # R-STAT-1: the thank-you screen's rating form (the host does not rate their own event)
        "ratingToken": ratings.token_for(secret, ev.id, email) if role != "host" else None,
    }


# ---------------------------------------------------------------- embedding (R-ROOM-12)


def embed_snippet(base_url: str, ev: Event) -> str:
    """R-ROOM-12: an iframe with the room page; the browser's camera and microphone are allowed to it."""
    src = html.escape(f"{base_url}/room/{ev.room_id}?embed=1", quote=True)
    title = html.escape(ev.name, quote=True)
    return (
        f'<iframe src="{src}" title="{title}" width="100%" height="640" style="border:0" '
        'allow="camera; microphone; display-capture; autoplay; fullscreen" allowfullscreen></iframe>'
    )
