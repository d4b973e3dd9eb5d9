"""Paid webinars (R-BILL-10): the organiser links a payment provider, attendees order tickets, each order is
settled by hand (the organiser confirms or rejects it) or by the provider's signed callback, and a settled
order becomes an invitation with a personal token (the ticket) sent by e-mail with a join button.

The providers (how a payer pays, how a provider's callback is checked) are in
mediaserver.billing.providers.

Money. Prices come from the event (R-BILL-11 limits are checked when the price is set). Refunds are NOT made
by this server (R-BILL-10: "refunds are not automatic"; R-BILL-6: the platform refunds nothing, and the
provider's fees are the organiser's). The Russian original adds that the organiser may refund the payers
through their own PayPal account, so the notices sent on a rejection or a cancelled event tell payers to ask
the organiser.

Every change here runs in the caller's transaction; e-mails and webhooks (payment.succeeded, payment.failed,
payment.refused) go to the outbox tables and leave only if it commits. A status moves with a compare-and-set
UPDATE, so a hand confirmation racing a provider callback (or two clicks) settles an order once.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver import localtime
from mediaserver.accounts import identity
from mediaserver.accounts.identity import Principal
from mediaserver.billing import subscription
from mediaserver.billing.providers import Checkout, ProviderResult, callback_url, provider_for, provider_of
from mediaserver.errors import ControlError, not_found
from mediaserver.events import invitations, lifecycle
from mediaserver.outbox import mail, webhooks
from mediaserver.store.db import paged, utcnow
from mediaserver.store.models import (
    Account,
    Event,
    Invitation,
    Payment,
    PaymentCallback,
    PaymentProvider,
    User,
)

STATUSES = ("pending", "paid", "failed", "refused", "cancelled")
OPEN = ("pending", "paid")  # at most one open order per event and address
REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over a phone or a bank form


# ---------------------------------------------------------------- the attendee's side


def _reference() -> str:
    return "T" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(9))


def _when(ev: Event) -> str:
    if ev.starts_at is None:
        return ev.kind.replace("_", " ")
    return localtime.wall_clock(ev.starts_at, ev.timezone)


async def _limits_of(s: AsyncSession, ev: Event) -> Any:
    account = await s.get(Account, ev.account_id)
    assert account is not None
    parent = await s.get(Account, account.parent_id) if account.parent_id else None
    return subscription.account_limits(account, parent)


async def buy(
    s: AsyncSession,
    ev: Event,
    name: str,
    email: str,
    payer_reference: str,
    language: str | None,
    base_url: str,
    now: dt.datetime | None = None,
) -> tuple[Payment, str, Checkout]:
    """Order a ticket: a pending payment at the event's price; the payer gets the payment instructions by
    e-mail, and the answer carries their own key to look the order up (attendees see only their own)."""
    now = now or utcnow()
    if ev.access != "paid":
        raise ControlError(
            "not_paid", "this event sells no tickets: it is joined by its own access rules", 409
        )
    if ev.status == "done":
        raise ControlError("ended", "this event is over", 410)
    if not ev.ticket_price or not ev.ticket_currency:
        raise ControlError("tickets_unavailable", "this event has no ticket price", 409)
    row = await provider_of(s, ev.account_id)
    if row is None:
        raise ControlError(
            "tickets_unavailable",
            "tickets are not on sale: the organiser has not linked a payment provider (R-BILL-10)",
            409,
        )
    if not name.strip():
        raise ControlError("bad_request", "'name' is required")
    email = identity.check_email(email)
    held = await s.scalar(
        select(Payment.status).where(
            Payment.event_id == ev.id, Payment.email == email, Payment.status.in_(OPEN)
        )
    )
    if held is not None:
        raise _already(held)
    sold = int(
        await s.scalar(
            select(func.count())
            .select_from(Payment)
            .where(Payment.event_id == ev.id, Payment.status == "paid")
        )
        or 0
    )
    if sold >= lifecycle.capacity(ev, await _limits_of(s, ev)):
        raise ControlError("sold_out", "this event is sold out: every seat of its room has a ticket", 409)
    key = secrets.token_urlsafe(24)
    pay = Payment(
        account_id=ev.account_id,
        event_id=ev.id,
        owner_id=ev.owner_id,
        event_name=ev.name,
        provider_id=row.id,
        provider_kind=row.kind,
        email=email,
        name=name.strip(),
        language=mail.lang(language or ev.language),
        amount=ev.ticket_price,
        currency=ev.ticket_currency,
        reference=_reference(),
        payer_reference=payer_reference.strip(),
        key_hash=identity.digest(key),
        status="pending",
        created_at=now,
    )
    try:
        async with s.begin_nested():  # (begin_nested flushes what is pending: add inside it)
            s.add(pay)
            await s.flush()
    except IntegrityError:  # the same address ordering twice at the same moment
        raise _already("pending") from None
    checkout = provider_for(row).checkout(pay, callback_url(base_url, row))
    await mail.queue(
        s,
        ev.account_id,
        "payment_pending",
        email,
        pay.language,
        {
            "name": pay.name,
            "event": ev.name,
            "amount": pay.amount,
            "currency": pay.currency,
            "instructions": checkout.instructions,
            "reference": pay.reference,
            "pay_url": checkout.pay_url or "",
        },
    )
    return pay, key, checkout


def _already(status: str) -> ControlError:
    if status == "paid":
        return ControlError(
            "already_ordered",
            "this e-mail address already has a ticket for this event: if the "
            "e-mail was lost, the organiser can re-send it (R-BILL-10)",
            409,
        )
    return ControlError(
        "already_ordered",
        "an order for this e-mail address is waiting for its payment: see the "
        "e-mail with the payment instructions",
        409,
    )


async def own_order(s: AsyncSession, payment_id: int, key: str) -> Payment:
    """The payer's view of their own order: the key from the order, nothing else, opens it."""
    pay = await s.get(Payment, payment_id)
    if pay is None or not hmac.compare_digest(pay.key_hash, identity.digest(key)):
        raise not_found("ticket order (or the key is not its own)")
    return pay


