"""Accounts through the API (R-ACC-1..5), on SQLite and PostgreSQL: trial sign-up, sessions, API keys,
additional users, sub-accounts with activation by e-mail, log in as, package change, reassign and delete."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import func, select, update

from mediaserver.store.models import (
    Account,
    ApiKey,
    Contact,
    ContactGroup,
    Event,
    GroupMember,
    LibraryFile,
    Recording,
    Session,
    User,
)
from signaling import keys
from tests.api.conftest import TUS, call, link_token, operator, paid, signup, text_of, tus_send
from tests.api.test_library import _meta, _upload
from tests.conftest import API_KEY


async def test_signup_starts_a_7_day_trial_without_payment_details(api):
    """R-ACC-1: 7 days, no payment details, the trial's limits."""
    http, me = await signup(api, language="ru")
    assert me["role"] == "main" and me["account"]["plan"] == "trial" and me["account"]["kind"] == "main"
    ends = dt.datetime.fromisoformat(me["account"]["trialEndsAt"])
    assert dt.timedelta(days=6, hours=23) < ends - dt.datetime.now(dt.timezone.utc) <= dt.timedelta(days=7)
    lim = me["limits"]
    assert (
        lim["attendees"],
        lim["meeting_max"],
        lim["presenters"],
        lim["cameras"],
        lim["recording_minutes"],
        lim["storage_mb"],
        lim["paid_webinars"],
        lim["toll_free"],
    ) == (25, 5, 2, 4, 30, 500, False, False)
    # payment details are not part of the sign-up: an extra field is refused, not stored
    body = await call(
        api.client(),
        "POST",
        "/api/v1/signup",
        400,
        json={
            "name": "X",
            "email": "x@example.test",
            "password": "correct horse battery",
            "cardNumber": "4111",
        },
    )
    assert "cardNumber" in body["error"]["message"]
    assert (await call(http, "GET", "/api/v1/me", 200))["user"]["email"] == me["user"]["email"]


async def test_signup_refuses_weak_password_and_bad_address_and_tells_a_taken_one_by_mail(api):
    """A taken address gets the same answer as a new one (issue 14 finding 22); its owner gets a mail."""
    await signup(api, "taken@example.test")
    got = await call(
        api.client(),
        "POST",
        "/api/v1/signup",
        202,
        json={"name": "Y", "email": "TAKEN@example.test", "password": "correct horse battery"},
    )
    assert "mailbox" in got["message"]
    [msg] = await api.mail.wait("taken@example.test")
    assert msg["Subject"] == "Someone tried to sign up with your address"
    err = await call(
        api.client(),
        "POST",
        "/api/v1/signup",
        400,
        json={"name": "Y", "email": "y@example.test", "password": "short"},
    )
    assert "password" in err["error"]["message"]
    err = await call(
        api.client(),
        "POST",
        "/api/v1/signup",
        400,
        json={"name": "Y", "email": "not-an-address", "password": "correct horse battery"},
    )
    assert "e-mail" in err["error"]["message"]


async def test_password_is_stored_as_argon2_and_login_works(api):
    await signup(api, "argon@example.test")
    async with api.app[keys.DB].read() as s:
        user = await s.scalar(select(User).where(User.email == "argon@example.test"))
    assert user.password_hash.startswith("$argon2id$") and "correct horse" not in user.password_hash
    http = api.client()
    err = await call(
        http, "POST", "/api/v1/session", 401, json={"email": "argon@example.test", "password": "wrong!"}
    )
    assert err["error"]["code"] == "unauthorized"
    await call(http, "GET", "/api/v1/me", 401)
    me = await call(
        http,
        "POST",
        "/api/v1/session",
        200,
        json={"email": "Argon@Example.test", "password": "correct horse battery"},
    )
    assert me["user"]["email"] == "argon@example.test"
    assert (await call(http, "GET", "/api/v1/me", 200))["role"] == "main"  # the session cookie works
    await call(http, "DELETE", "/api/v1/session", 204)
    await call(http, "GET", "/api/v1/me", 401)


