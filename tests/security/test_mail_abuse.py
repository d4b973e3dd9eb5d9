"""Issue 14 findings 9 (MEDIUM) and 14 (LOW): the server as a mail cannon. A trial account sent 1,000
invitations a request with no limit in time, anonymous joiners had thank-you and recording mails sent to
any address they typed, and an "address" such as ``a@b.c,postmaster`` became two recipients."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from mediaserver.billing import plans
from mediaserver.store.models import Email
from signaling import keys
from tests.api.conftest import PASSWORD, Mailbox, call, link_token, operator, paid, signup
from tests.conftest import free_port


class Envelopes(Mailbox):
    """The mailbox, with the SMTP envelope's recipients of each message (RCPT TO), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.rcpts: list[str] = []


@pytest.fixture(scope="module")
def smtp() -> Iterator[Envelopes]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping every message and its envelope recipients; the
    ``api`` fixture sends to it (this overrides tests/api/conftest.py's ``smtp`` in this module)."""
    from aiosmtpd.controller import Controller

    box = Envelopes()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.rcpts.extend(envelope.rcpt_tos)
            box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    try:
        yield box
    finally:
        controller.stop()


async def _event(http: Any, **extra: Any) -> dict:
    return await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Talk", **extra})


# ---------------------------------------------------------------- finding 9: invitations per hour


async def test_invitations_are_capped_per_hour_by_plan(api):
    """Issue 14 finding 9: the trial sends at most its plan's invitations an hour (100): then 429 with
    Retry-After, for new invitations and re-sends alike; a bigger plan has a bigger cap."""
    cap = plans.PLANS["trial"].invitations_per_hour
    http, me = await signup(api)
    assert me["limits"]["invitations_per_hour"] == cap
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Spam?"})
    path = f"/api/v1/events/{ev['id']}/invitations"
    # one request bigger than the hour's cap is refused whole, sending nothing
    too_many = [f"p{i}@example.test" for i in range(cap + 1)]
    async with http.post(path, json={"emails": too_many}) as r:
        body = await r.json()
        assert r.status == 429, body
        assert body["error"]["code"] == "rate_limited" and f"at most {cap}" in body["error"]["message"]
        assert int(r.headers["Retry-After"]) == 3600
    got = await call(http, "POST", path, 201, json={"emails": too_many[:cap]})
    assert got["total"] == cap
    async with http.post(path, json={"emails": ["one-more@example.test"]}) as r:
        body = await r.json()
        assert r.status == 429, body
        assert 3500 <= int(r.headers["Retry-After"]) <= 3600  # when the first of the hour's mails ages out
    async with http.post(f"{path}/resend", json={}) as r:
        assert r.status == 429
    async with api.app[keys.DB].read() as s:
        queued = list(await s.scalars(select(Email.to_addr).where(Email.kind == "invitation")))
    assert len(queued) == cap and "one-more@example.test" not in queued
    # the operator moves the account to a paid plan: its bigger cap applies at once
    await operator(http, "plan", json={"plan": "mywebinars"})
    await call(http, "POST", path, 201, json={"emails": ["one-more@example.test"]})


async def test_invitations_go_out_only_in_the_name_of_a_confirmed_address(api):
    """Issue 14 finding 9: the main account logged in as a sub-account acts as its user; until that user has
    confirmed their address (the activation link), no invitation goes out in their name: 403 saying so."""
    http, _ = await signup(api)
    await paid(http, "mywebinars", sub_accounts=1)
    sub = await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": "Sales", "userName": "Sam", "email": "sam@example.test"},
    )
    await call(http, "POST", f"/api/v1/subaccounts/{sub['id']}/login-as", 200)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Sam's"})
    path = f"/api/v1/events/{ev['id']}/invitations"
    err = await call(http, "POST", path, 403, json={"emails": ["prospect@example.test"]})
    assert "sam@example.test" in err["error"]["message"] and "confirm" in err["error"]["message"]
    await call(http, "POST", f"{path}/resend", 403, json={})
    [activation] = await api.mail.wait("sam@example.test")
    await call(
        api.client(),
        "POST",
        "/api/v1/activate",
        200,
        json={"token": link_token(activation), "password": PASSWORD},
    )
    await call(http, "POST", path, 201, json={"emails": ["prospect@example.test"]})
    await api.mail.wait("prospect@example.test")