# ---------------------------------------------------------------- the organiser's side (R-BILL-10)


async def for_event(
    s: AsyncSession, p: Principal, event_id: int, status: str | None, offset: int, limit: int
) -> tuple[Event, list[Payment], int]:
    """Each payer of an event and their payment status. The event's visibility rules apply (R-ACC-2: the main
    account's owner sees every event of the account, an additional user their own; R-ACC-3: a sub-account its
    own), so nobody else manages the event's payments."""
    ev = await lifecycle.get_event(s, p, event_id)
    where = Payment.event_id == ev.id
    if status:
        where = where & (Payment.status == status)
    rows, total = await paged(s, Payment, where, Payment.id, offset=offset, limit=limit)
    return ev, rows, total


async def for_account(
    s: AsyncSession, p: Principal, status: str | None, offset: int, limit: int
) -> tuple[list[Payment], int]:
    """Every order of the account, newest first, also those of deleted events (refunds are by hand)."""
    where = Payment.account_id == p.account.id
    if p.role == "additional":
        where = where & (Payment.owner_id == p.user.id)
    if status:
        where = where & (Payment.status == status)
    return await paged(s, Payment, where, Payment.id.desc(), offset=offset, limit=limit)


async def _order(s: AsyncSession, p: Principal, event_id: int, payment_id: int) -> tuple[Event, Payment]:
    ev = await lifecycle.get_event(s, p, event_id, write=True)
    pay = await s.get(Payment, payment_id)
    if pay is None or pay.event_id != ev.id:
        raise not_found("payment of this event")
    return ev, pay


async def _move(s: AsyncSession, pay: Payment, allowed: tuple[str, ...], to: str, **values: Any) -> bool:
    """Compare-and-set of the status: False when another request settled the order first."""
    # an UPDATE returns a CursorResult (it has rowcount); AsyncSession.execute is typed as returning a plain
    # Result
    res = cast(
        CursorResult[Any],
        await s.execute(
            update(Payment)
            .where(Payment.id == pay.id, Payment.status.in_(allowed))
            .values(status=to, **values)
            .execution_options(synchronize_session=False)
        ),
    )
    await s.refresh(pay)
    return res.rowcount == 1


async def confirm(
    s: AsyncSession,
    p: Principal,
    event_id: int,
    payment_id: int,
    base_url: str,
    now: dt.datetime | None = None,
) -> Payment:
    """Hand confirmation (R-BILL-10): the ticket goes out and payment.succeeded is sent."""
    now = now or utcnow()
    ev, pay = await _order(s, p, event_id, payment_id)
    if ev.status == "done":
        raise ControlError("conflict", "this event is over", 409)
    if not await _move(
        s, pay, ("pending", "failed"), "paid", decided_by="organiser", decided_at=now, reason=""
    ):
        raise ControlError(
            "conflict",
            f"this payment is {pay.status}: only a pending or failed one can be "
            "confirmed" + (" (re-send the ticket instead)" if pay.status == "paid" else ""),
            409,
        )
    await _issue_ticket(s, ev, pay, base_url, now)
    await webhooks.emit(
        s, ev.account_id, "payment.succeeded", {"event": webhooks.public_ref(ev), "payment": ref(pay)}
    )
    return pay


