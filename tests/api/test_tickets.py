"""Paid webinars through the real HTTP API, on SQLite and PostgreSQL, with the real SMTP server (aiosmtpd)
and a real webhook receiver that checks each delivery's HMAC signature: the payment provider (R-BILL-10),
ordering a ticket, hand confirmation (the ticket e-mail with a join button and token, joining with it) and
rejection (a notice, payment.refused), the provider's signed callbacks (success, failure, bad signature,
replay), re-sending a lost ticket, the notice of a cancelled event (refunds not automatic: R-BILL-10,
R-BILL-6), the trial (R-ACC-1) and who may do what (R-ACC-2, -3, -4, -5)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import time

import pytest
from aiohttp import web
from sqlalchemy import func, select

from mediaserver.outbox import webhooks
from mediaserver.rtc import tokens
from mediaserver.store.models import Email, WebhookDelivery
from signaling import keys
from tests.api.conftest import call, hook_receiver, loopback, paid, signup, text_of
from tests.api.test_api_rules import _people
from tests.conftest import SECRET

MANUAL = {"kind": "manual", "instructions": "Bank transfer to IBAN DE02 1203 0000 0000 2020 51, Olga Owner"}


# ---------------------------------------------------------------- helpers


class Hooks:
    """A real webhook endpoint: keeps every delivery whose signature verifies under the secret (and counts
    those that do not, which must stay zero)."""

    def __init__(self) -> None:
        self.secret, self.got, self.bad, self.url = "", [], 0, ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        h = request.headers
        if webhooks.verify(
            self.secret, h.get(webhooks.SIGNATURE_HEADER, ""), h.get("X-Mediaserver-Delivery", ""), body
        ):
            self.got.append(json.loads(body))
        else:
            self.bad += 1
        return web.Response(status=204)

    def of(self, kind: str) -> list[dict]:
        return [p for p in self.got if p["type"] == kind]

    async def wait(self, kind: str, count: int = 1, timeout: float = 15.0) -> list[dict]:
        end = time.monotonic() + timeout
        while time.monotonic() < end and len(self.of(kind)) < count:
            await asyncio.sleep(0.05)
        assert len(self.of(kind)) >= count, (kind, [p["type"] for p in self.got])
        assert self.bad == 0
        return self.of(kind)


@pytest.fixture
async def hooks():
    recv = Hooks()
    async with hook_receiver(recv.handle) as recv.url:
        yield recv


async def subscribe(http, hooks: Hooks) -> None:
    hook = await call(
        http,
        "POST",
        "/api/v1/webhooks",
        201,
        json={"url": hooks.url, "events": ["payment.succeeded", "payment.failed", "payment.refused"]},
    )
    hooks.secret = hook["secret"]


async def organiser(api, provider: dict | None = None, **event):
    """A paid account with a linked provider and a paid event (USD 25)."""
    http, me = await signup(api)
    await paid(http, "mywebinars")
    linked = await call(http, "PUT", "/api/v1/payment-provider", 200, json=provider or MANUAL)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "permanent",
            "name": "Masterclass",
            "access": "paid",
            "ticketPrice": "25",
            "ticketCurrency": "USD",
            **event,
        },
    )
    return http, ev, linked


async def order(api, ev: dict, email: str, status: int = 201, **extra) -> dict:
    return await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/tickets",
        status,
        json={"name": email.split("@")[0].title(), "email": email, **extra},
    )


async def payers(http, ev: dict, query: str = "") -> dict:
    return await call(http, "GET", f"/api/v1/events/{ev['id']}/payments{query}", 200)


async def queued(api, addr: str) -> list[str]:
    """Subjects of the outbox rows to an address: what was queued, whether or not sent yet."""
    async with api.app[keys.DB].read() as s:
        return list(await s.scalars(select(Email.subject).where(Email.to_addr == addr).order_by(Email.id)))


async def deliveries(api, kind: str) -> int:
    async with api.app[keys.DB].read() as s:
        return int(
            await s.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.event_type == kind)
            )
            or 0
        )


def signed(secret: str, payload: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Payment-Signature": f"sha256={mac}", "Content-Type": "application/json"}


async def post_callback(api, provider_id: int, body: bytes, headers: dict[str, str], status: int) -> dict:
    return await call(
        api.client(),
        "POST",
        f"/api/v1/public/payment-callbacks/{provider_id}",
        status,
        data=body,
        headers=headers,
    )


# ---------------------------------------------------------------- the provider


async def test_a_paid_event_needs_a_linked_provider_and_the_trial_has_none(api):
    """R-BILL-10: paid events are published and sell tickets only with a linked provider; R-ACC-1: none on the
    free trial; the provider cannot be unlinked from under a paid event."""
    http, _ = await signup(api)
    err = await call(http, "PUT", "/api/v1/payment-provider", 402, json=MANUAL)
    assert "trial" in err["error"]["message"]
    await paid(http, "mywebinars")
    await call(http, "GET", "/api/v1/payment-provider", 404)
    paid_event = {
        "kind": "permanent",
        "name": "Paid",
        "access": "paid",
        "ticketPrice": "10",
        "ticketCurrency": "EUR",
    }
    err = await call(http, "POST", "/api/v1/events", 409, json=paid_event)
    assert (
        err["error"]["code"] == "payment_provider_required" and "payment-provider" in err["error"]["message"]
    )
    free = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Free"})
    err = await call(
        http,
        "PATCH",
        f"/api/v1/events/{free['id']}",
        409,
        json={"access": "paid", "ticketPrice": "10", "ticketCurrency": "EUR"},
    )
    assert err["error"]["code"] == "payment_provider_required"
    err = await call(http, "PUT", "/api/v1/payment-provider", 400, json={"kind": "manual"})
    assert "instructions" in err["error"]["message"]
    await call(http, "PUT", "/api/v1/payment-provider", 400, json={"kind": "paypal"})
    linked = await call(http, "PUT", "/api/v1/payment-provider", 200, json=MANUAL)
    assert (linked["kind"], linked["signedCallbacks"], linked["callbackUrl"], linked["secret"]) == (
        "manual",
        False,
        None,
        None,
    )
    assert (await call(http, "GET", "/api/v1/payment-provider", 200))["config"]["instructions"] == MANUAL[
        "instructions"
    ]
    ev = await call(http, "POST", "/api/v1/events", 201, json=paid_event)
    err = await call(http, "DELETE", "/api/v1/payment-provider", 409)
    assert "Paid" in err["error"]["message"]
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    assert started["event"]["status"] == "live"
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"access": "open"})
    await call(http, "DELETE", "/api/v1/payment-provider", 204)
    await call(http, "GET", "/api/v1/payment-provider", 404)


async def test_an_event_without_a_provider_sells_nothing(api):
    """R-BILL-10: a free event sells no tickets; an order needs the event's price, never the payer's."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Free"})
    err = await order(api, ev, "x@example.test", 409)
    assert err["error"]["code"] == "not_paid"
    _, pev, _ = await organiser(api)
    await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{pev['roomId']}/tickets",
        400,
        json={"name": "X", "email": "x@example.test", "amount": "0.01"},
    )