# ---------------------------------------------------------------- finding 9: joiners' addresses


async def test_thank_you_mail_goes_only_to_invited_or_confirmed_addresses(api):
    """Issue 14 finding 9: a joiner types any address into the room's form; the thank-you mail goes only to
    an address the event invited or an activated user's, never to a typed-in stranger's."""
    http, me = await signup(api)
    ev = await _event(http, thankYouUrl="https://example.test/thanks")
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["ivy@example.test"]}
    )
    await api.mail.wait("ivy@example.test")
    colleague, colleague_me = await signup(api)  # an activated user of this server, joining as attendee
    join = f"/api/v1/public/events/{ev['roomId']}/join"
    for name, addr in (
        ("Victim", "victim@example.test"),
        ("Ivy", "ivy@example.test"),
        ("Colleague", colleague_me["user"]["email"]),
    ):
        await call(api.client(), "POST", join, 200, json={"name": name, "email": addr})
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    await api.mail.wait("ivy@example.test", 2)  # the invitation, then the thank-you
    await api.mail.wait(colleague_me["user"]["email"])
    await asyncio.sleep(0.5)  # the dispatcher has sent everything this end queued
    assert api.mail.to("victim@example.test") == []
    async with api.app[keys.DB].read() as s:
        assert await s.scalar(select(Email.id).where(Email.to_addr == "victim@example.test")) is None


# ---------------------------------------------------------------- finding 14: one address is one mailbox

LISTS = (
    "a@b.c,postmaster",
    "ann@example.test, postmaster@example.test",
    "Ann <ann@example.test>",
    "x@[127.0.0.1]",
)


async def test_an_address_list_is_refused_wherever_an_address_is_taken(api):
    """Issue 14 finding 14: a real parser (email-validator) checks every address: sign-up, contacts,
    invitations, joining a room, registering; a list or a display name is not one address."""
    http, _ = await signup(api)
    ev = await _event(http, registration={"enabled": True})
    for bad in LISTS:
        await call(api.client(), "POST", "/api/v1/signup", 400, json={"name": "M", "email": bad})
        await call(http, "POST", "/api/v1/contacts", 400, json={"name": "M", "email": bad})
        await call(http, "POST", f"/api/v1/events/{ev['id']}/invitations", 400, json={"emails": [bad]})
        await call(
            api.client(),
            "POST",
            f"/api/v1/public/events/{ev['roomId']}/join",
            400,
            json={"name": "M", "email": bad},
        )
        await call(
            api.client(),
            "POST",
            f"/api/v1/public/events/{ev['roomId']}/registrations",
            400,
            json={"firstName": "M", "lastName": "M", "email": bad},
        )
    async with api.app[keys.DB].read() as s:
        assert await s.scalar(select(Email.id).where(Email.to_addr.contains("postmaster"))) is None


async def test_mail_goes_to_the_rows_one_recipient_not_to_what_its_header_lists(api):
    """Issue 14 finding 14: the SMTP envelope names the outbox row's recipient explicitly; a To header that
    lists several addresses (a row stored before addresses were parsed) reaches none of the others."""
    api.mail.rcpts.clear()
    async with api.app[keys.DB].tx() as s:
        row = Email(
            account_id=None,
            kind="thank_you",
            to_addr="first@example.test, second@example.test",
            subject="Hello",
            body_text="hello",
            body_html="<p>hello</p>",
        )
        s.add(row)
        await s.flush()
        row_id = row.id
    api.app[keys.DISPATCHER].wake.set()
    end = time.monotonic() + 15
    while time.monotonic() < end:
        async with api.app[keys.DB].read() as s:
            if (await s.get(Email, row_id)).attempts >= 1:
                break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the dispatcher did not try the mail")
    assert "second@example.test" not in api.mail.rcpts, api.mail.rcpts
