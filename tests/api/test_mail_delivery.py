"""E-mail delivery through the real API and a real SMTP server (aiosmtpd), on SQLite and PostgreSQL (issue
7 item 6): a server that answers 451 (try again later) or is down gets the mail again with back-off (30 s,
then 60 s: the clock is moved on by ageing the outbox row), and once it takes mail every committed mail
arrives exactly once; a request that fails queues nothing. And the activation, reminder and thank-you mails
in Russian, in the language the code chooses for each: the account's for activation, the organiser's own
for the reminder, the event's for the thank-you."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update

from mediaserver.outbox import mail
from mediaserver.store.models import Email
from signaling import keys
from tests.api.conftest import Mailbox, call, link_token, paid, signup, text_of
from tests.conftest import free_port


@dataclass
class FlakyMailbox(Mailbox):
    """The SMTP server's mailbox, which can refuse mail (451 to DATA) or be stopped and started again."""

    refusing: bool = False
    refused: int = 0
    controller: Any = None
    handler: Any = None

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp() -> Iterator[FlakyMailbox]:
    """Overrides the shared SMTP server for this module's `api`: a real aiosmtpd server that can misbehave."""
    box = FlakyMailbox(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            if box.refusing:
                box.refused += 1
                return "451 4.3.0 Mailbox busy, try again later"
            box.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
            return "250 OK"

    box.handler = Handler()
    box.start()
    try:
        yield box
    finally:
        if box.controller is not None and box.controller._thread is not None:
            box.stop()


async def _rows(api, to: str | None = None) -> list[Email]:
    """The outbox's mails but the sign-ups' (tests.api.conftest.signup takes those out of the mailbox)."""
    async with api.app[keys.DB].read() as s:
        q = select(Email).where(Email.kind != "signup").order_by(Email.id)
        return list(await s.scalars(q.where(Email.to_addr == to) if to else q))


async def _until(check, timeout: float = 15.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = await check()
        if got:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _attempted(api, to: str, attempts: int) -> Email:
    async def check():
        rows = await _rows(api, to)
        return rows[0] if rows and rows[0].attempts >= attempts else None

    return await _until(check, what=f"attempt {attempts} of the mail to {to}")


async def _time_passes(api) -> None:
    """The back-off is over: every mail waiting for a retry is due now."""
    async with api.app[keys.DB].tx() as s:
        await s.execute(
            update(Email)
            .where(Email.status == "pending")
            .values(next_attempt_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
        )
    api.app[keys.DISPATCHER].wake.set()


def _seconds_ahead(row: Email) -> float:
    return (row.next_attempt_at - dt.datetime.now(dt.timezone.utc)).total_seconds()


async def test_a_refused_mail_is_retried_with_backoff_and_delivered_once(api):
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Briefing"})
    api.mail.refusing = True
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["vera@example.test"]}
    )
    row = await _attempted(api, "vera@example.test", 1)
    assert row.status == "pending" and "451" in row.last_error and api.mail.refused == 1
    assert 25 < _seconds_ahead(row) <= 30.5  # back-off: 30 s
    await asyncio.sleep(1.5)  # three dispatcher rounds: nothing is sent early
    assert (await _rows(api, "vera@example.test"))[0].attempts == 1 and api.mail.refused == 1

    await _time_passes(api)
    row = await _attempted(api, "vera@example.test", 2)
    assert row.status == "pending" and api.mail.refused == 2
    assert 55 < _seconds_ahead(row) <= 60.5  # doubled: 60 s

    api.mail.refusing = False
    await _time_passes(api)
    [msg] = await api.mail.wait("vera@example.test")
    assert msg["Subject"] == "Invitation: Briefing"
    row = await _attempted(api, "vera@example.test", 3)
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 3, True)
    await _time_passes(api)
    await asyncio.sleep(1.0)
    assert len(api.mail.to("vera@example.test")) == 1 and api.mail.refused == 2  # once, not again


async def test_mail_queued_while_the_smtp_server_is_down_is_all_delivered_once_it_is_back(api):
    """Nothing committed is lost: mails of several requests wait in the outbox while the server is down; a
    request that fails queues nothing."""
    http, _ = await signup(api)
    await paid(http, "live", extra_users=1, sub_accounts=1)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Outage"})
    api.mail.stop()
    invitees = [f"guest{n}@example.test" for n in range(3)]
    await call(http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": invitees})
    await call(http, "POST", "/api/v1/users", 201, json={"name": "Ivan", "email": "ivan@example.test"})
    await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": "Sales", "userName": "Sergei", "email": "sergei@example.test"},
    )
    await call(
        http, "POST", "/api/v1/users", 409, json={"name": "Two", "email": "two@example.test"}
    )  # rolled back
    everyone = [*invitees, "ivan@example.test", "sergei@example.test"]

    async def all_tried():
        rows = await _rows(api)
        return len(rows) == len(everyone) and all(r.attempts >= 1 for r in rows)

    await _until(all_tried, what="a first attempt of every mail")
    rows = await _rows(api)
    assert sorted(r.to_addr for r in rows) == sorted(everyone)
    assert all(r.status == "pending" and r.last_error and 25 < _seconds_ahead(r) <= 30.5 for r in rows), [
        (r.status, r.last_error) for r in rows
    ]

    api.mail.start()  # the server is back, on the same port
    await _time_passes(api)
    for addr in everyone:
        await api.mail.wait(addr)
    await _time_passes(api)
    await asyncio.sleep(1.0)
    assert sorted(m["To"] for m in api.mail.messages) == sorted(everyone)  # each exactly once
    assert {(r.status, r.attempts) for r in await _rows(api)} == {("sent", 2)}
    assert api.mail.to("two@example.test") == []


