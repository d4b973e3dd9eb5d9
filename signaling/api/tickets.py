"""/api/v1 operations of paid webinars (R-BILL-10, R-BILL-11, R-BILL-6, R-ACC-1, R-ACC-4): linking the
payment provider, ordering tickets, the organiser's list of payers with hand confirmation, rejection and
re-sending, and the providers' signed callbacks. The rules live in mediaserver/billing/payments.py (orders,
tickets) and providers.py."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast

from pydantic import Field

from mediaserver.billing import payments, providers
from signaling.api.accounts import Email, Lang, Url
from signaling.api.events import _public
from signaling.api.framework import API, Ctx, Model, Out, Page, Text, page
from signaling.errors import SignalError

if TYPE_CHECKING:
    from mediaserver.store.models import Payment, PaymentProvider

Status = Literal["pending", "paid", "failed", "refused", "cancelled"]
STATUS_QUERY = (
    {
        "name": "status",
        "in": "query",
        "required": False,
        "description": "only orders in this status",
        "schema": {"type": "string", "enum": list(payments.STATUSES)},
    },
)
REFUNDS = (
    "Refunds are not automatic (R-BILL-10, R-BILL-6): rejecting a paid order or cancelling the event "
    "sends the payer a notice that says to ask the organiser; any refund is made by the organiser through "
    "their own payment provider."
)


def _status(ctx: Ctx) -> str | None:
    value = ctx.request.query.get("status")
    if value is not None and value not in payments.STATUSES:
        raise SignalError("bad_request", f"'status' must be one of {', '.join(payments.STATUSES)}")
    return value


# ---------------------------------------------------------------- the provider (R-BILL-10)


class ProviderIn(Model):
    kind: Literal["manual", "gateway"] = Field(
        description="manual: bank transfer or cash, confirmed by hand; "
        "gateway: a hosted checkout that reports results with signed "
        "callbacks (the seam for PayPal or Stripe)"
    )
    instructions: Annotated[Text, Field(max_length=2000)] = Field(
        "", description="manual: how payers pay (bank account, IBAN, cash desk); e-mailed with each order"
    )
    checkout_url: Url | None = Field(
        None,
        description="gateway: the payment page; {reference}, {amount}, "
        "{currency} and {callback} are filled in per order",
    )
    secret: Annotated[Text, Field(min_length=16, max_length=128)] | None = Field(
        None,
        description="gateway: the HMAC-SHA256 key the provider signs callbacks with; none: one is made and "
        "shown once",
    )


class ProviderOut(Out):
    id: int
    kind: str
    config: dict[str, Any]
    signed_callbacks: bool
    callback_url: str | None = Field(description="where the provider POSTs signed payment results")
    created_at: dt.datetime
    updated_at: dt.datetime


class LinkedProvider(ProviderOut):
    secret: str | None = Field(None, description="shown once, when made here: the callbacks' HMAC-SHA256 key")


_P = TypeVar("_P", bound=ProviderOut)


def _provider(ctx: Ctx, row: PaymentProvider, cls: type[_P], **extra: Any) -> _P:
    signed = providers.PROVIDERS[row.kind].callbacks
    return cls(
        id=row.id,
        kind=row.kind,
        config=row.config or {},
        signed_callbacks=signed,
        callback_url=providers.callback_url(ctx.settings.public_url, row) if signed else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
        **extra,
    )


@API(
    "GET",
    "/api/v1/payment-provider",
    "the account's linked payment provider (R-BILL-10)",
    "payments",
    response=ProviderOut,
    errors=(403,),
)
async def get_payment_provider(ctx: Ctx) -> ProviderOut:
    return _provider(ctx, await providers.get_provider(ctx.s, ctx.user), ProviderOut)


@API(
    "PUT",
    "/api/v1/payment-provider",
    "link (or re-link) the payment provider paid events sell tickets through "
    "(R-BILL-10); the account's owner only, not on the free trial (R-ACC-1, R-ACC-5)",
    "payments",
    body=ProviderIn,
    response=LinkedProvider,
    errors=(402, 403),
)
async def link_payment_provider(ctx: Ctx) -> LinkedProvider:
    b: ProviderIn = ctx.body
    config = {"instructions": b.instructions, "checkoutUrl": b.checkout_url}
    row, made = await providers.link(ctx.s, ctx.user, b.kind, config, b.secret)
    return _provider(ctx, row, LinkedProvider, secret=made)


@API(
    "DELETE",
    "/api/v1/payment-provider",
    "unlink the payment provider (refused while paid events are planned or live)",
    "payments",
    status=204,
    errors=(403, 409),
)
async def unlink_payment_provider(ctx: Ctx) -> None:
    await providers.unlink(ctx.s, ctx.user)


# ---------------------------------------------------------------- orders


class PaymentOut(Out):
    id: int
    event_id: int | None
    event_name: str
    name: str
    email: str
    amount: str
    currency: str
    status: Status
    reference: str = Field(description="ours: payers quote it with a transfer")
    payer_reference: str = Field(description="what the payer declared (manual provider)")
    provider: str
    provider_payment_id: str | None
    decided_by: str | None
    reason: str
    ticket_sent_count: int
    last_sent_at: dt.datetime | None
    created_at: dt.datetime
    decided_at: dt.datetime | None
    event_cancelled_at: dt.datetime | None


class PaymentPage(Page[PaymentOut]):
    pass


def _pay(pay: Payment) -> PaymentOut:
    return PaymentOut(
        id=pay.id,
        event_id=pay.event_id,
        event_name=pay.event_name,
        name=pay.name,
        email=pay.email,
        amount=pay.amount,
        currency=pay.currency,
        status=pay.status,  # type: ignore[arg-type]  # the column holds one of payments.STATUSES
        reference=pay.reference,
        payer_reference=pay.payer_reference,
        provider=pay.provider_kind,
        provider_payment_id=pay.provider_payment_id,
        decided_by=pay.decided_by or None,
        reason=pay.reason,
        ticket_sent_count=pay.sent_count,
        last_sent_at=pay.last_sent_at,
        created_at=pay.created_at,
        decided_at=pay.decided_at,
        event_cancelled_at=pay.event_cancelled_at,
    )


@API(
    "GET",
    "/api/v1/events/{id}/payments",
    "each payer of a paid event and their payment status (R-BILL-10)",
    "payments",
    response=PaymentPage,
    paginated=True,
    query=STATUS_QUERY,
)
async def list_event_payments(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    _, rows, total = await payments.for_event(ctx.s, ctx.user, ctx.id(), _status(ctx), offset, limit)
    return page([_pay(r) for r in rows], total, offset, limit)


@API(
    "GET",
    "/api/v1/payments",
    "every ticket order of the account, newest first, also of deleted (cancelled) "
    "events, for refunds by hand",
    "payments",
    response=PaymentPage,
    paginated=True,
    query=STATUS_QUERY,
    description=REFUNDS,
)
async def list_payments(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total = await payments.for_account(ctx.s, ctx.user, _status(ctx), offset, limit)
    return page([_pay(r) for r in rows], total, offset, limit)


@API(
    "POST",
    "/api/v1/events/{id}/payments/{paymentId}/confirm",
    "confirm a payment by hand: the payer gets the "
    "ticket e-mail (join button and token); webhook payment.succeeded (R-BILL-10)",
    "payments",
    response=PaymentOut,
    errors=(403, 409),
)
async def confirm_payment(ctx: Ctx) -> PaymentOut:
    return _pay(
        await payments.confirm(ctx.s, ctx.user, ctx.id(), ctx.id("paymentId"), ctx.settings.public_url)
    )


class RejectIn(Model):
    reason: Annotated[Text, Field(max_length=500)] = Field("", description="told to the payer")


@API(
    "POST",
    "/api/v1/events/{id}/payments/{paymentId}/reject",
    "reject a payer by hand (also a paid one, whose "
    "ticket stops working): the payer gets a notice; webhook payment.refused (R-BILL-10)",
    "payments",
    body=RejectIn,
    response=PaymentOut,
    errors=(403, 409),
    description=REFUNDS,
)
async def reject_payment(ctx: Ctx) -> PaymentOut:
    return _pay(await payments.reject(ctx.s, ctx.user, ctx.id(), ctx.id("paymentId"), ctx.body.reason))


@API(
    "POST",
    "/api/v1/events/{id}/payments/{paymentId}/resend",
    "re-send a lost ticket e-mail (R-BILL-10)",
    "payments",
    response=PaymentOut,
    errors=(403, 409),
)
async def resend_ticket(ctx: Ctx) -> PaymentOut:
    return _pay(
        await payments.resend(ctx.s, ctx.user, ctx.id(), ctx.id("paymentId"), ctx.settings.public_url)
    )


# ---------------------------------------------------------------- public: the payer


class TicketIn(Model):
    name: Annotated[Text, Field(min_length=1, max_length=120)]
    email: Email
    reference: Annotated[Text, Field(max_length=200)] = Field(
        "",
        description="the payer's own reference of their transfer (manual provider), shown to the organiser",
    )
    language: Lang | None = Field(None, description="of the e-mails; default: the event's")


class OrderStatus(Out):
    id: int
    status: Status
    event_name: str
    amount: str
    currency: str
    reference: str = Field(description="quote it with your payment")
    reason: str
    created_at: dt.datetime
    decided_at: dt.datetime | None


class Order(OrderStatus):
    key: str = Field(
        description="the payer's own key to look the order up: GET /api/v1/public/tickets/{id}?key="
    )
    instructions: str = Field(description="how to pay (manual provider)")
    pay_url: str | None = Field(description="where to pay (a provider with a checkout page)")


_O = TypeVar("_O", bound=OrderStatus)


def _status_of(pay: Payment, cls: type[_O], **extra: Any) -> _O:
    # the column holds only payments.STATUSES, the values of Status
    return cls(
        id=pay.id,
        status=cast(Status, pay.status),
        event_name=pay.event_name,
        amount=pay.amount,
        currency=pay.currency,
        reference=pay.reference,
        reason=pay.reason,
        created_at=pay.created_at,
        decided_at=pay.decided_at,
        **extra,
    )


@API(
    "POST",
    "/api/v1/public/events/{roomId}/tickets",
    "order a ticket to a paid event at its price: a pending "
    "payment, paid as the answer says; the ticket comes by e-mail once the payment is confirmed (R-BILL-10)",
    "public",
    body=TicketIn,
    response=Order,
    status=201,
    auth=False,
    errors=(409, 410),
)
async def buy_ticket(ctx: Ctx) -> Order:
    ev = await _public(ctx)
    b: TicketIn = ctx.body
    pay, key, checkout = await payments.buy(
        ctx.s, ev, b.name, b.email, b.reference, b.language, ctx.settings.public_url
    )
    return _status_of(pay, Order, key=key, instructions=checkout.instructions, pay_url=checkout.pay_url)


KEY_QUERY = (
    {
        "name": "key",
        "in": "query",
        "required": True,
        "description": "the key from the order",
        "schema": {"type": "string", "minLength": 1, "maxLength": 100},
    },
)


@API(
    "GET",
    "/api/v1/public/tickets/{id}",
    "the payer's own order and its status (the key from the order opens it, nothing else)",
    "public",
    response=OrderStatus,
    auth=False,
    query=KEY_QUERY,
)
async def own_ticket(ctx: Ctx) -> OrderStatus:
    key = ctx.request.query.get("key", "")
    if not 1 <= len(key) <= 100 or not key.isascii():
        raise SignalError("bad_request", "'key' (from the order) is required")
    return _status_of(await payments.own_order(ctx.s, ctx.id(), key), OrderStatus)


class CallbackOut(Out):
    payment_id: int
    status: Status
    applied: bool = Field(description="false for a replay, or for an order settled otherwise")
    replayed: bool


CALLBACK_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["paymentId", "reference", "status"],
                "properties": {
                    "paymentId": {
                        "type": "string",
                        "maxLength": 200,
                        "description": "the provider's payment id",
                    },
                    "reference": {"type": "string", "maxLength": 32, "description": "the order's reference"},
                    "status": {"type": "string", "enum": ["succeeded", "failed"]},
                    "amount": {"type": "string", "maxLength": 16},
                    "currency": {"type": "string", "maxLength": 3},
                    "reason": {"type": "string", "maxLength": 500},
                },
            }
        }
    },
}


@API(
    "POST",
    "/api/v1/public/payment-callbacks/{id}",
    "a payment provider reports a payment's result; the body is "
    "signed: X-Payment-Signature: sha256=<hex HMAC-SHA256 of the raw body with the provider's secret>. "
    "Replays "
    "(same paymentId and status) do nothing twice",
    "payments",
    response=CallbackOut,
    auth=False,
    errors=(401, 409),
    request_body=CALLBACK_BODY,
    any_content_type=True,  # issue 14 finding 15: signed server-to-server, no cookie; any label
    query=(
        {
            "name": "X-Payment-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "maxLength": 200},
        },
    ),
)
async def payment_callback(ctx: Ctx) -> CallbackOut:
    body = await ctx.request.read()
    return CallbackOut(
        **await payments.callback(ctx.s, ctx.id(), ctx.request.headers, body, ctx.settings.public_url)
    )
