"""Password reset through the API (issue 20 item 1), on SQLite and PostgreSQL with a real SMTP server: the
request mails a link, its token sets a new password once and only before it expires, an unknown address
gets the same answer and no mail, and bad input is refused precisely."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from mediaserver.accounts import recovery
from mediaserver.store.models import User
from signaling import keys
from tests.api.conftest import PASSWORD, call, signup, text_of

NEW = "a brand new passphrase"


def reset_token(text: str) -> str:
    start = text.index("/dashboard#reset=") + len("/dashboard#reset=")
    return text[start:].split()[0]


async def _request(api, addr: str) -> dict:
    return await call(api.client(), "POST", "/api/v1/password-reset", 202, json={"email": addr})


async def test_a_reset_link_sets_a_new_password_once(api):
    http, me = await signup(api, "forgetful@example.test")
    got = await _request(api, "Forgetful@Example.test")
    assert "mailbox" in got["message"]
    [msg] = await api.mail.wait("forgetful@example.test")
    assert msg["Subject"] == "Set a new password"
    text = text_of(msg)
    assert "http://meet.example.test/dashboard#reset=" in text and "60 minutes" in text
    token = reset_token(text)

    fresh = api.client()
    await call(fresh, "POST", "/api/v1/password-reset/confirm", 204, json={"token": token, "password": NEW})
    # the old sessions are over, the old password is refused, the new one signs in
    await call(http, "GET", "/api/v1/me", 401)
    login = {"email": "forgetful@example.test", "password": PASSWORD}
    await call(fresh, "POST", "/api/v1/session", 401, json=login)
    signed = await call(fresh, "POST", "/api/v1/session", 200, json={**login, "password": NEW})
    assert signed["user"]["id"] == me["user"]["id"]
    # used once: the password changed, the token no longer verifies
    again = {"token": token, "password": "yet another one"}
    err = await call(fresh, "POST", "/api/v1/password-reset/confirm", 400, json=again)
    assert err["error"]["code"] == "bad_token"
    await call(fresh, "POST", "/api/v1/session", 200, json={**login, "password": NEW})


async def test_an_expired_or_forged_token_is_refused(api):
    _, me = await signup(api, "late@example.test")
    uid = me["user"]["id"]
    async with api.app[keys.DB].read() as s:
        hashed = (await s.scalar(select(User).where(User.id == uid))).password_hash
    secret = api.settings.secret
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    expired = recovery.sign(secret, uid, hashed, past)
    err = await call(
        api.client(), "POST", "/api/v1/password-reset/confirm", 400, json={"token": expired, "password": NEW}
    )
    assert err["error"]["code"] == "token_expired" and "expired" in err["error"]["message"]
    future = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    for bad in (
        recovery.sign("another server's secret, long enough", uid, hashed, future),  # not this server's
        recovery.sign(secret, uid, "another hash", future),  # made for an earlier password
        recovery.sign(secret, uid + 1000, hashed, future),  # no such user
        "not a token",
        "1.2",
        f"{uid}.{int(future.timestamp())}.ü",  # not ASCII
    ):
        err = await call(
            api.client(), "POST", "/api/v1/password-reset/confirm", 400, json={"token": bad, "password": NEW}
        )
        assert err["error"]["code"] == "bad_token", (bad, err)
    # a good token still works after all that
    good = recovery.sign(secret, uid, hashed, future)
    body = {"token": good, "password": NEW}
    await call(api.client(), "POST", "/api/v1/password-reset/confirm", 204, json=body)


async def test_unknown_address_gets_the_same_answer_and_no_mail(api):
    await signup(api, "known@example.test")
    unknown = await _request(api, "nobody@example.test")
    known = await _request(api, "known@example.test")
    assert unknown == known
    await api.mail.wait("known@example.test")
    await asyncio.sleep(0.3)  # the dispatcher had time to send the other one, were there one
    assert api.mail.to("nobody@example.test") == []
    # a sign-up not yet activated has no password to reset: no mail either (signing up again mails a link)
    pending = {"name": "P", "email": "pending@example.test"}
    await call(api.client(), "POST", "/api/v1/signup", 202, json=pending)
    [_] = await api.mail.wait("pending@example.test")
    await _request(api, "pending@example.test")
    await asyncio.sleep(0.3)
    assert len(api.mail.to("pending@example.test")) == 1


async def test_at_most_three_reset_mails_an_hour_to_one_address(api):
    await signup(api, "busy@example.test")
    for _ in range(recovery.RESET_MAILS_PER_HOUR + 2):
        await _request(api, "busy@example.test")
    await api.mail.wait("busy@example.test", recovery.RESET_MAILS_PER_HOUR)
    await asyncio.sleep(0.3)
    assert len(api.mail.to("busy@example.test")) == recovery.RESET_MAILS_PER_HOUR


async def test_bad_input_is_refused_precisely(api):
    http = api.client()
    path, confirm = "/api/v1/password-reset", "/api/v1/password-reset/confirm"
    err = await call(http, "POST", path, 400, json={"email": "a@b.c, postmaster@b.c"})
    assert "one address" in err["error"]["message"]
    err = await call(http, "POST", path, 400, json={})
    assert "email" in err["error"]["message"]
    err = await call(http, "POST", path, 400, json={"email": "x@example.test", "extra": 1})
    assert "extra" in err["error"]["message"]
    err = await call(http, "POST", confirm, 400, json={"token": "1.2.x", "password": "short"})
    assert "password" in err["error"]["message"]
    err = await call(http, "POST", confirm, 400, json={"password": NEW})
    assert "token" in err["error"]["message"]
    await call(http, "POST", path, 415, data="email=x@example.test")