async def test_a_mail_is_given_up_after_the_last_attempt(api):
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Never"})
    api.mail.refusing = True
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["no@example.test"]}
    )
    for n in range(1, mail.MAX_ATTEMPTS + 1):
        row = await _attempted(api, "no@example.test", n)
        await _time_passes(api)
    assert (row.status, row.attempts, api.mail.refused) == ("failed", mail.MAX_ATTEMPTS, mail.MAX_ATTEMPTS)
    assert "451" in row.last_error
    await asyncio.sleep(1.0)
    assert api.mail.refused == mail.MAX_ATTEMPTS  # no more tries


# ---------------------------------------------------------------- Russian mails


def _russian(msg: email.message.EmailMessage) -> str:
    """The plain text of a mail whose both parts (text and HTML) are Russian, in UTF-8."""
    text = text_of(msg)
    html = msg.get_body(preferencelist=("html",))
    assert html is not None
    for part in (text, html.get_content()):
        assert sum("\u0400" <= c <= "\u04ff" for c in part) > 20, part
    assert msg.get_body(preferencelist=("plain",)).get_content_charset() == "utf-8"
    return text


async def test_activation_mails_are_in_the_account_language(api):
    """Activation is written in the account's language (the main account's, chosen at sign-up), for an
    additional user and for a sub-account's user alike."""
    http, _ = await signup(api, language="ru", page_name="Школа вебинаров")
    await paid(http, "live", extra_users=1, sub_accounts=1)
    await call(http, "POST", "/api/v1/users", 201, json={"name": "Иван", "email": "ivan@example.test"})
    await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": "Отдел продаж", "userName": "Сергей", "email": "sergei@example.test"},
    )
    for addr, name, page in (
        ("ivan@example.test", "Иван", "Школа вебинаров"),
        ("sergei@example.test", "Сергей", "Отдел продаж"),
    ):
        [msg] = await api.mail.wait(addr)
        assert msg["Subject"] == f"Активируйте учётную запись {page}"
        text = _russian(msg)
        assert f"Здравствуйте, {name}!" in text and "Olga Owner создал(а) для вас учётную запись" in text
        assert "Ссылка действует 7 дней." in text and "Activate" not in text
        assert msg.get_content_type() == "multipart/alternative"
        me = await call(
            api.client(),
            "POST",
            "/api/v1/activate",
            200,
            json={"token": link_token(msg), "password": "пароль из письма"},
        )
        assert me["user"]["name"] == name


async def test_reminder_is_in_the_organisers_language_and_invitations_in_the_events(api):
    """The reminder to re-send goes to the event's owner in their own language; the invitations it is about
    are in the event's language (here English, for English-speaking guests)."""
    http, owner = await signup(api, language="ru")
    ev = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Launch", "language": "en"}
    )
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["guest@example.test"]}
    )
    [invitation] = await api.mail.wait("guest@example.test")
    assert invitation["Subject"] == "Invitation: Launch"
    await call(http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"agenda": "Новая программа"})
    [reminder] = await api.mail.wait(owner["user"]["email"])
    assert reminder["Subject"] == "Отправьте приглашения на Launch повторно"
    text = _russian(reminder)
    assert "Настройки мероприятия Launch изменились." in text and "(1)" in text
    assert f"http://meet.example.test/dashboard#event={ev['id']}" in text


async def test_thank_you_is_in_the_events_language(api):
    """An English-speaking organiser's Russian event thanks its participants in Russian, with the account's
    signature."""
    http, _ = await signup(api)
    await call(http, "PATCH", "/api/v1/account/settings", 200, json={"signature": "Ольга, Школа вебинаров"})
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "instant",
            "name": "Разбор полётов",
            "language": "ru",
            "thankYouUrl": "https://example.test/спасибо",
        },
    )
    # the thank-you mail goes to invited (or confirmed) addresses only: issue 14 finding 9
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["lena@example.test"]}
    )
    [invitation] = await api.mail.wait("lena@example.test")
    api.mail.messages.remove(invitation)
    await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "Лена", "email": "lena@example.test"},
    )
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    [msg] = await api.mail.wait("lena@example.test")
    assert msg["Subject"] == "Спасибо за участие в мероприятии Разбор полётов"
    text = _russian(msg)
    assert "Здравствуйте, Лена!" in text and "спасибо за участие в мероприятии Разбор полётов." in text
    assert "https://example.test/спасибо" in text and text.rstrip().endswith("Ольга, Школа вебинаров")
