"""Payment providers of paid webinars (R-BILL-10): the account links one, and it tells the payer how to pay an
order (checkout) and, if it reports results itself, turns its callback into a ProviderResult after checking it
came from the provider. The orders and tickets are mediaserver.billing.payments'.

The organiser's account links one provider (PUT /api/v1/payment-provider). Two ship:

- ``manual``: bank transfer or cash. The payer orders (and may declare their transfer's own reference), pays
  outside this server quoting our payment reference, and the organiser confirms or rejects each order by hand,
  as R-BILL-10 has it. Works with no network at all.
- ``gateway``: any hosted checkout that reports each payment's result by POSTing to this server's callback
  URL, the body signed with HMAC-SHA256 under the secret shared when linking (SignedCallbackProvider). This is
  the seam for PayPal (the original's provider) or Stripe: subclass SignedCallbackProvider (or Provider, when
  the provider's callbacks are verified another way), create the order with the provider's API in checkout()
  (a redirect URL), map the provider's notification body in parse(), and register the class in PROVIDERS.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.identity import Principal
from mediaserver.billing import subscription
from mediaserver.errors import ControlError, forbidden, not_found
from mediaserver.store.db import utcnow
from mediaserver.store.models import Event, Payment, PaymentProvider

SIGNATURE_HEADER = "X-Payment-Signature"


@dataclass(frozen=True)
class Checkout:
    """What the payer is told after ordering: how to pay."""

    instructions: str = ""
    pay_url: str | None = None


@dataclass(frozen=True)
class ProviderResult:
    """A provider's word about one payment attempt, after its signature was checked."""

    provider_payment_id: str
    reference: str  # our order's reference
    outcome: str  # succeeded | failed
    amount: str | None = None
    currency: str | None = None
    reason: str = ""