# ---------------------------------------------------------------- ordering and hand confirmation


@loopback
async def test_order_confirm_by_hand_ticket_email_and_join_with_the_token(api, hooks):
    """R-BILL-10: the payer orders at the event's price (pending), the organiser sees the status and
    confirms by hand; the payer gets the ticket e-mail (join button and token) and joins with it;
    payment.succeeded."""
    http, ev, _ = await organiser(api)
    await subscribe(http, hooks)
    public = await call(api.client(), "GET", f"/api/v1/public/events/{ev['roomId']}", 200)
    assert (public["access"], public["ticketPrice"], public["ticketCurrency"]) == ("paid", "25.00", "USD")
    got = await order(api, ev, "ann@example.test", reference="my bank ref 77")
    assert (got["status"], got["amount"], got["currency"], got["payUrl"]) == ("pending", "25.00", "USD", None)
    assert got["instructions"] == MANUAL["instructions"] and got["reference"].startswith("T")
    [msg] = await api.mail.wait("ann@example.test")
    assert msg["Subject"] == "Your order for Masterclass: payment pending"
    assert MANUAL["instructions"] in text_of(msg) and got["reference"] in text_of(msg)
    # the payer sees their own order with their key, and nothing with another
    mine = await call(api.client(), "GET", f"/api/v1/public/tickets/{got['id']}?key={got['key']}", 200)
    assert mine["status"] == "pending"
    await call(api.client(), "GET", f"/api/v1/public/tickets/{got['id']}?key=guess", 404)
    await call(api.client(), "GET", f"/api/v1/public/tickets/{got['id']}", 400)
    err = await order(api, ev, "ANN@example.test", 409)
    assert err["error"]["code"] == "already_ordered"
    # no ticket yet: no entry
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        403,
        json={"name": "Ann", "email": "ann@example.test"},
    )
    assert err["error"]["code"] == "token_required"
    listed = await payers(http, ev)
    [row] = listed["items"]
    assert (row["email"], row["status"], row["payerReference"], row["ticketSentCount"]) == (
        "ann@example.test",
        "pending",
        "my bank ref 77",
        0,
    )
    done = await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{row['id']}/confirm", 200)
    assert (done["status"], done["decidedBy"], done["ticketSentCount"]) == ("paid", "organiser", 1)
    err = await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{row['id']}/confirm", 409)
    assert "re-send" in err["error"]["message"]
    ticket = (await api.mail.wait("ann@example.test", 2))[-1]
    assert ticket["Subject"] == "Your ticket: Masterclass"
    token = text_of(ticket).split("Your personal token: ")[1].split()[0]
    link = f"http://meet.example.test/room/{ev['roomId']}?token={token}"
    assert f"Join: {link}" in text_of(ticket)
    page = ticket.get_body(preferencelist=("html",)).get_content()
    assert f'<a href="{link}"' in page and ">Join the event</a>" in page
    joined = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"email": "ann@example.test", "token": token},
    )
    grant = tokens.verify(SECRET, joined["token"])
    assert (grant.role, grant.room) == ("attendee", ev["roomId"])
    # the token is Ann's alone
    await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        403,
        json={"name": "Eve", "email": "eve@example.test", "token": token},
    )
    [hook] = await hooks.wait("payment.succeeded")
    assert hook["data"]["payment"]["email"] == "ann@example.test"
    assert (hook["data"]["payment"]["status"], hook["data"]["payment"]["amount"]) == ("paid", "25.00")
    assert hook["data"]["event"]["roomId"] == ev["roomId"]
    assert (await call(api.client(), "GET", f"/api/v1/public/tickets/{got['id']}?key={got['key']}", 200))[
        "status"
    ] == "paid"
    err = await order(api, ev, "ann@example.test", 409)
    assert "re-send" in err["error"]["message"]


