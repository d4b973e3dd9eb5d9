"""Issue 14 finding 22 (LOW): sign-up did not confirm the address (the account worked at once, and could mail
others), and it told anyone which addresses are registered (409 email_taken). Now the answer is the same
for both, the registered owner gets a mail instead, and the account works only once the e-mailed link is
followed."""

from __future__ import annotations

from tests.api.conftest import PASSWORD, call, link_token, signup


async def _signup(api, addr: str) -> tuple[int, dict, bool]:
    """POST /api/v1/signup from a fresh client: (status, body, whether it set a session cookie)."""
    http = api.client()
    async with http.post(
        "/api/v1/signup", json={"name": "Mallory", "email": addr, "password": "mallory's password"}
    ) as r:
        return r.status, await r.json(), "ms_session" in r.cookies


async def test_signup_answers_alike_for_a_registered_and_a_new_address(api):
    """Issue 14 finding 22: same status and body, no session either way; the owner hears of the attempt."""
    first = await _signup(api, "olga@example.test")
    again = await _signup(api, "Olga@Example.test")
    new = await _signup(api, "nobody-yet@example.test")
    assert first == again == new and first[0] == 202 and first[2] is False, (first, again, new)
    # an activated account's owner gets a notice instead of a new account, and keeps the account as it was
    await signup(api, "ann@example.test")
    assert await _signup(api, "ann@example.test") == new
    [notice] = await api.mail.wait("ann@example.test")
    assert notice["Subject"] == "Someone tried to sign up with your address"
    login = {"email": "ann@example.test", "password": PASSWORD}
    await call(api.client(), "POST", "/api/v1/session", 200, json=login)


async def test_a_new_account_works_only_after_its_address_is_confirmed(api):
    """Issue 14 finding 22: before the activation link nothing works (no session, no sign-in with the
    password given at sign-up, so no invitations either); the link sets the password and signs in."""
    status, _, cookie = await _signup(api, "newcomer@example.test")
    assert status == 202 and not cookie
    http = api.client()
    err = await call(
        http,
        "POST",
        "/api/v1/session",
        401,
        json={"email": "newcomer@example.test", "password": "mallory's password"},
    )
    assert err["error"]["message"] == "wrong e-mail address or password"  # as for an unknown address
    [msg] = await api.mail.wait("newcomer@example.test")
    assert msg["Subject"].startswith("Confirm your address")
    # signing up again (a lost mail) sends a fresh link; the first one stops working
    await _signup(api, "newcomer@example.test")
    first, second = await api.mail.wait("newcomer@example.test", 2)
    await call(http, "POST", "/api/v1/activate", 400, json={"token": link_token(first), "password": PASSWORD})
    me = await call(
        http, "POST", "/api/v1/activate", 200, json={"token": link_token(second), "password": PASSWORD}
    )
    assert me["role"] == "main" and me["account"]["plan"] == "trial"
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Mine"})
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["a@example.test"]}
    )


async def test_signup_mails_to_one_address_are_capped(api):
    """Issue 14 finding 22: sign-up cannot flood a mailbox: at most 3 of its mails an hour to one address, and
    the answer does not change when the cap drops one."""
    answers = [await _signup(api, "flooded@example.test") for _ in range(6)]
    assert len(set(map(str, answers))) == 1
    await api.mail.wait("flooded@example.test", 3)
    await _signup(api, "other@example.test")
    await api.mail.wait("other@example.test")  # the dispatcher has caught up
    assert len(api.mail.to("flooded@example.test")) == 3