async def reject(
    s: AsyncSession, p: Principal, event_id: int, payment_id: int, reason: str, now: dt.datetime | None = None
) -> Payment:
    """Hand rejection (R-BILL-10): also of a paid order, whose ticket stops working. The payer gets a notice
    saying that refunds are not automatic; payment.refused is sent."""
    now = now or utcnow()
    ev, pay = await _order(s, p, event_id, payment_id)
    was = pay.status
    if not await _move(
        s,
        pay,
        ("pending", "failed", "paid"),
        "refused",
        decided_by="organiser",
        decided_at=now,
        reason=reason.strip(),
    ):
        raise ControlError("conflict", f"this payment is {pay.status}: it can no longer be rejected", 409)
    if pay.invitation_id is not None:
        inv = await s.get(Invitation, pay.invitation_id)
        if inv is not None and inv.role == "attendee":
            await s.delete(inv)  # the ticket's token no longer opens the event
        pay.invitation_id = None
    owner = await s.get(User, ev.owner_id)
    await mail.queue(
        s,
        ev.account_id,
        "payment_refused",
        pay.email,
        pay.language,
        {
            **_money(pay),
            "event": ev.name,
            "reason": pay.reason,
            "organiser": owner.name if owner else "",
            "organiser_email": owner.email if owner else "",
        },
    )
    await webhooks.emit(
        s,
        ev.account_id,
        "payment.refused",
        {"event": webhooks.public_ref(ev), "payment": ref(pay), "previousStatus": was},
    )
    return pay


async def resend(
    s: AsyncSession,
    p: Principal,
    event_id: int,
    payment_id: int,
    base_url: str,
    now: dt.datetime | None = None,
) -> Payment:
    """R-BILL-10: a lost ticket e-mail is sent again (the same token)."""
    now = now or utcnow()
    ev, pay = await _order(s, p, event_id, payment_id)
    if ev.status == "done":
        raise ControlError("conflict", "this event is over", 409)
    if pay.status != "paid":
        raise ControlError(
            "conflict", f"this payment is {pay.status}: only a paid order has a ticket to re-send", 409
        )
    await _issue_ticket(s, ev, pay, base_url, now)
    return pay


async def _issue_ticket(s: AsyncSession, ev: Event, pay: Payment, base_url: str, now: dt.datetime) -> None:
    """The ticket is an invitation with a personal token (joining a paid event needs one, R-ROOM-6); an
    invitation the organiser already sent to the address is reused."""
    inv = await s.get(Invitation, pay.invitation_id) if pay.invitation_id else None
    if inv is None:
        inv = await s.scalar(
            select(Invitation).where(Invitation.event_id == ev.id, Invitation.email == pay.email)
        )
    if inv is None:
        inv = Invitation(
            event_id=ev.id,
            email=pay.email,
            name=pay.name,
            role="attendee",
            token=secrets.token_urlsafe(18),
            created_at=now,
        )
        try:
            async with s.begin_nested():
                s.add(inv)
                await s.flush()
        except IntegrityError:  # invited by the organiser at the same moment
            inv = await s.scalar(
                select(Invitation).where(Invitation.event_id == ev.id, Invitation.email == pay.email)
            )
            assert inv is not None
    pay.invitation_id = inv.id
    account = await s.get(Account, ev.account_id)
    await mail.queue(
        s,
        ev.account_id,
        "ticket",
        pay.email,
        pay.language,
        {
            **_money(pay),
            "event": ev.name,
            "when": _when(ev),
            "link": invitations.join_link(base_url, ev, inv),
            "token": inv.token,
            "signature": account.signature if account else "",
        },
    )
    pay.sent_count += 1
    pay.last_sent_at = now
    # the ticket counts as a sent invitation: a later settings change reminds the organiser to re-send
    # (R-ROOM-10)
    inv.sent_count += 1
    inv.sent_version = ev.settings_version
    inv.last_sent_at = now


# ---------------------------------------------------------------- provider callbacks