async def test_russian_ticket(api):
    """R-BILL-10 e-mails in the payer's language (English and Russian)."""
    http, ev, _ = await organiser(api, language="ru")
    got = await order(api, ev, "ivan@example.test")
    [pending] = await api.mail.wait("ivan@example.test")
    assert pending["Subject"] == "Ваш заказ на Masterclass: ожидается оплата"
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{got['id']}/confirm", 200)
    ticket = (await api.mail.wait("ivan@example.test", 2))[-1]
    assert ticket["Subject"] == "Ваш билет: Masterclass" and "Ваш личный токен: " in text_of(ticket)
    assert ">Подключиться</a>" in ticket.get_body(preferencelist=("html",)).get_content()
    other = await order(api, ev, "jane@example.test", language="en")
    assert other["status"] == "pending"
    [msg] = await api.mail.wait("jane@example.test")
    assert msg["Subject"] == "Your order for Masterclass: payment pending"


@loopback
async def test_rejection_sends_a_notice_and_payment_refused_also_for_a_paid_ticket(api, hooks):
    """R-BILL-10: rejecting a payer sends a notice (refunds are not automatic) and payment.refused; a rejected
    paid ticket stops opening the event; a rejected payer may order again."""
    http, ev, _ = await organiser(api)
    await subscribe(http, hooks)
    bob = await order(api, ev, "bob@example.test")
    out = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/payments/{bob['id']}/reject",
        200,
        json={"reason": "no transfer arrived"},
    )
    assert (out["status"], out["reason"]) == ("refused", "no transfer arrived")
    notice = (await api.mail.wait("bob@example.test", 2))[-1]
    assert notice["Subject"] == "Your ticket to Masterclass was not confirmed"
    assert "Reason: no transfer arrived" in text_of(notice) and "not made automatically" in text_of(notice)
    [hook] = await hooks.wait("payment.refused")
    assert (hook["data"]["payment"]["email"], hook["data"]["previousStatus"]) == (
        "bob@example.test",
        "pending",
    )
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{bob['id']}/confirm", 409)
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{bob['id']}/reject", 409, json={})
    assert (await call(api.client(), "GET", f"/api/v1/public/tickets/{bob['id']}?key={bob['key']}", 200))[
        "reason"
    ] == "no transfer arrived"
    # a paid ticket rejected afterwards: its token no longer opens the event
    cid = await order(api, ev, "cid@example.test")
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{cid['id']}/confirm", 200)
    ticket = (await api.mail.wait("cid@example.test", 2))[-1]
    token = text_of(ticket).split("Your personal token: ")[1].split()[0]
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{cid['id']}/reject", 200, json={})
    notice = (await api.mail.wait("cid@example.test", 3))[-1]
    assert "Reason" not in text_of(notice)
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        403,
        json={"email": "cid@example.test", "token": token},
    )
    assert err["error"]["code"] == "bad_token"
    hooks_refused = await hooks.wait("payment.refused", 2)
    assert hooks_refused[-1]["data"]["previousStatus"] == "paid"
    again = await order(api, ev, "bob@example.test")
    assert again["status"] == "pending" and again["id"] != bob["id"]
    statuses = {(r["email"], r["status"]) for r in (await payers(http, ev))["items"]}
    assert statuses == {
        ("bob@example.test", "refused"),
        ("bob@example.test", "pending"),
        ("cid@example.test", "refused"),
    }
    page = await payers(http, ev, "?status=refused&limit=1&offset=1")
    assert (page["total"], len(page["items"]), page["limit"], page["offset"]) == (2, 1, 1, 1)
    await call(http, "GET", f"/api/v1/events/{ev['id']}/payments?status=lost", 400)