class Provider:
    """A payment provider as the paid-webinar flow sees it (see the module's docstring to add one)."""

    kind: ClassVar[str] = ""
    callbacks: ClassVar[bool] = False  # reports results itself (then it needs a shared secret)

    def __init__(self, row: PaymentProvider) -> None:
        self.row = row

    @classmethod
    def configure(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Check the organiser's settings of the provider; the stored config."""
        return {}

    def checkout(self, pay: Payment, callback_url: str) -> Checkout:
        raise NotImplementedError

    def callback(self, headers: Mapping[str, str], body: bytes) -> ProviderResult:
        raise ControlError(
            "no_callbacks",
            f"the {self.kind} payment provider sends no callbacks: its payments are "
            "confirmed or rejected by hand (R-BILL-10)",
            409,
        )


class ManualProvider(Provider):
    """Bank transfer or cash, confirmed by hand by the organiser (R-BILL-10)."""

    kind = "manual"

    @classmethod
    def configure(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        text = str(config.get("instructions") or "").strip()
        if not text:
            raise ControlError(
                "bad_request",
                "the manual provider needs 'instructions': how payers pay you (bank "
                "account, IBAN, cash desk ...); they are shown and e-mailed with each order",
            )
        return {"instructions": text[:2000]}

    def checkout(self, pay: Payment, callback_url: str) -> Checkout:
        return Checkout(instructions=str(self.row.config.get("instructions", "")))


class SignedCallbackProvider(Provider):
    """A provider that POSTs each payment's result to the callback URL with the header
    ``X-Payment-Signature: sha256=<hex HMAC-SHA256 of the raw body under the shared secret>``. The
    signature is checked (in constant time) before anything of the body is believed; a replay of the same
    provider payment id and outcome is answered without doing anything twice (the payment_callbacks log)."""

    callbacks = True

    def verify(self, headers: Mapping[str, str], body: bytes) -> bool:
        given = headers.get(SIGNATURE_HEADER, "").strip()
        if given.startswith("sha256="):
            given = given[len("sha256=") :]
        if not self.row.secret:
            return False
        want = hmac.new(self.row.secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(want.encode(), given.encode("utf-8", "replace"))

    def callback(self, headers: Mapping[str, str], body: bytes) -> ProviderResult:
        if not self.verify(headers, body):
            raise ControlError(
                "bad_signature",
                f"the {SIGNATURE_HEADER} header is missing or is not the "
                "HMAC-SHA256 of this body under the provider's secret",
                401,
            )
        return self.parse(body)

    def parse(self, body: bytes) -> ProviderResult:
        """The generic body: {"paymentId", "reference", "status": "succeeded"|"failed", "amount"?,
        "currency"?, "reason"?}. A PayPal or Stripe class maps its own notification here."""
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ControlError("bad_json", "the callback body must be a JSON object") from None
        if not isinstance(data, dict):
            raise ControlError("bad_json", "the callback body must be a JSON object")

        def text(key: str, required: bool, limit: int) -> str | None:
            value = data.get(key)
            if value is None and not required:
                return None
            if not isinstance(value, str) or not value.strip() or len(value) > limit or "\x00" in value:
                raise ControlError(
                    "bad_request", f"'{key}' must be a non-empty string of at most {limit} characters"
                )
            return value.strip()

        status = data.get("status")
        if status not in ("succeeded", "failed"):
            raise ControlError("bad_request", "'status' must be 'succeeded' or 'failed'")
        return ProviderResult(
            provider_payment_id=text("paymentId", True, 200) or "",
            reference=text("reference", True, 32) or "",
            outcome=status,
            amount=text("amount", False, 16),
            currency=text("currency", False, 3),
            reason=text("reason", False, 500) or "",
        )


class GatewayProvider(SignedCallbackProvider):
    """A hosted checkout page (config checkoutUrl, with {reference}, {amount}, {currency} and {callback}
    filled in) that reports results with signed callbacks."""

    kind = "gateway"

    @classmethod
    def configure(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        url = str(config.get("checkoutUrl") or "")
        if not url.startswith(("https://", "http://")):
            raise ControlError(
                "bad_request",
                "the gateway provider needs 'checkoutUrl': the payment page payers "
                "are sent to, e.g. https://pay.example.com/checkout?ref={reference}",
            )
        return {"checkoutUrl": url}

    def checkout(self, pay: Payment, callback_url: str) -> Checkout:
        url = str(self.row.config.get("checkoutUrl", ""))
        for key, value in (
            ("reference", pay.reference),
            ("amount", pay.amount),
            ("currency", pay.currency),
            ("callback", callback_url),
        ):
            url = url.replace("{" + key + "}", quote(value, safe=""))
        return Checkout(pay_url=url)


PROVIDERS: dict[str, type[Provider]] = {"manual": ManualProvider, "gateway": GatewayProvider}


def provider_for(row: PaymentProvider) -> Provider:
    return PROVIDERS[row.kind](row)


def callback_url(base_url: str, row: PaymentProvider) -> str:
    return f"{base_url}/api/v1/public/payment-callbacks/{row.id}"


# ---------------------------------------------------------------- linking a provider (R-BILL-10, R-ACC-5)


def _manager(p: Principal) -> None:
    """Linking a provider is an integration of the account: its owner's (a main account's or a sub-account's,
    R-ACC-3), not an additional user's (R-ACC-5, as for webhooks; R-ACC-4: money goes to the account)."""
    if p.role == "additional":
        raise forbidden(
            "the payment provider is an integration of the main account (R-ACC-4, R-ACC-5): ask the "
            "account's owner to link it"
        )


def _paid_webinars_allowed(p: Principal) -> None:
    subscription.require_active_plan(p)
    lim = subscription.account_limits(p.account, p.main if p.account.kind == "sub" else None)
    if not lim.paid_webinars:
        raise ControlError(
            "plan_required", "paid webinars are not available on the free trial (R-ACC-1)", 402
        )


async def provider_of(s: AsyncSession, account_id: int) -> PaymentProvider | None:
    return await s.scalar(select(PaymentProvider).where(PaymentProvider.account_id == account_id))


async def get_provider(s: AsyncSession, p: Principal) -> PaymentProvider:
    _manager(p)
    row = await provider_of(s, p.account.id)
    if row is None:
        raise not_found("payment provider: none is linked (PUT /api/v1/payment-provider)")
    return row


async def link(
    s: AsyncSession,
    p: Principal,
    kind: str,
    config: Mapping[str, Any],
    secret: str | None,
    now: dt.datetime | None = None,
) -> tuple[PaymentProvider, str | None]:
    """Link (or re-link) the account's provider; the answer's second part is a secret made here, shown
    once."""
    _manager(p)
    _paid_webinars_allowed(p)
    cls = PROVIDERS.get(kind)
    if cls is None:
        raise ControlError("bad_request", f"'kind' must be one of {', '.join(PROVIDERS)}")
    now = now or utcnow()
    cfg = cls.configure(config)
    row = await provider_of(s, p.account.id)
    made = None
    if not cls.callbacks:
        key = ""
    elif secret:
        key = secret
    elif row is not None and row.kind == kind and row.secret:
        key = row.secret  # re-configuring keeps the secret the provider already has
    else:
        key = made = secrets.token_hex(32)
    if row is None:
        row = PaymentProvider(
            account_id=p.account.id, kind=kind, secret=key, config=cfg, created_at=now, updated_at=now
        )
        s.add(row)
    else:
        row.kind, row.secret, row.config, row.updated_at = kind, key, cfg, now
    await s.flush()
    return row, made


async def unlink(s: AsyncSession, p: Principal) -> None:
    row = await get_provider(s, p)
    selling = list(
        await s.scalars(
            select(Event.name)
            .where(
                Event.account_id == p.account.id,
                Event.access == "paid",
                Event.status.in_(("planned", "live")),
            )
            .limit(5)
        )
    )
    if selling:
        raise ControlError(
            "conflict",
            "paid events still sell tickets through this provider ("
            + ", ".join(repr(n) for n in selling)
            + "): make them free or delete them first",
            409,
        )
    await s.delete(row)


async def require_provider(s: AsyncSession, account_id: int) -> PaymentProvider:
    """R-BILL-10: a paid event is published and started only with a linked provider."""
    row = await provider_of(s, account_id)
    if row is None:
        raise ControlError(
            "payment_provider_required",
            "a paid event needs a linked payment provider: link one "
            "first (PUT /api/v1/payment-provider, R-BILL-10)",
            409,
        )
    return row
