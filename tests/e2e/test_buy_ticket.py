"""Buying a ticket on the room page of a paid event (R-BILL-10, R-ROOM-6) in headless Chromium against a
real `mediaserver serve` with a real SMTP server: the attendee orders from the page, sees the manual
provider's instructions, the payment reference and a pending status (also after a reload: the order is kept
in localStorage); the organiser confirms through the API, the page says the ticket was e-mailed, and the
token from that e-mail typed into the ticket field lets the person in. A rejected order says so, with the
reason and that refunds are not automatic (R-BILL-6); API refusals (already ordered) read in the room's
language."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.api.conftest import smtp, text_of  # noqa: F401  (the real SMTP server fixture)
from tests.e2e import browser
from tests.e2e.test_room_access import (  # noqa: F401  (served: the real server fixture)
    Organiser,
    click,
    fill,
    guest,
    in_room,
    join_error,
    open_room,
    person,
    seated,
    served,
    shot,
    state,
    text,
    visible,
    wait,
)

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")

MANUAL = {"kind": "manual", "instructions": "Bank transfer to IBAN DE02 1203 0000 0000 2020 51, Olga Owner"}


def paid_event(base: str, **data: Any) -> tuple[Organiser, dict[str, Any]]:
    """A paid account with the manual provider linked and a live paid event (USD 25)."""
    org = Organiser(base)
    org.operator("plan", {"plan": "mywebinars"})
    org.call("PUT", "/api/v1/payment-provider", MANUAL, 200)
    return org, org.event(access="paid", ticketPrice="25", ticketCurrency="USD", **data)


def payments(org: Organiser, ev: dict[str, Any]) -> list[dict[str, Any]]:
    return org.call("GET", f"/api/v1/events/{ev['id']}/payments", status=200)["items"]


def order_status(d: Any) -> str | None:
    return d.execute_script(
        "const e = document.querySelector('#order-status');"
        "return e && e.getClientRects().length ? e.dataset.status : null;"
    )


def ticket_token(box: Any, addr: str, timeout: float = 20) -> str:
    """The personal token from the ticket e-mail the server sent to addr."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for msg in box.to(addr):
            body = text_of(msg)
            if "Your personal token:" in body:
                return body.split("Your personal token:", 1)[1].split()[0]
        time.sleep(0.2)
    raise AssertionError(f"no ticket e-mail to {addr}: {[m['Subject'] for m in box.to(addr)]}")


@pytest.mark.timeout(150)
def test_buy_a_ticket_wait_for_confirmation_then_join_with_the_emailed_token(served, smtp):  # noqa: F811
    org, ev = paid_event(served, name="Paid masterclass")
    addr = f"pavel-{uuid.uuid4().hex[:6]}@example.test"
    with browser.chromium() as d:
        open_room(d, f"{served}/room/{ev['roomId']}")
        assert visible(d, "#join-token") and visible(d, "#buy-offer") and not visible(d, "#buy"), state(d)
        assert "25.00 USD" in text(d, "#join-access")
        person(d, "Pavel", addr)
        click(d, "#buy-open")
        wait(d, lambda d: visible(d, "#buy-form"), "the order form")
        assert "25.00 USD" in text(d, "#buy-price")
        assert d.execute_script(
            "return [document.querySelector('#buy-name').value,document.querySelector('#buy-email').value];"
        ) == ["Pavel", addr]
        assert payments(org, ev) == []
        click(d, "#buy-submit")
        wait(d, lambda d: order_status(d) == "pending", "the pending order")
        assert "waiting for payment" in text(d, "#order-status")
        assert text(d, "#order-instructions") == MANUAL["instructions"] and visible(d, "#order-instructions")
        (pay,) = payments(org, ev)
        assert (pay["email"], pay["name"], pay["status"], pay["amount"], pay["currency"]) == (
            addr,
            "Pavel",
            "pending",
            "25.00",
            "USD",
        )
        assert text(d, "#order-reference") == pay["reference"]
        assert not visible(d, "#buy-form") and not visible(d, "#order-new")
        assert "key" not in state(d)["order"]
        shot(d, "buy-ticket-pending.png")

        d.refresh()  # the order is kept: a reload still shows it
        open_room(d, f"{served}/room/{ev['roomId']}")
        wait(d, lambda d: order_status(d) == "pending", "the pending order after a reload")
        assert text(d, "#order-instructions") == MANUAL["instructions"]
        assert text(d, "#order-reference") == pay["reference"]
        time.sleep(1)
        assert seated(served, ev["roomId"]) == 0 and state(d)["screen"] == "join"

        org.call("POST", f"/api/v1/events/{ev['id']}/payments/{pay['id']}/confirm", status=200)
        wait(d, lambda d: order_status(d) == "paid", "the page notices the payment", 20)
        assert f"your ticket was e-mailed to {addr}" in text(d, "#order-status")
        assert not visible(d, "#order-pay") and not visible(d, "#order-check")
        shot(d, "buy-ticket-paid.png")
        # the order's answer carries no token: the person takes it from the ticket e-mail
        assert d.execute_script("return document.querySelector('#join-token').value;") == ""
        assert d.execute_script("return document.querySelector('#join-email').value;") == addr
        assert seated(served, ev["roomId"]) == 0
        fill(d, "#join-token", ticket_token(smtp, addr))
        click(d, "#join-submit")
        st = in_room(d)
        assert st["role"] == "attendee" and st["self"]["name"] == "Pavel"
        assert browser.poll(lambda: seated(served, ev["roomId"]), lambda n: n == 1, 10) == 1