async def test_lost_ticket_email_is_resent_with_the_same_token(api):
    """R-BILL-10: lost e-mails can be re-sent; only a paid order has a ticket."""
    http, ev, _ = await organiser(api)
    dan = await order(api, ev, "dan@example.test")
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{dan['id']}/resend", 409)
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{dan['id']}/confirm", 200)
    first = (await api.mail.wait("dan@example.test", 2))[-1]
    out = await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{dan['id']}/resend", 200)
    assert out["ticketSentCount"] == 2 and out["lastSentAt"]
    second = (await api.mail.wait("dan@example.test", 3))[-1]
    assert second["Subject"] == first["Subject"] == "Your ticket: Masterclass"
    token = text_of(first).split("Your personal token: ")[1].split()[0]
    assert f"Your personal token: {token}" in text_of(second)
    # the ticket is an invitation too: a settings change reminds to re-send it (R-ROOM-10)
    changed = await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"agenda": "new agenda"})
    assert changed["invitationsOutdated"] == 1


# ---------------------------------------------------------------- provider callbacks

GATEWAY = {
    "kind": "gateway",
    "checkoutUrl": "https://pay.example.test/checkout?ref={reference}&sum={amount}"
    "&cur={currency}&notify={callback}",
}


@loopback
async def test_signed_callbacks_success_failure_bad_signature_and_replay(api, hooks):
    """R-BILL-10 with a provider that reports results: HMAC-SHA256 of the body under the provider's secret,
    checked in constant time (401 otherwise, nothing changes); payment.failed, then payment.succeeded with the
    ticket; replays (same provider payment id and status) do nothing twice."""
    http, ev, linked = await organiser(api, GATEWAY)
    await subscribe(http, hooks)
    secret, pid = linked["secret"], linked["id"]
    assert len(secret) == 64 and linked["signedCallbacks"]
    assert linked["callbackUrl"] == f"http://meet.example.test/api/v1/public/payment-callbacks/{pid}"
    assert "secret" not in await call(http, "GET", "/api/v1/payment-provider", 200)
    got = await order(api, ev, "eva@example.test")
    assert got["payUrl"] == (
        f"https://pay.example.test/checkout?ref={got['reference']}&sum=25.00&cur=USD&notify="
        f"http%3A%2F%2Fmeet.example.test%2Fapi%2Fv1%2Fpublic%2Fpayment-callbacks%2F{pid}"
    )
    fail = {"paymentId": "pp-1", "reference": got["reference"], "status": "failed", "reason": "card declined"}
    body, headers = signed(secret, fail)
    # bad signatures: none, another key, another body, garbage
    await post_callback(api, pid, body, {"Content-Type": "application/json"}, 401)
    await post_callback(api, pid, body, signed("x" * 64, fail)[1], 401)
    await post_callback(api, pid, body + b" ", headers, 401)
    await post_callback(api, pid, body, {"X-Payment-Signature": "sha256=\u00e9\u00e9"}, 401)
    await post_callback(api, pid + 1000, body, headers, 404)
    assert (await payers(http, ev))["items"][0]["status"] == "pending"
    out = await post_callback(api, pid, body, headers, 200)
    assert out == {"paymentId": got["id"], "status": "failed", "applied": True, "replayed": False}
    notice = (await api.mail.wait("eva@example.test", 2))[-1]
    assert notice["Subject"] == "Your payment for Masterclass did not go through"
    assert "card declined" in text_of(notice) and f"/room/{ev['roomId']}" in text_of(notice)
    [failed] = await hooks.wait("payment.failed")
    assert (failed["data"]["payment"]["providerPaymentId"], failed["data"]["payment"]["reason"]) == (
        "pp-1",
        "card declined",
    )
    replay = await post_callback(api, pid, body, headers, 200)
    assert (replay["replayed"], replay["applied"], replay["status"]) == (True, False, "failed")
    # the payer tries again at the provider: success, with a matching amount
    bad_sum = {
        "paymentId": "pp-2",
        "reference": got["reference"],
        "status": "succeeded",
        "amount": "2.50",
        "currency": "USD",
    }
    err = await post_callback(api, pid, *signed(secret, bad_sum), 409)
    assert err["error"]["code"] == "amount_mismatch"
    ok = {**bad_sum, "amount": "25"}
    out = await post_callback(api, pid, *signed(secret, ok), 200)
    assert (out["status"], out["applied"]) == ("paid", True)
    ticket = (await api.mail.wait("eva@example.test", 3))[-1]
    token = text_of(ticket).split("Your personal token: ")[1].split()[0]
    await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"email": "eva@example.test", "token": token},
    )
    [succeeded] = await hooks.wait("payment.succeeded")
    assert (succeeded["data"]["payment"]["decidedBy"], succeeded["data"]["payment"]["providerPaymentId"]) == (
        "provider",
        "pp-2",
    )
    for _ in range(2):
        again = await post_callback(api, pid, *signed(secret, ok), 200)
        assert (again["replayed"], again["status"]) == (True, "paid")
    # a late failure of the paid order is logged, not applied
    late = await post_callback(api, pid, *signed(secret, {**fail, "paymentId": "pp-3"}), 200)
    assert (late["applied"], late["status"]) == (False, "paid")
    assert len(await queued(api, "eva@example.test")) == 3
    assert (await deliveries(api, "payment.succeeded"), await deliveries(api, "payment.failed")) == (1, 1)
    # bodies the generic format refuses, once signed
    for broken in ({"reference": got["reference"], "status": "succeeded"}, {**ok, "status": "maybe"}, [1]):
        await post_callback(api, pid, *signed(secret, broken), 400)
    await post_callback(api, pid, *signed(secret, {**ok, "reference": "TNOSUCHREF"}), 404)


