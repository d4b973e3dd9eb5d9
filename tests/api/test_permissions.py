"""The permission matrix of the account API (R-ACC-2, -3, -4), on SQLite and PostgreSQL, through HTTP: every
/api/v1 operation of the accounts, users, sub-accounts and billing parts of the served OpenAPI document, for
each role - the main account (session and API key), an additional user (session and API key), a sub-account
user (session and API key), the main account logged in as the sub-account, an attendee holding a join token
or an invitation token as Bearer, and nobody. The operations come from the served document, so a new one
without a row here fails the test. And: attendees' tokens reach no operation of the whole account API; /me
shows the billing data to the main account only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.api.conftest import OPERATOR, call, link_token

TAGS = {"accounts", "users", "subaccounts", "billing"}
ROLES = (
    "additional",
    "additional_key",
    "sub",
    "sub_key",
    "login_as",
    "attendee_join",
    "attendee_invite",
    "anonymous",
    "main_key",
    "main",
)  # the refused first: nothing they try may change anything
OUTSIDERS = ("attendee_join", "attendee_invite", "anonymous")
TUS = {"Tus-Resumable": "1.0.0"}


@dataclass
class World:
    """Who is who: each role as the headers it sends, and the objects the operations aim at."""

    http: aiohttp.ClientSession  # keeps no cookies: each call says who it is
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    ids: dict[str, Any] = field(default_factory=dict)

    async def do(self, role: str, method: str, path: str, status: int, body: Any = None) -> Any:
        return await call(
            self.http,
            method,
            path,
            status,
            headers=self.headers[role],
            **({"json": body} if body is not None else {}),
        )


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.test"


async def _cookie(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    body: Any,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> tuple[str, Any]:
    """Call and return the session cookie the answer sets."""
    async with http.request(method, path, json=body, headers=headers) as r:
        got = await r.json()
        assert r.status == status, (path, r.status, got)
        return r.cookies["ms_session"].value, got


async def _activated(api: Any, http: aiohttp.ClientSession, addr: str) -> str:
    [msg] = await api.mail.wait(addr)
    token, _ = await _cookie(
        http, "POST", "/api/v1/activate", {"token": link_token(msg), "password": "a good password"}
    )
    return token


async def _world(api: Any) -> World:
    http = aiohttp.ClientSession(base_url=api.base_url, cookie_jar=aiohttp.DummyCookieJar())
    api.sessions.append(http)
    w = World(http)
    main_email = _unique("owner")
    await call(http, "POST", "/api/v1/signup", 202, json={"name": "Olga", "email": main_email})
    [signed_up] = await api.mail.wait(main_email)
    api.mail.messages.remove(signed_up)  # the activation link of the sign-up (issue 14 finding 22)
    token, me = await _cookie(
        http,
        "POST",
        "/api/v1/activate",
        {"token": link_token(signed_up), "password": "correct horse battery"},
    )
    w.headers["main"] = {"Cookie": f"ms_session={token}"}
    w.ids["main_email"] = main_email
    w.ids["main_account"] = me["account"]["id"]
    # issue 14 finding 1: the operator (the server's api_key) sets the plan and the add-ons
    w.headers["operator"] = OPERATOR
    admin = f"/api/v1/admin/accounts/{me['account']['id']}/billing"
    await w.do("operator", "POST", f"{admin}/plan", 200, {"plan": "live"})
    for addon, quantity in (("extra_users", 3), ("sub_accounts", 4)):
        await w.do("operator", "POST", f"{admin}/addons", 200, {"addon": addon, "quantity": quantity})

    async def key_of(role: str) -> str:
        return (await w.do(role, "POST", "/api/v1/api-keys", 201, {"name": role}))["key"]

    w.headers["main_key"] = {"Authorization": f"Bearer {await key_of('main')}"}
    w.ids["spare_keys"] = [
        (await w.do("main", "POST", "/api/v1/api-keys", 201, {"name": f"spare {n}"}))["id"] for n in range(2)
    ]
    # an activated additional user and two invited ones (the targets of removing a user)
    await w.do("main", "POST", "/api/v1/users", 201, {"name": "Ivan", "email": "add@example.test"})
    w.headers["additional"] = {"Cookie": f"ms_session={await _activated(api, http, 'add@example.test')}"}
    w.headers["additional_key"] = {"Authorization": f"Bearer {await key_of('additional')}"}
    w.ids["spare_users"] = [
        (
            await w.do(
                "main",
                "POST",
                "/api/v1/users",
                201,
                {"name": f"Spare {n}", "email": f"spare-user-{n}@example.test"},
            )
        )["id"]
        for n in range(2)
    ]
    # an activated sub-account; three invited ones to delete (two) and reassign (one)
    sub = await w.do(
        "main",
        "POST",
        "/api/v1/subaccounts",
        201,
        {"pageName": "Sub", "userName": "Sergei", "email": "subuser@example.test"},
    )
    w.ids["sub"] = sub["id"]
    w.headers["sub"] = {"Cookie": f"ms_session={await _activated(api, http, 'subuser@example.test')}"}
    w.headers["sub_key"] = {"Authorization": f"Bearer {await key_of('sub')}"}
    w.ids["doomed"] = [
        (
            await w.do(
                "main",
                "POST",
                "/api/v1/subaccounts",
                201,
                {"pageName": f"Doomed {n}", "userName": "D", "email": f"doomed-{n}@example.test"},
            )
        )["id"]
        for n in range(2)
    ]
    w.ids["reassigned"] = (
        await w.do(
            "main",
            "POST",
            "/api/v1/subaccounts",
            201,
            {"pageName": "Reassigned", "userName": "R", "email": "reassigned@example.test"},
        )
    )["id"]
    token, me = await _cookie(
        http, "POST", f"/api/v1/subaccounts/{sub['id']}/login-as", None, headers=w.headers["main"]
    )
    assert me["role"] == "sub" and me["impersonatedBy"] is not None
    w.headers["login_as"] = {"Cookie": f"ms_session={token}"}
    # attendees: a join token of an open event and an invitee's personal token, sent as Bearer
    ev = await w.do("main", "POST", "/api/v1/events", 201, {"kind": "instant", "name": "Open"})
    joined = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "Guest", "email": "guest@example.test"},
    )
    invited = await w.do(
        "main", "POST", f"/api/v1/events/{ev['id']}/invitations", 201, {"emails": ["invitee@example.test"]}
    )
    assert joined["token"] and invited["items"][0]["token"]
    w.headers["attendee_join"] = {"Authorization": f"Bearer {joined['token']}"}
    w.headers["attendee_invite"] = {"Authorization": f"Bearer {invited['items'][0]['token']}"}
    w.headers["anonymous"] = {}
    w.ids["room"] = ev["roomId"]
    return w


# ---------------------------------------------------------------- the matrix

Spec = Callable[[World, str], tuple[str, Any]]  # (path, body) for a role


def same(path: str, body: Any = None) -> Spec:
    return lambda w, role: (path, body)


def by_main(pick: Callable[[World, int], tuple[str, Any]]) -> Spec:
    """The main account's two identities act on two different targets (index 0 for its key, 1 for its
    session); everyone else aims at the first one, which they must not reach."""
    return lambda w, role: pick(w, 1 if role == "main" else 0)


def statuses(
    main: int,
    additional: int,
    sub: int,
    login_as: int | None = None,
    outsider: int = 401,
) -> dict[str, int]:
    return {
        "main": main,
        "main_key": main,
        "additional": additional,
        "additional_key": additional,
        "sub": sub,
        "sub_key": sub,
        "login_as": sub if login_as is None else login_as,
        **{r: outsider for r in OUTSIDERS},
    }


def everyone(status: int) -> dict[str, int]:
    return {r: status for r in ROLES}


# (method, path) -> (the request each role makes, the status each role gets). In run order: removing a user or
# a sub-account before adding one (the add-ons bought have room for exactly that), signing out last.
MATRIX: dict[tuple[str, str], tuple[Spec, dict[str, int]]] = {
    # public: who calls does not matter (they set a cookie of their own, kept by nobody here)
    ("POST", "/api/v1/signup"): (
        lambda w, role: (
            "/api/v1/signup",
            {"name": "New", "email": _unique(role.replace("_", "-")), "password": "correct horse battery"},
        ),
        everyone(202),
    ),
    ("POST", "/api/v1/session"): (
        lambda w, role: (
            "/api/v1/session",
            {"email": w.ids["main_email"], "password": "correct horse battery"},
        ),
        everyone(200),
    ),
    ("POST", "/api/v1/activate"): (
        same("/api/v1/activate", {"token": "not-a-token", "password": "long enough!"}),
        everyone(400),
    ),
    # issue 20: a password reset asks nobody who they are: the same answers for everyone
    ("POST", "/api/v1/password-reset"): (
        lambda w, role: ("/api/v1/password-reset", {"email": _unique(role.replace("_", "-"))}),
        everyone(202),
    ),
    ("POST", "/api/v1/password-reset/confirm"): (
        same("/api/v1/password-reset/confirm", {"token": "1.2.not-a-mac", "password": "long enough!"}),
        everyone(400),
    ),
    # everyone with an account
    ("GET", "/api/v1/me"): (same("/api/v1/me"), statuses(200, 200, 200)),
    ("GET", "/api/v1/account/settings"): (same("/api/v1/account/settings"), statuses(200, 200, 200)),
    ("PATCH", "/api/v1/account/settings"): (
        same("/api/v1/account/settings", {"signature": "Regards"}),
        statuses(200, 403, 200),
    ),
    ("POST", "/api/v1/api-keys"): (
        same("/api/v1/api-keys", {"name": "matrix"}),
        statuses(201, 201, 201, 403),
    ),
    ("GET", "/api/v1/api-keys"): (same("/api/v1/api-keys"), statuses(200, 200, 200)),
    ("DELETE", "/api/v1/api-keys/{id}"): (
        by_main(lambda w, i: (f"/api/v1/api-keys/{w.ids['spare_keys'][i]}", None)),
        statuses(204, 404, 404),
    ),  # not theirs
    # the main account only (R-ACC-2, -3, -4)
    ("GET", "/api/v1/users"): (same("/api/v1/users"), statuses(200, 403, 403)),
    ("DELETE", "/api/v1/users/{id}"): (
        by_main(lambda w, i: (f"/api/v1/users/{w.ids['spare_users'][i]}", None)),
        statuses(204, 403, 403),
    ),
    ("POST", "/api/v1/users"): (
        lambda w, role: ("/api/v1/users", {"name": "N", "email": _unique("new-user")}),
        statuses(201, 403, 403),
    ),
    ("GET", "/api/v1/subaccounts"): (same("/api/v1/subaccounts"), statuses(200, 403, 403)),
    ("GET", "/api/v1/subaccounts/{id}"): (
        lambda w, role: (f"/api/v1/subaccounts/{w.ids['sub']}", None),
        statuses(200, 403, 403),
    ),
    ("PATCH", "/api/v1/subaccounts/{id}"): (
        lambda w, role: (f"/api/v1/subaccounts/{w.ids['sub']}", {"package": "medium"}),
        statuses(200, 403, 403),
    ),
    ("DELETE", "/api/v1/subaccounts/{id}"): (
        by_main(lambda w, i: (f"/api/v1/subaccounts/{w.ids['doomed'][i]}", {"confirm": f"Doomed {i}"})),
        statuses(204, 403, 403),
    ),
    ("POST", "/api/v1/subaccounts"): (
        lambda w, role: (
            "/api/v1/subaccounts",
            {"pageName": "New", "userName": "N", "email": _unique("new-sub")},
        ),
        statuses(201, 403, 403),
    ),
    ("POST", "/api/v1/subaccounts/{id}/reassign"): (
        lambda w, role: (
            f"/api/v1/subaccounts/{w.ids['reassigned']}/reassign",
            {"confirm": "Reassigned", "userName": "R2", "email": _unique("reassigned")},
        ),
        statuses(200, 403, 403),
    ),
    ("POST", "/api/v1/subaccounts/{id}/login-as"): (
        lambda w, role: (f"/api/v1/subaccounts/{w.ids['sub']}/login-as", None),
        statuses(200, 403, 403),
    ),
    ("GET", "/api/v1/billing"): (same("/api/v1/billing"), statuses(200, 403, 403)),
    # issue 14 finding 1: plans and add-ons are the operator's (the server's api_key), whom no role here is
    ("POST", "/api/v1/billing/plan"): (
        same("/api/v1/billing/plan", {"plan": "live"}),
        statuses(403, 403, 403),
    ),
    ("POST", "/api/v1/billing/addons"): (
        same("/api/v1/billing/addons", {"addon": "parallel_sessions"}),
        statuses(403, 403, 403),
    ),
    ("GET", "/api/v1/admin/accounts/{id}/billing"): (
        lambda w, role: (f"/api/v1/admin/accounts/{w.ids['main_account']}/billing", None),
        everyone(401),
    ),
    ("POST", "/api/v1/admin/accounts/{id}/billing/plan"): (
        lambda w, role: (f"/api/v1/admin/accounts/{w.ids['main_account']}/billing/plan", {"plan": "live"}),
        everyone(401),
    ),
    ("POST", "/api/v1/admin/accounts/{id}/billing/addons"): (
        lambda w, role: (
            f"/api/v1/admin/accounts/{w.ids['main_account']}/billing/addons",
            {"addon": "parallel_sessions"},
        ),
        everyone(401),
    ),
    ("DELETE", "/api/v1/session"): (same("/api/v1/session"), statuses(204, 204, 204)),
}


async def _served_operations(w: World, tags: set[str] | None) -> dict[tuple[str, str], dict]:
    async with w.http.get("/openapi.json") as r:
        doc = await r.json()
    return {
        (method.upper(), path): op
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if path.startswith("/api/v1/") and (tags is None or set(op.get("tags", ())) & tags)
    }


# the matrix sends many wrong keys on purpose: they count against the address's sign-in budget (issue 14)
@pytest.mark.parametrize("api", [{"rate_limit_login": "5000/minute;50000/hour"}], indirect=True)
async def test_permission_matrix_of_the_account_api(api):
    """Each operation for each role; a refusal changes nothing, so the refused roles go first."""
    w = await _world(api)
    served = await _served_operations(w, TAGS)
    assert set(MATRIX) == set(served), (
        "operations without a row here",
        set(served) - set(MATRIX),
        "rows of operations that are gone",
        set(MATRIX) - set(served),
    )
    for role in ROLES:
        for (method, _), (spec, want) in MATRIX.items():
            path, body = spec(w, role)
            got = await w.do(role, method, path, want[role], body)
            if want[role] == 403 and ("billing" in path or "users" in path or "subaccounts" in path):
                expected = "operator" if role in ("main", "main_key") else "main account"
                assert expected in got["error"]["message"], (role, method, path, got)
    # what the main account did took effect; what the others tried did not
    billing = await w.do("main_key", "GET", "/api/v1/billing", 200)
    assert "parallel_sessions" not in billing["addons"]  # nobody but the operator adds add-ons
    assert len((await w.do("main_key", "GET", "/api/v1/subaccounts", 200))["items"]) == 4
    users = (await w.do("main_key", "GET", "/api/v1/users", 200))["items"]
    assert {u["id"] for u in users}.isdisjoint(w.ids["spare_users"]) and len(users) == 4
    # signed out: the sessions are gone, the API keys still work
    for role in ("main", "additional", "sub", "login_as"):
        await w.do(role, "GET", "/api/v1/me", 401)
    for role in ("additional_key", "sub_key"):
        await w.do(role, "GET", "/api/v1/me", 200)


# the matrix sends many wrong keys on purpose: they count against the address's sign-in budget (issue 14)
@pytest.mark.parametrize("api", [{"rate_limit_login": "5000/minute;50000/hour"}], indirect=True)
async def test_attendee_tokens_reach_nothing_of_the_account_api(api):
    """R-ACC-4 and issue 7: a join token or an invitation token sent as Bearer (or as the session cookie)
    is no account's key: every operation that needs a signed-in user answers 401, before looking at the
    body."""
    w = await _world(api)
    served = await _served_operations(w, None)
    # the operations only an account may call (room operations that also take a join token, such as uploading
    # into the room as its host or presenter, are the room's, not the account API)
    guarded = {
        k: op
        for k, op in served.items()
        if op.get("security") and all(set(s) and set(s) <= {"accountKey", "session"} for s in op["security"])
    }
    assert (
        len(guarded) > 50 and ("GET", "/api/v1/events") in guarded and ("POST", "/api/v1/uploads") in guarded
    )
    tokens = [
        w.headers["attendee_join"]["Authorization"][7:],
        w.headers["attendee_invite"]["Authorization"][7:],
    ]
    for method, path in sorted(guarded):
        url = (
            path.replace("{roomId}", w.ids["room"])
            .replace("{id}", str(w.ids["sub"]))
            .replace("{paymentId}", "1")
            .replace("{contactId}", "1")
            .replace("{sessionId}", "1")
            .replace("{messageId}", "1")
            .replace("{pollId}", "1")
            .replace("{page}", "1")
            .replace("{upload_id}", "x")
        )
        for token in tokens:
            for headers in ({"Authorization": f"Bearer {token}"}, {"Cookie": f"ms_session={token}"}):
                if path.startswith("/api/v1/uploads"):  # a well-formed tus request
                    kw: dict[str, Any] = {
                        "data": b"x",
                        "headers": {
                            **headers,
                            **TUS,
                            "Upload-Length": "1",
                            "Upload-Offset": "0",
                            "Upload-Metadata": "filename YS5wZGY=",
                            "Content-Type": "application/offset+octet-stream",
                        },
                    }
                else:
                    kw = {"json": {}, "headers": headers}
                async with w.http.request(method, url, **kw) as r:
                    assert r.status == 401, (method, path, r.status, await r.text())
    # and the same token still works where it belongs: the room
    await call(w.http, "GET", f"/api/v1/public/events/{w.ids['room']}", 200)


async def test_me_shows_billing_data_to_the_main_account_only(api):
    """R-ACC-4 (seed FAQ: additional and sub-account users "не могут просматривать данные для выставления
    счетов"): the plan, its end date and the sub-account's package are the main account's to see; the working
    limits stay for everyone."""
    w = await _world(api)
    me = await w.do("main", "GET", "/api/v1/me", 200)
    assert me["account"]["plan"] == "live" and me["limits"]["additional_users"] is True
    for role in ("additional", "additional_key", "sub", "sub_key", "login_as"):
        me = await w.do(role, "GET", "/api/v1/me", 200)
        assert (me["account"]["plan"], me["account"]["package"], me["account"]["trialEndsAt"]) == (
            None,
            None,
            None,
        )
        assert "additional_users" not in me["limits"], role
        assert me["limits"]["storage_mb"] > 0 and me["limits"]["attendees"] > 0
    assert (await w.do("sub_key", "GET", "/api/v1/me", 200))["limits"]["storage_mb"] == 500  # its own package


async def test_api_keys_act_with_their_users_rights_only(api):
    """An additional user's key sees their own events, not the main account's; a sub-account user's key
    sees the sub-account's only."""
    w = await _world(api)
    await w.do("additional", "POST", "/api/v1/events", 201, {"kind": "permanent", "name": "Ivan's"})
    await w.do("sub", "POST", "/api/v1/events", 201, {"kind": "permanent", "name": "Sub's"})
    names = {
        role: sorted(e["name"] for e in (await w.do(role, "GET", "/api/v1/events", 200))["items"])
        for role in ("main_key", "additional_key", "sub_key")
    }
    assert names == {"main_key": ["Ivan's", "Open"], "additional_key": ["Ivan's"], "sub_key": ["Sub's"]}
    await w.do("additional_key", "GET", "/api/v1/webhooks", 403)
    await w.do("sub_key", "GET", "/api/v1/webhooks", 200)  # the sub-account's own integrations