async def test_api_keys_authenticate_the_api_and_can_be_revoked(api):
    http, me = await signup(api)
    created = await call(http, "POST", "/api/v1/api-keys", 201, json={"name": "CRM"})
    assert created["key"].startswith("msk_") and created["prefix"] == created["key"][:12]
    listed = await call(http, "GET", "/api/v1/api-keys", 200)
    assert [k["name"] for k in listed["items"]] == ["CRM"] and "key" not in listed["items"][0]
    bot = api.client(created["key"])
    assert (await call(bot, "GET", "/api/v1/me", 200))["user"]["id"] == me["user"]["id"]
    await call(api.client("msk_wrong"), "GET", "/api/v1/me", 401)
    await call(api.client(API_KEY), "GET", "/api/v1/me", 401)  # the operator key is no user's key
    await call(http, "DELETE", f"/api/v1/api-keys/{created['id']}", 204)
    await call(bot, "GET", "/api/v1/me", 401)


async def test_trial_expiry_stops_planning_until_a_plan_is_chosen(api):
    """R-ACC-1 (7 days) and R-BILL-2/-4 (trial to paid; never back)."""
    http, me = await signup(api)
    async with api.app[keys.DB].tx() as s:
        await s.execute(
            update(Account)
            .where(Account.id == me["account"]["id"])
            .values(trial_ends_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
        )
    err = await call(
        http, "POST", "/api/v1/events", 402, json={"kind": "permanent", "name": "After the trial"}
    )
    assert err["error"]["code"] == "trial_expired"
    await operator(http, "plan", 200, json={"plan": "mywebinars", "period": "annual"})
    await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Paid now"})
    err = await operator(http, "plan", 400, json={"plan": "trial"})
    assert "plan" in err["error"]["message"]


# ---------------------------------------------------------------- additional users (R-ACC-2)


async def test_additional_users_need_live_or_automated_and_at_most_three(api):
    http, _ = await signup(api)
    err = await call(http, "POST", "/api/v1/users", 402, json={"name": "A", "email": "a1@example.test"})
    assert "Live or Automated" in err["error"]["message"]
    await paid(http, "mywebinars")
    err = await operator(http, "addons", 402, json={"addon": "extra_users", "quantity": 1})
    assert "Live or Automated" in err["error"]["message"]
    await paid(http, "live")
    err = await operator(http, "addons", 409, json={"addon": "extra_users", "quantity": 4})
    assert "3" in err["error"]["message"]
    await operator(http, "addons", 200, json={"addon": "extra_users", "quantity": 3})
    for n in range(3):
        user = await call(
            http, "POST", "/api/v1/users", 201, json={"name": f"U{n}", "email": f"u{n}@example.test"}
        )
        assert user["role"] == "additional" and not user["active"]
    err = await call(http, "POST", "/api/v1/users", 409, json={"name": "U4", "email": "u4@example.test"})
    assert err["error"]["code"] == "limit_reached"
    assert len((await call(http, "GET", "/api/v1/users", 200))["items"]) == 4  # the owner and three


async def test_additional_user_activates_from_the_mail_and_shares_the_account(api):
    http, owner = await signup(api)
    await paid(http, "live", extra_users=1)
    await call(http, "POST", "/api/v1/users", 201, json={"name": "Ivan", "email": "ivan@example.test"})
    [msg] = await api.mail.wait("ivan@example.test")
    assert "Activate" in msg["Subject"]
    token = link_token(msg)
    assert text_of(msg).count("http://meet.example.test/dashboard#activate=") == 1
    await call(
        api.client(),
        "POST",
        "/api/v1/session",
        401,
        json={"email": "ivan@example.test", "password": "not set yet at all"},
    )
    ivan = api.client()
    me = await call(
        ivan, "POST", "/api/v1/activate", 200, json={"token": token, "password": "ivan's password"}
    )
    assert me["role"] == "additional" and me["account"]["id"] == owner["account"]["id"]
    await call(
        api.client(), "POST", "/api/v1/activate", 400, json={"token": token, "password": "again and again"}
    )
    # his own events in the shared account; the owner sees them too, he does not see the owner's
    mine = await call(ivan, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Ivan's"})
    theirs = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Owner's"})
    assert {e["name"] for e in (await call(http, "GET", "/api/v1/events", 200))["items"]} == {
        "Ivan's",
        "Owner's",
    }
    assert [e["name"] for e in (await call(ivan, "GET", "/api/v1/events", 200))["items"]] == ["Ivan's"]
    await call(ivan, "PATCH", f"/api/v1/events/{theirs['id']}", 404, json={"name": "mine now"})
    await call(http, "PATCH", f"/api/v1/events/{mine['id']}", 200, json={"name": "Ivan's (checked)"})
    # removing him removes his events
    await call(http, "DELETE", f"/api/v1/users/{me['user']['id']}", 204)
    await call(ivan, "GET", "/api/v1/me", 401)
    assert [e["name"] for e in (await call(http, "GET", "/api/v1/events", 200))["items"]] == ["Owner's"]


# ---------------------------------------------------------------- sub-accounts (R-ACC-3)


async def _sub(api, http, email_addr="sub@example.test", page="Sales team", package="small"):
    sub = await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": page, "userName": "Sergei", "email": email_addr, "package": package},
    )
    [msg] = await api.mail.wait(email_addr)
    client = api.client()
    me = await call(
        client,
        "POST",
        "/api/v1/activate",
        200,
        json={"token": link_token(msg), "password": "sub-account password"},
    )
    return sub, client, me


async def test_subaccounts_are_bought_created_and_activated_by_mail(api):
    http, owner = await signup(api)
    err = await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        409,
        json={"pageName": "P", "userName": "U", "email": "none@example.test"},
    )
    assert "sub_accounts" in err["error"]["message"]
    await paid(http, "mywebinars", sub_accounts=1)
    sub, client, me = await _sub(api, http, package="medium")
    assert sub["storageMb"] == 1024 and sub["user"]["active"] is False
    assert me["role"] == "sub" and me["account"]["kind"] == "sub" and me["account"]["id"] == sub["id"]
    assert me["limits"]["storage_mb"] == 1024
    # its own, separate data: neither side sees the other's events
    await call(client, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Sub's own"})
    await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Main's own"})
    assert [e["name"] for e in (await call(client, "GET", "/api/v1/events", 200))["items"]] == ["Sub's own"]
    assert [e["name"] for e in (await call(http, "GET", "/api/v1/events", 200))["items"]] == ["Main's own"]
    # one level only: the sub-account cannot have sub-accounts
    err = await call(
        client,
        "POST",
        "/api/v1/subaccounts",
        403,
        json={"pageName": "Deeper", "userName": "U", "email": "deeper@example.test"},
    )
    assert "main account" in err["error"]["message"]


async def test_main_account_edits_changes_package_and_logs_in_as_a_subaccount(api):
    http, owner = await signup(api)
    await paid(http, "mywebinars", sub_accounts=1)
    sub, client, _ = await _sub(api, http)
    changed = await call(
        http,
        "PATCH",
        f"/api/v1/subaccounts/{sub['id']}",
        200,
        json={"pageName": "Sales EU", "userName": "Sergei P.", "package": "large"},
    )
    assert (changed["pageName"], changed["user"]["name"], changed["storageMb"]) == (
        "Sales EU",
        "Sergei P.",
        2048,
    )
    assert (await call(client, "GET", "/api/v1/me", 200))["limits"]["storage_mb"] == 2048
    await call(
        client, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Seen when logged in as"}
    )
    me = await call(http, "POST", f"/api/v1/subaccounts/{sub['id']}/login-as", 200)
    assert me["role"] == "sub" and me["impersonatedBy"] == owner["user"]["id"]
    assert [e["name"] for e in (await call(http, "GET", "/api/v1/events", 200))["items"]] == [
        "Seen when logged in as"
    ]
    await call(http, "GET", "/api/v1/billing", 403)  # acting as the sub-account: no billing


async def test_deleting_a_subaccount_needs_confirmation_removes_its_data_and_keeps_the_addon(api):
    http, _ = await signup(api)
    await paid(http, "mywebinars", sub_accounts=1)
    sub, client, me = await _sub(api, http)
    ev = await call(client, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Doomed"})
    await call(
        client, "POST", "/api/v1/contacts", 201, json={"name": "Doomed contact", "email": "d@example.test"}
    )
    err = await call(http, "DELETE", f"/api/v1/subaccounts/{sub['id']}", 409, json={"confirm": "yes"})
    assert err["error"]["code"] == "confirmation_required" and "Sales team" in err["error"]["message"]
    await call(http, "DELETE", f"/api/v1/subaccounts/{sub['id']}", 204, json={"confirm": "Sales team"})
    await call(client, "GET", "/api/v1/me", 401)
    async with api.app[keys.DB].read() as s:
        assert await s.get(Account, sub["id"]) is None and await s.get(Event, ev["id"]) is None
        assert await s.scalar(select(User).where(User.email == "sub@example.test")) is None
    assert (await call(http, "GET", "/api/v1/subaccounts", 200))["items"] == []
    # the add-on was not cancelled: the slot takes a new sub-account
    await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": "Second", "userName": "New", "email": "new-sub@example.test"},
    )


async def test_reassigning_a_subaccount_deletes_the_user_and_data_and_invites_a_new_one(api):
    http, _ = await signup(api)
    await paid(http, "mywebinars", sub_accounts=1)
    sub, old, _ = await _sub(api, http, package="medium")
    await call(old, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Old user's"})
    await call(
        http,
        "POST",
        f"/api/v1/subaccounts/{sub['id']}/reassign",
        409,
        json={"confirm": "nope", "userName": "Nina", "email": "nina@example.test"},
    )
    new = await call(
        http,
        "POST",
        f"/api/v1/subaccounts/{sub['id']}/reassign",
        200,
        json={"confirm": "Sales team", "userName": "Nina", "email": "nina@example.test"},
    )
    assert (
        new["pageName"] == "Sales team"
        and new["package"] == "medium"
        and new["user"]["email"] == "nina@example.test"
    )
    assert new["id"] == sub["id"]  # the same sub-account, with a new user
    await call(old, "GET", "/api/v1/me", 401)
    [msg] = await api.mail.wait("nina@example.test")
    nina = api.client()
    await call(
        nina, "POST", "/api/v1/activate", 200, json={"token": link_token(msg), "password": "nina's password"}
    )
    assert (await call(nina, "GET", "/api/v1/events", 200))["items"] == []


async def test_account_settings_personal_data_signature_language_branding_autorecord(api):
    """R-ACC-5."""
    http, _ = await signup(api)
    got = await call(
        http,
        "PATCH",
        "/api/v1/account/settings",
        200,
        json={
            "name": "Olga P.",
            "language": "ru",
            "signature": "Olga, ACME",
            "autoRecord": True,
            "branding": {"logo": "https://cdn.example.test/logo.png", "colors": {"primary": "#112233"}},
        },
    )
    assert got == {
        "name": "Olga P.",
        "language": "ru",
        "signature": "Olga, ACME",
        "autoRecord": True,
        "branding": {"logo": "https://cdn.example.test/logo.png", "colors": {"primary": "#112233"}},
    }
    await call(
        http, "PATCH", "/api/v1/account/settings", 400, json={"branding": {"colors": {"primary": "red"}}}
    )
    assert (await call(http, "GET", "/api/v1/me", 200))["account"]["language"] == "ru"


async def test_downgrade_below_live_switches_additional_users_off_and_back_on(api):
    """R-ACC-2 needs Live or Automated. The original lets the main account move down to "any available paid
    plan" (seed FAQ), so the move is not refused: the additional users are switched off (no sign-in, sessions
    and API keys stop, pending invitations cannot be activated) with their events kept, and come back on
    Live or Automated."""
    http, owner = await signup(api)
    await paid(http, "live", extra_users=2)
    await call(http, "POST", "/api/v1/users", 201, json={"name": "Ivan", "email": "ivan@example.test"})
    await call(http, "POST", "/api/v1/users", 201, json={"name": "Pending", "email": "pending@example.test"})
    ivan = api.client()
    me = await call(
        ivan,
        "POST",
        "/api/v1/activate",
        200,
        json={
            "token": link_token((await api.mail.wait("ivan@example.test"))[0]),
            "password": "ivan's password",
        },
    )
    ivan_key = api.client((await call(ivan, "POST", "/api/v1/api-keys", 201, json={"name": "CRM"}))["key"])
    ev = await call(ivan, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Ivan's webinar"})

    down = await operator(http, "plan", 200, json={"plan": "mywebinars_pro"})
    assert down["plan"] == "mywebinars_pro" and "1 additional user(s) switched off" in down["notice"]
    await call(ivan, "GET", "/api/v1/me", 401)
    await call(ivan_key, "GET", "/api/v1/me", 401)
    err = await call(
        api.client(),
        "POST",
        "/api/v1/session",
        401,
        json={"email": "ivan@example.test", "password": "ivan's password"},
    )
    assert "Live or Automated" in err["error"]["message"]
    err = await call(
        api.client(),
        "POST",
        "/api/v1/activate",
        402,
        json={
            "token": link_token((await api.mail.wait("pending@example.test"))[0]),
            "password": "pending password",
        },
    )
    assert "Live or Automated" in err["error"]["message"]
    users = {u["email"]: u for u in (await call(http, "GET", "/api/v1/users", 200))["items"]}
    assert (users["ivan@example.test"]["active"], users["pending@example.test"]["active"]) == (False, False)
    # his event stays with the account, under the main account's eyes
    assert (await call(http, "GET", f"/api/v1/events/{ev['id']}", 200))["name"] == "Ivan's webinar"
    again = await operator(http, "plan", 200, json={"plan": "mywebinars"})
    assert again["notice"] is None  # nobody left to switch off

    up = await operator(http, "plan", 200, json={"plan": "automated"})
    assert "1 additional user(s) switched back on" in up["notice"]
    assert (await call(ivan_key, "GET", "/api/v1/me", 200))["user"]["id"] == me["user"]["id"]
    back = api.client()
    await call(
        back,
        "POST",
        "/api/v1/session",
        200,
        json={"email": "ivan@example.test", "password": "ivan's password"},
    )
    assert [e["name"] for e in (await call(back, "GET", "/api/v1/events", 200))["items"]] == [
        "Ivan's webinar"
    ]
    await call(
        api.client(),
        "POST",
        "/api/v1/activate",
        200,
        json={
            "token": link_token((await api.mail.wait("pending@example.test"))[0]),
            "password": "pending password",
        },
    )


# ---------------------------------------------------------------- deleting a sub-account (R-ACC-3)


async def _holdings(api, http, client, account_id: int, tag: str) -> dict:
    """Give an account a contact in a group, an event, a library file, an unfinished upload and a recording
    (a row with its WebM in the library, as the recorder leaves it); returns what was made."""
    contact = await call(
        client,
        "POST",
        "/api/v1/contacts",
        201,
        json={"name": f"{tag} contact", "email": f"{tag}-c@example.test"},
    )
    group = await call(client, "POST", "/api/v1/groups", 201, json={"name": f"{tag} group"})
    await call(
        client, "POST", f"/api/v1/groups/{group['id']}/members", 200, json={"contactIds": [contact["id"]]}
    )
    event = await call(
        client, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": f"{tag} event"}
    )
    await _upload(client, f"{tag}.pdf", b"%PDF-1.4 " + tag.encode())
    # a PDF is a document (issue 17): wait until its check is over, so its folder is there before `stored`
    pdf = next(
        f for f in (await call(client, "GET", "/api/v1/files", 200))["items"] if f["name"] == f"{tag}.pdf"
    )
    for _ in range(200):
        if (await call(client, "GET", f"/api/v1/files/{pdf['id']}/document", 200))["status"] != "converting":
            break
        await asyncio.sleep(0.05)
    async with client.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Length": "100", "Upload-Metadata": _meta(filename=f"{tag}-half.pdf")},
    ) as r:
        assert r.status == 201
        half = r.headers["Location"]
    await tus_send(client, half, b"%PDF-half")
    files_dir = Path(api.settings.files_dir) / "uploads"
    webm = b"\x1aE\xdf\xa3 webm of " + tag.encode()
    (files_dir / f"rec-{tag}.bin").write_bytes(webm)
    async with api.app[keys.DB].tx() as s:
        f = LibraryFile(
            account_id=account_id,
            name=f"{tag}.webm",
            size=len(webm),
            status="complete",
            source="recording",
            storage_key=f"rec-{tag}",
        )
        s.add(f)
        await s.flush()
        s.add(
            Recording(
                account_id=account_id,
                event_id=event["id"],
                file_id=f.id,
                name=f"{tag} recording",
                status="ready",
                duration=1.0,
                size=len(webm),
                stop_reason="api",
            )
        )
    recordings = await call(client, "GET", "/api/v1/recordings", 200)
    assert [r["name"] for r in recordings["items"]] == [f"{tag} recording"]
    stored = {p.name for p in files_dir.iterdir()}
    return {
        "contact": contact,
        "group": group,
        "event": event,
        "half": half.rsplit("/", 1)[1],
        "stored": stored,
    }


async def _count(api, model, account_id: int) -> int:
    async with api.app[keys.DB].read() as s:
        return int(
            await s.scalar(select(func.count()).select_from(model).where(model.account_id == account_id))
        )


async def test_deleting_a_subaccount_removes_all_its_data_and_nothing_else(api):
    """R-ACC-3: deleting a sub-account deletes its data irreversibly - contacts, groups, events, library files
    (rows and bytes on disk, also an unfinished upload), recordings - and not the main account's or another
    sub-account's; the add-on stays bought. More than one sub-account can be bought, each with its package's
    storage and recording allowance."""
    http, owner = await signup(api)
    await paid(http, "mywebinars", sub_accounts=2)  # two at once
    await operator(http, "addons", 200, json={"addon": "sub_accounts", "quantity": 1})
    assert (await call(http, "GET", "/api/v1/billing", 200))["addons"]["sub_accounts"] == 3
    doomed, doomed_client, doomed_me = await _sub(api, http, "doomed@example.test", "Doomed team", "large")
    kept, kept_client, _ = await _sub(api, http, "kept@example.test", "Kept team", "medium")
    third = await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": "Third", "userName": "T", "email": "third@example.test"},
    )
    await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        409,
        json={"pageName": "Fourth", "userName": "F", "email": "fourth@example.test"},
    )  # 3 bought, 3 in use
    allowances = {
        s["pageName"]: (s["package"], s["storageMb"], s["recordingMinutes"])
        for s in (await call(http, "GET", "/api/v1/subaccounts", 200))["items"]
    }
    assert allowances == {
        "Doomed team": ("large", 2048, 600),
        "Kept team": ("medium", 1024, 300),
        "Third": ("small", 500, 60),
    }
    assert (doomed_me["limits"]["storage_mb"], doomed_me["limits"]["recording_minutes"]) == (2048, 600)
    await call(doomed_client, "POST", "/api/v1/api-keys", 201, json={"name": "CRM"})

    main_has = await _holdings(api, http, http, owner["account"]["id"], "main")
    kept_has = await _holdings(api, http, kept_client, kept["id"], "kept")
    doomed_has = await _holdings(api, http, doomed_client, doomed["id"], "doomed")
    files_dir = Path(api.settings.files_dir) / "uploads"
    doomed_files = doomed_has["stored"] - kept_has["stored"]
    # library file (a document: its PDF and page images' folder too, issue 17), unfinished upload (bytes,
    # sidecars), WebM
    assert len(doomed_files) == 6, doomed_files

    await call(http, "DELETE", f"/api/v1/subaccounts/{doomed['id']}", 204, json={"confirm": "Doomed team"})
    for model in (Contact, ContactGroup, Event, LibraryFile, Recording, User):
        assert await _count(api, model, doomed["id"]) == 0, model
    async with api.app[keys.DB].read() as s:
        assert await s.get(Account, doomed["id"]) is None
        assert (
            await s.scalar(
                select(func.count())
                .select_from(GroupMember)
                .where(GroupMember.group_id == doomed_has["group"]["id"])
            )
            == 0
        )
        doomed_user = doomed_me["user"]["id"]
        assert (
            await s.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.user_id == doomed_user)) == 0
        )
        assert (
            await s.scalar(select(func.count()).select_from(Session).where(Session.user_id == doomed_user))
            == 0
        )
    left = {p.name for p in files_dir.iterdir()}
    assert left.isdisjoint(doomed_files), left & doomed_files  # the bytes are gone too
    assert main_has["stored"] | kept_has["stored"] <= left | doomed_files and left - doomed_files
    await call(doomed_client, "GET", "/api/v1/me", 401)
    # nothing else went
    for client, tag, half in ((http, "main", main_has["half"]), (kept_client, "kept", kept_has["half"])):
        assert [c["name"] for c in (await call(client, "GET", "/api/v1/contacts", 200))["items"]] == [
            f"{tag} contact"
        ]
        assert [g["name"] for g in (await call(client, "GET", "/api/v1/groups", 200))["items"]] == [
            f"{tag} group"
        ]
        assert [e["name"] for e in (await call(client, "GET", "/api/v1/events", 200))["items"]] == [
            f"{tag} event"
        ]
        assert [r["name"] for r in (await call(client, "GET", "/api/v1/recordings", 200))["items"]] == [
            f"{tag} recording"
        ]
        files = (await call(client, "GET", "/api/v1/files", 200))["items"]
        assert sorted(f["name"] for f in files if f["status"] == "complete") == [f"{tag}.pdf", f"{tag}.webm"]
        for f in files:
            if f["status"] == "complete":
                async with client.get(f"/api/v1/files/{f['id']}/content") as r:
                    assert r.status == 200 and len(await r.read()) == f["size"]
        async with client.head(f"/api/v1/uploads/{half}", headers=TUS) as r:
            assert r.status == 200 and r.headers["Upload-Offset"] == "9"  # their unfinished upload stays
    # the add-on is not cancelled: its slot takes a new sub-account
    assert (await call(http, "GET", "/api/v1/billing", 200))["addons"]["sub_accounts"] == 3
    assert {s["id"] for s in (await call(http, "GET", "/api/v1/subaccounts", 200))["items"]} == {
        kept["id"],
        third["id"],
    }
    await call(
        http,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": "Fourth", "userName": "F", "email": "fourth@example.test"},
    )