async def test_own_secret_and_a_manual_provider_takes_no_callbacks(api):
    """R-BILL-10: the organiser may give the provider's own signing secret; the manual provider is
    confirmed by hand only."""
    http, ev, linked = await organiser(api, {**GATEWAY, "secret": "whsec_organisers_own_secret"})
    assert linked["secret"] is None
    got = await order(api, ev, "fay@example.test")
    ok = {"paymentId": "ch_1", "reference": got["reference"], "status": "succeeded"}
    await post_callback(api, linked["id"], *signed(secret := "whsec_organisers_own_secret", ok), 200)
    # re-linking as manual: callbacks are refused even when signed
    manual = await call(http, "PUT", "/api/v1/payment-provider", 200, json=MANUAL)
    assert manual["id"] == linked["id"]
    err = await post_callback(api, linked["id"], *signed(secret, {**ok, "paymentId": "ch_2"}), 409)
    assert err["error"]["code"] == "no_callbacks"


@loopback
async def test_a_hand_confirmation_racing_the_provider_settles_once(api, hooks):
    """R-BILL-10: the organiser's click and the provider's callback at the same moment give one ticket e-mail
    and one payment.succeeded (the status moves by compare-and-set)."""
    http, ev, linked = await organiser(api, GATEWAY)
    await subscribe(http, hooks)
    got = await order(api, ev, "gus@example.test")
    body, headers = signed(
        linked["secret"], {"paymentId": "pp-9", "reference": got["reference"], "status": "succeeded"}
    )

    async def click():
        async with http.post(f"/api/v1/events/{ev['id']}/payments/{got['id']}/confirm") as r:
            return r.status

    async def provider():
        async with api.client().post(
            f"/api/v1/public/payment-callbacks/{linked['id']}", data=body, headers=headers
        ) as r:
            return r.status, await r.json()

    clicked, (status, answer) = await asyncio.gather(click(), provider())
    assert status == 200 and clicked in (200, 409)
    assert answer["applied"] is (clicked == 409)
    await hooks.wait("payment.succeeded")
    assert await queued(api, "gus@example.test") == [
        "Your order for Masterclass: payment pending",
        "Your ticket: Masterclass",
    ]
    assert await deliveries(api, "payment.succeeded") == 1