async def callback(
    s: AsyncSession,
    provider_id: int,
    headers: Mapping[str, str],
    body: bytes,
    base_url: str,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """A provider's signed word about a payment. Bad signature: 401 (nothing is read). Replayed (the same
    provider payment id and outcome): the current state, nothing done twice. Success settles a pending or
    failed order (ticket, payment.succeeded); failure marks a pending or failed one failed (notice,
    payment.failed). A result for an order settled otherwise (refused, cancelled, already paid) is logged
    and not applied: a second payment is the organiser's to refund by hand (R-BILL-10)."""
    now = now or utcnow()
    row = await s.get(PaymentProvider, provider_id)
    if row is None:
        raise not_found("payment provider")
    result = provider_for(row).callback(headers, body)
    pay = await s.scalar(
        select(Payment).where(Payment.reference == result.reference, Payment.account_id == row.account_id)
    )
    if pay is None:
        raise not_found("order with this reference")
    if result.outcome == "succeeded" and not _same_money(pay, result):
        raise ControlError(
            "amount_mismatch",
            f"the order {pay.reference} costs {pay.amount} {pay.currency}; the "
            f"callback says {result.amount} {result.currency}",
            409,
        )
    entry = PaymentCallback(
        provider_id=row.id,
        provider_payment_id=result.provider_payment_id,
        outcome=result.outcome,
        payment_id=pay.id,
        received_at=now,
    )
    try:
        async with s.begin_nested():
            s.add(entry)
            await s.flush()
    except IntegrityError:
        await s.refresh(pay)
        return {"payment_id": pay.id, "status": pay.status, "applied": False, "replayed": True}
    ev = await s.get(Event, pay.event_id) if pay.event_id else None
    applied = False
    if result.outcome == "succeeded":
        if ev is not None and await _move(
            s,
            pay,
            ("pending", "failed"),
            "paid",
            decided_by="provider",
            decided_at=now,
            provider_payment_id=result.provider_payment_id,
            reason="",
        ):
            await _issue_ticket(s, ev, pay, base_url, now)
            await webhooks.emit(
                s,
                ev.account_id,
                "payment.succeeded",
                {"event": webhooks.public_ref(ev), "payment": ref(pay)},
            )
            applied = True
    elif ev is not None and await _move(
        s,
        pay,
        ("pending", "failed"),
        "failed",
        decided_by="provider",
        decided_at=now,
        provider_payment_id=result.provider_payment_id,
        reason=result.reason,
    ):
        await mail.queue(
            s,
            ev.account_id,
            "payment_failed",
            pay.email,
            pay.language,
            {**_money(pay), "event": ev.name, "reason": pay.reason, "link": f"{base_url}/room/{ev.room_id}"},
        )
        await webhooks.emit(
            s, ev.account_id, "payment.failed", {"event": webhooks.public_ref(ev), "payment": ref(pay)}
        )
        applied = True
    entry.applied = applied
    if not applied:
        entry.note = f"not applied: the order is {pay.status}"
    return {"payment_id": pay.id, "status": pay.status, "applied": applied, "replayed": False}


def _same_money(pay: Payment, result: ProviderResult) -> bool:
    try:
        if result.amount is not None and Decimal(result.amount) != Decimal(pay.amount):
            return False
    except (InvalidOperation, ValueError):
        return False
    return result.currency is None or result.currency.upper() == pay.currency


# ---------------------------------------------------------------- a cancelled event


async def event_cancelled(s: AsyncSession, ev: Event, now: dt.datetime | None = None) -> int:
    """R-BILL-10: cancelling a paid event sends every payer a notice. Paid orders stay paid (refunds are not
    automatic, R-BILL-6: the notice says to ask the organiser); pending ones are cancelled ("do not pay").
    Returns how many were told. The life cycle calls it as its ``Payers`` hook (mediaserver.events.lifecycle),
    wired by mediaserver.app."""
    now = now or utcnow()
    rows = list(await s.scalars(select(Payment).where(Payment.event_id == ev.id, Payment.status.in_(OPEN))))
    if not rows:
        return 0
    owner = await s.get(User, ev.owner_id)
    for pay in rows:
        kind = "event_cancelled" if pay.status == "paid" else "order_cancelled"
        if pay.status == "pending":
            pay.status, pay.decided_by, pay.decided_at = "cancelled", "event_cancelled", now
        pay.event_cancelled_at = now
        await mail.queue(
            s,
            ev.account_id,
            kind,
            pay.email,
            pay.language,
            {
                **_money(pay),
                "event": ev.name,
                "organiser": owner.name if owner else "",
                "organiser_email": owner.email if owner else "",
            },
        )
    await s.flush()
    return len(rows)


# ---------------------------------------------------------------- presentation


def _money(pay: Payment) -> dict[str, Any]:
    return {"name": pay.name, "amount": pay.amount, "currency": pay.currency, "reference": pay.reference}


def ref(pay: Payment) -> dict[str, Any]:
    """The payment as webhooks carry it."""
    return {
        "id": pay.id,
        "reference": pay.reference,
        "email": pay.email,
        "name": pay.name,
        "amount": pay.amount,
        "currency": pay.currency,
        "status": pay.status,
        "provider": pay.provider_kind,
        "providerPaymentId": pay.provider_payment_id,
        "decidedBy": pay.decided_by or None,
        "reason": pay.reason or None,
    }