@pytest.mark.timeout(150)
def test_already_ordered_then_a_rejected_order_in_russian(served, smtp):  # noqa: F811
    org, ev = paid_event(served, name="Платный вебинар", language="ru")
    taken = f"taken-{uuid.uuid4().hex[:6]}@example.test"
    addr = f"irina-{uuid.uuid4().hex[:6]}@example.test"
    status, _ = guest(
        served, "POST", f"/api/v1/public/events/{ev['roomId']}/tickets", {"name": "Taken", "email": taken}
    )
    assert status == 201
    with browser.chromium() as d:
        open_room(d, f"{served}/room/{ev['roomId']}")
        assert text(d, "#buy-open") == "Купить билет"
        click(d, "#buy-open")
        wait(d, lambda d: visible(d, "#buy-form"), "the order form")
        fill(d, "#buy-name", "Ирина")
        fill(d, "#buy-email", "not an address")
        click(d, "#buy-submit")  # refused on the page, nothing sent
        wait(d, lambda d: state(d).get("buyError") == "invalid_email", "the bad e-mail")
        assert text(d, "#buy-error") == "Введите правильный адрес электронной почты."
        fill(d, "#buy-email", taken)
        click(d, "#buy-submit")  # the server refuses: an open order exists
        wait(d, lambda d: state(d).get("buyError") == "already_ordered", "the already-ordered refusal")
        assert text(d, "#buy-error").startswith("На этот адрес уже есть заказ") and visible(d, "#buy-error")
        assert [p["email"] for p in payments(org, ev)] == [taken]

        fill(d, "#buy-email", addr)
        click(d, "#buy-submit")
        wait(d, lambda d: order_status(d) == "pending", "the pending order")
        assert not visible(d, "#buy-error")
        assert text(d, "#order-status").startswith("Ваш заказ (25.00 USD) ожидает оплаты")
        pay = next(p for p in payments(org, ev) if p["email"] == addr)
        org.call(
            "POST",
            f"/api/v1/events/{ev['id']}/payments/{pay['id']}/reject",
            {"reason": "Перевод не поступил"},
            200,
        )
        wait(d, lambda d: order_status(d) == "refused", "the page notices the rejection", 20)
        said = text(d, "#order-status")
        assert said.startswith("Организатор не подтвердил этот заказ") and "Перевод не поступил" in said
        assert "не возвращаются автоматически" in text(d, "#order-note")
        assert visible(d, "#order-new") and not visible(d, "#order-pay") and not visible(d, "#order-check")
        shot(d, "buy-ticket-refused-ru.png")
        # no ticket: joining is still refused, and the person may start a new order
        person(d, "Ирина", addr)
        click(d, "#join-submit")
        assert join_error(d, "ticket_required").startswith("Мероприятие платное")
        assert seated(served, ev["roomId"]) == 0
        click(d, "#order-new")
        wait(d, lambda d: visible(d, "#buy-form") and not visible(d, "#order"), "a new order form")
        assert d.execute_script(
            "return localStorage.length === 0 || !Object.keys(localStorage)"
            ".some((k) => k.startsWith('ms.ticketOrder.'));"
        )