# ---------------------------------------------------------------- a cancelled event


async def test_cancelling_a_paid_event_tells_the_payers_refunds_are_not_automatic(api):
    """R-BILL-10, R-BILL-6: deleting (cancelling) a paid event sends a notice to those who paid (no automatic
    refund: ask the organiser) and cancels pending orders; the orders stay on record for refunds by hand."""
    http, ev, _ = await organiser(api)
    me = await call(http, "GET", "/api/v1/me", 200)
    paid_one = await order(api, ev, "hal@example.test")
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{paid_one['id']}/confirm", 200)
    waiting = await order(api, ev, "ida@example.test")
    refused = await order(api, ev, "jon@example.test")
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{refused['id']}/reject", 200, json={})
    await call(http, "DELETE", f"/api/v1/events/{ev['id']}", 204)
    notice = (await api.mail.wait("hal@example.test", 3))[-1]
    assert notice["Subject"] == "Cancelled: Masterclass"
    assert "not refunded automatically" in text_of(notice) and me["user"]["email"] in text_of(notice)
    assert paid_one["reference"] in text_of(notice)
    notice = (await api.mail.wait("ida@example.test", 2))[-1]
    assert notice["Subject"] == "Cancelled: Masterclass" and "do not pay" in text_of(notice)
    assert len(await queued(api, "jon@example.test")) == 2  # the order and the rejection; no more
    rows = {r["email"]: r for r in (await call(http, "GET", "/api/v1/payments", 200))["items"]}
    assert {e: (r["status"], r["eventId"], r["eventName"]) for e, r in rows.items()} == {
        "hal@example.test": ("paid", None, "Masterclass"),
        "ida@example.test": ("cancelled", None, "Masterclass"),
        "jon@example.test": ("refused", None, "Masterclass"),
    }
    assert (
        rows["hal@example.test"]["eventCancelledAt"] and rows["jon@example.test"]["eventCancelledAt"] is None
    )
    assert (
        await call(api.client(), "GET", f"/api/v1/public/tickets/{waiting['id']}?key={waiting['key']}", 200)
    )["status"] == "cancelled"
    await call(http, "GET", f"/api/v1/events/{ev['id']}/payments", 404)


async def test_a_paid_scheduled_event_that_never_ran_tells_its_payers(api):
    """R-BILL-10: a scheduled event whose day passed without a session is dropped by the server's clock
    (R-ROOM-4); its payers get the cancellation notice as if the organiser had deleted it."""
    starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    http, ev, _ = await organiser(api, kind="scheduled", startsAt=starts.isoformat())
    kim = await order(api, ev, "kim@example.test")
    await call(http, "POST", f"/api/v1/events/{ev['id']}/payments/{kim['id']}/confirm", 200)
    await api.app[keys.DISPATCHER].sweep(starts + dt.timedelta(days=2))
    await call(http, "GET", f"/api/v1/events/{ev['id']}", 404)
    notice = (await api.mail.wait("kim@example.test", 3))[-1]
    assert notice["Subject"] == "Cancelled: Masterclass" and "not refunded automatically" in text_of(notice)


# ---------------------------------------------------------------- who may do what


async def test_permissions_on_payments(api):
    """R-ACC-4, R-ACC-5: the provider is the account owner's integration (not an additional user's); R-ACC-2:
    payers of an event are managed by the event's account as its events are (the owner all, an additional user
    their own); R-ACC-3: a sub-account links its own; nobody else, and attendees see only their own order."""
    people = await _people(api)
    main, add, sub, guest = people["main"], people["additional"], people["sub"], people["attendee"]
    for method in ("GET", "PUT", "DELETE"):
        err = await call(
            add, method, "/api/v1/payment-provider", 403, json=MANUAL if method == "PUT" else None
        )
        assert "main account" in err["error"]["message"]
        await call(guest, method, "/api/v1/payment-provider", 401, json=MANUAL if method == "PUT" else None)
    await call(main, "PUT", "/api/v1/payment-provider", 200, json=MANUAL)
    event = {"kind": "permanent", "access": "paid", "ticketPrice": "5", "ticketCurrency": "EUR"}
    main_ev = await call(main, "POST", "/api/v1/events", 201, json={**event, "name": "Main's"})
    add_ev = await call(add, "POST", "/api/v1/events", 201, json={**event, "name": "Additional's"})
    # the sub-account is an account of its own: no provider until it links one
    err = await call(sub, "POST", "/api/v1/events", 409, json={**event, "name": "Sub's"})
    assert err["error"]["code"] == "payment_provider_required"
    await call(sub, "PUT", "/api/v1/payment-provider", 200, json=MANUAL)
    sub_ev = await call(sub, "POST", "/api/v1/events", 201, json={**event, "name": "Sub's"})
    orders = {
        name: await order(api, ev, f"p-{name}@example.test")
        for name, ev in (("main", main_ev), ("add", add_ev), ("sub", sub_ev))
    }
    other, _ = await signup(api)

    def ops(ev, pay):
        base = f"/api/v1/events/{ev['id']}/payments"
        return [
            ("GET", base, None),
            ("POST", f"{base}/{pay['id']}/confirm", None),
            ("POST", f"{base}/{pay['id']}/resend", None),
            ("POST", f"{base}/{pay['id']}/reject", {}),
        ]

    # nobody outside the event's visibility: another account, the sub-account for the main's, the additional
    # user for the main's event; attendees are not signed in at all
    for who, ev, pay in (
        (other, main_ev, orders["main"]),
        (sub, main_ev, orders["main"]),
        (add, main_ev, orders["main"]),
        (main, sub_ev, orders["sub"]),
        (add, sub_ev, orders["sub"]),
        (other, add_ev, orders["add"]),
    ):
        for method, path, body in ops(ev, pay):
            await call(who, method, path, 404, json=body)
    for method, path, body in ops(main_ev, orders["main"]):
        await call(guest, method, path, 401, json=body)
    await call(guest, "GET", "/api/v1/payments", 401)
    # a payment id of another event, through an event one may manage
    await call(main, "POST", f"/api/v1/events/{main_ev['id']}/payments/{orders['add']['id']}/confirm", 404)
    # the additional user manages their own event's payers; the main account's owner every event's
    await call(add, "POST", f"/api/v1/events/{add_ev['id']}/payments/{orders['add']['id']}/confirm", 200)
    assert [r["status"] for r in (await payers(main, add_ev))["items"]] == ["paid"]
    await call(main, "POST", f"/api/v1/events/{main_ev['id']}/payments/{orders['main']['id']}/confirm", 200)
    await call(sub, "POST", f"/api/v1/events/{sub_ev['id']}/payments/{orders['sub']['id']}/confirm", 200)
    assert {r["eventName"] for r in (await call(main, "GET", "/api/v1/payments", 200))["items"]} == {
        "Main's",
        "Additional's",
    }
    assert [r["eventName"] for r in (await call(add, "GET", "/api/v1/payments", 200))["items"]] == [
        "Additional's"
    ]
    assert [r["eventName"] for r in (await call(sub, "GET", "/api/v1/payments", 200))["items"]] == ["Sub's"]
    # attendees: their own order with their own key, no other
    mine = orders["main"]
    await call(guest, "GET", f"/api/v1/public/tickets/{mine['id']}?key={mine['key']}", 200)
    await call(guest, "GET", f"/api/v1/public/tickets/{orders['add']['id']}?key={mine['key']}", 404)
