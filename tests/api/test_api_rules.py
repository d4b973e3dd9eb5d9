"""The HTTP API's own rules (R-API-1, -2), on SQLite and PostgreSQL: API keys, idempotency keys, pagination,
JSON errors, webhooks signed with HMAC, retried with back-off and logged; and the permission matrix of R-ACC-4
(main account, additional user, sub-account user, attendee)."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import time

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select, update

from mediaserver.outbox import webhooks
from mediaserver.store.models import IdempotencyKey
from signaling import keys
from tests.api.conftest import OPERATOR, call, hook_receiver, link_token, loopback, operator, paid, signup


async def test_idempotency_key_replays_the_first_response_and_refuses_reuse(api):
    http, _ = await signup(api)
    key = {"Idempotency-Key": "create-launch-1"}
    body = {"kind": "permanent", "name": "Launch"}
    async with http.post("/api/v1/events", json=body, headers=key) as r:
        assert r.status == 201 and "Idempotent-Replayed" not in r.headers
        first = await r.json()
    async with http.post("/api/v1/events", json=body, headers=key) as r:
        assert r.status == 201 and r.headers["Idempotent-Replayed"] == "true"
        assert await r.json() == first
    err = await call(http, "POST", "/api/v1/events", 422, json={**body, "name": "Other"}, headers=key)
    assert err["error"]["code"] == "idempotency_key_reused"
    assert (await call(http, "GET", "/api/v1/events", 200))["total"] == 1
    # keys belong to their user: another user's same key is a new request
    other, _ = await signup(api)
    await call(other, "POST", "/api/v1/events", 201, json=body, headers=key)
    await call(http, "POST", "/api/v1/events", 400, json=body, headers={"Idempotency-Key": "x" * 256})


async def test_concurrent_retries_with_one_idempotency_key_create_once(api):
    http, _ = await signup(api)
    key = {"Idempotency-Key": "burst"}

    async def post():
        async with http.post(
            "/api/v1/contacts", json={"name": "Once", "email": "once@example.test"}, headers=key
        ) as r:
            return r.status, await r.json()

    results = await asyncio.gather(*(post() for _ in range(5)))
    assert {s for s, _ in results} == {201}, results
    assert len({b["id"] for _, b in results}) == 1
    assert (await call(http, "GET", "/api/v1/contacts", 200))["total"] == 1


async def _post(
    http, path: str, status: int, key: str, headers: dict | None = None, **kw
) -> tuple[dict, bool]:
    """POST with an Idempotency-Key: (the JSON answer, whether it was a replay)."""
    async with http.post(path, headers={"Idempotency-Key": key, **(headers or {})}, **kw) as r:
        body = await r.json()
        assert r.status == status, (path, r.status, body)
        return body, r.headers.get("Idempotent-Replayed") == "true"


async def _age_key(api, key: str, hours: float) -> None:
    """Make a stored Idempotency-Key `hours` old (the clock moved on)."""
    async with api.app[keys.DB].tx() as s:
        done = await s.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .values(created_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=hours))
        )
        assert done.rowcount == 1


async def _addons(http) -> str:
    """The operator's add-on path for the account signed in on ``http`` (issue 14 finding 1)."""
    me = await call(http, "GET", "/api/v1/me", 200)
    return f"/api/v1/admin/accounts/{me['account']['id']}/billing/addons"


async def test_retried_addon_purchase_with_one_key_buys_once(api):
    """Issue 7 item 7, R-API-1: adding an add-on adds to the quantity, so a retry without idempotency would
    add twice (the operator adds them since issue 14 finding 1)."""
    http, _ = await signup(api)
    await paid(http, "live")
    addons = await _addons(http)
    buy = {"addon": "extra_storage_mb", "quantity": 500}
    first, replayed = await _post(http, addons, 200, "buy-storage-1", headers=OPERATOR, json=buy)
    assert first["addons"] == {"extra_storage_mb": 500} and not replayed
    # the same JSON value, other spacing and key order: the same request
    again, replayed = await _post(
        http,
        addons,
        200,
        "buy-storage-1",
        data=b'{ "quantity": 500,  "addon": "extra_storage_mb" }',
        headers={"Content-Type": "application/json", **OPERATOR},
    )
    assert again == first and replayed
    err = await operator(
        http,
        "addons",
        422,
        json={**buy, "quantity": 1000},
        headers={"Idempotency-Key": "buy-storage-1"},
    )
    assert err["error"]["code"] == "idempotency_key_reused" and "different request" in err["error"]["message"]
    billing = await call(http, "GET", "/api/v1/billing", 200)
    assert billing["addons"] == {"extra_storage_mb": 500} and billing["limits"]["storage_mb"] == 2048 + 500
    # without a key every POST is a new purchase
    await operator(http, "addons", 200, json=buy)
    assert (await call(http, "GET", "/api/v1/billing", 200))["addons"] == {"extra_storage_mb": 1000}


async def test_idempotency_keys_expire_after_24_hours(api):
    """The OpenAPI document says keys are kept 24 hours: after that the same key is a new request, whatever
    its body; and the dispatcher's sweep removes the old keys."""
    http, _ = await signup(api)
    await paid(http, "live")
    addons = await _addons(http)
    buy = {"addon": "parallel_sessions", "quantity": 1}
    # a public operation's key is stored per path (framework._idempotency_owner)
    stored = "public:" + hashlib.sha256(f"{addons}\nk-expiry".encode()).hexdigest()
    await _post(http, addons, 200, "k-expiry", headers=OPERATOR, json=buy)
    await _age_key(api, stored, 23.9)
    body, replayed = await _post(http, addons, 200, "k-expiry", headers=OPERATOR, json=buy)
    assert replayed and body["addons"] == {"parallel_sessions": 1}  # still kept at 23.9 hours
    await _age_key(api, stored, 24.01)
    body, replayed = await _post(http, addons, 200, "k-expiry", headers=OPERATOR, json=buy)
    assert not replayed and body["addons"] == {"parallel_sessions": 2}  # a new purchase
    body, replayed = await _post(http, addons, 200, "k-expiry", headers=OPERATOR, json=buy)
    assert replayed and body["addons"] == {"parallel_sessions": 2}  # the new answer is kept
    await _age_key(api, stored, 25)
    body, replayed = await _post(http, addons, 200, "k-expiry", headers=OPERATOR, json={**buy, "quantity": 3})
    assert not replayed and body["addons"] == {"parallel_sessions": 5}  # another body is fine then
    # the sweep forgets expired keys and keeps fresh ones
    await _post(http, "/api/v1/contacts", 201, "k-fresh", json={"name": "Fresh"})
    await _age_key(api, stored, 30)
    await api.app[keys.DISPATCHER].sweep()
    async with api.app[keys.DB].read() as s:
        assert set(await s.scalars(select(IdempotencyKey.key))) == {"k-fresh"}


async def test_every_creating_post_takes_an_idempotency_key(api):
    """Every POST of a signed-in user, and every public POST that creates, documents Idempotency-Key in the
    served OpenAPI document; the only exceptions set the session cookie (a replay cannot) or are the
    provider's signed callbacks and the attendee's join, which create nothing twice."""
    async with api.client().get("/openapi.json") as r:
        doc = await r.json()
    exempt = {
        "/api/v1/signup",
        "/api/v1/session",
        "/api/v1/activate",
        # issue 20: a password reset's request mails again (at most a few an hour), its confirmation
        # works once
        "/api/v1/password-reset",
        "/api/v1/password-reset/confirm",
        "/api/v1/subaccounts/{id}/login-as",
        "/api/v1/public/events/{roomId}/join",
        "/api/v1/public/payment-callbacks/{id}",
        "/api/v1/public/events/{roomId}/timeline",  # reads the automated event's timeline
        # the instant rooms and join tokens (no account: the server's API key, or none; their retry makes
        # an unused room or token) and the tus upload creations, whose retry leaves an unused upload that
        # expires (R-FILE-3)
        "/api/v1/rooms",
        "/api/v1/rooms/{roomId}/join",
        "/api/v1/tokens",
        "/api/v1/uploads",
        "/api/v1/rooms/{roomId}/uploads",
        # issue 19: the operator's drain of a node (its API key) makes nothing: a retry drains it again
        "/api/v1/cluster/drain",
    }
    posts = {
        path: ops["post"]
        for path, ops in doc["paths"].items()
        if path.startswith("/api/v1/") and "post" in ops
    }
    for path, op in posts.items():
        takes = any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op.get("parameters", []))
        assert takes == (path not in exempt), path
        if takes:
            assert "422" in op["responses"], path
    for path in (
        "/api/v1/admin/accounts/{id}/billing/addons",
        "/api/v1/recordings/{id}/trim",
        "/api/v1/contacts/import",
        "/api/v1/public/events/{roomId}/tickets",
    ):
        assert path in posts and path not in exempt


async def test_retried_contact_import_with_one_key_imports_once(api):
    """A multipart upload's retry has a new boundary: still the same request."""
    http, _ = await signup(api)
    g = await call(http, "POST", "/api/v1/groups", 201, json={"name": "Imported"})
    csv = "Имя;E-mail\r\nАнна;anna@example.test\r\nБорис;boris@example.test\r\n".encode("cp1251")

    def form(data: bytes) -> aiohttp.FormData:
        f = aiohttp.FormData()
        f.add_field("file", data, filename="contacts.csv", content_type="text/csv")
        return f

    path = f"/api/v1/contacts/import?groupId={g['id']}"
    first, replayed = await _post(http, path, 201, "import-1", data=form(csv))
    assert first["imported"] == 2 and not replayed
    again, replayed = await _post(http, path, 201, "import-1", data=form(csv))
    assert again == first and replayed
    for other_path, data in (
        (path, csv + "Вера;vera@example.test\r\n".encode("cp1251")),
        ("/api/v1/contacts/import", csv),
    ):  # another file, another group
        err = await call(
            http, "POST", other_path, 422, data=form(data), headers={"Idempotency-Key": "import-1"}
        )
        assert err["error"]["code"] == "idempotency_key_reused"
    assert (await call(http, "GET", "/api/v1/contacts", 200))["total"] == 2
    # a new key: the import itself runs again (nobody is added twice by the import's own rule)
    body, replayed = await _post(http, path, 201, "import-2", data=form(csv))
    assert (body["imported"], body["alreadyThere"], replayed) == (0, 2, False)


async def test_retried_public_ticket_order_with_one_key_orders_once(api):
    """A public creating POST (no user): a payer whose answer was lost retries and gets the same order and
    key."""
    from tests.api.test_tickets import organiser

    http, ev, _ = await organiser(api)
    buyer = {"name": "Vera", "email": "vera@example.test"}
    path = f"/api/v1/public/events/{ev['roomId']}/tickets"
    first, replayed = await _post(api.client(), path, 201, "order-vera-7f3a", json=buyer)
    again, replayed2 = await _post(api.client(), path, 201, "order-vera-7f3a", json=buyer)
    assert again == first and first["key"] and not replayed and replayed2
    err = await call(
        api.client(),
        "POST",
        path,
        422,
        json={**buyer, "name": "Other"},
        headers={"Idempotency-Key": "order-vera-7f3a"},
    )
    assert err["error"]["code"] == "idempotency_key_reused"
    # without the key the retry is refused as a second order of the same payer
    await call(api.client(), "POST", path, 409, json=buyer)
    # the key belongs to this event's tickets: elsewhere it is a new request
    _, ev2, _ = await organiser(api)
    _, replayed = await _post(
        api.client(), f"/api/v1/public/events/{ev2['roomId']}/tickets", 201, "order-vera-7f3a", json=buyer
    )
    assert not replayed
    payments = await call(http, "GET", f"/api/v1/events/{ev['id']}/payments", 200)
    assert payments["total"] == 1
    await api.mail.wait("vera@example.test", 2)
    await asyncio.sleep(0.5)
    assert len(api.mail.to("vera@example.test")) == 2  # one order mail per event, no more


async def test_pagination_of_lists(api):
    http, _ = await signup(api)
    for n in range(5):
        await call(
            http, "POST", "/api/v1/contacts", 201, json={"name": f"C{n}", "email": f"c{n}@example.test"}
        )
    page = await call(http, "GET", "/api/v1/contacts?limit=2&offset=2", 200)
    assert ([c["name"] for c in page["items"]], page["total"], page["limit"], page["offset"]) == (
        ["C2", "C3"],
        5,
        2,
        2,
    )
    assert (await call(http, "GET", "/api/v1/contacts?offset=4", 200))["items"][0]["name"] == "C4"
    for bad in ("limit=101", "limit=-1", "offset=-5", "limit=two"):
        err = await call(http, "GET", f"/api/v1/contacts?{bad}", 400)
        assert "limit" in err["error"]["message"]


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'"s"', b"\xff\xfe"])
async def test_bad_bodies_get_clear_json_errors(api, raw):
    http, _ = await signup(api)
    err = await call(
        http, "POST", "/api/v1/events", 400, data=raw, headers={"Content-Type": "application/json"}
    )
    assert err["error"]["code"] in ("bad_json", "bad_request")


async def test_field_errors_name_the_field_and_ids_are_checked(api):
    http, _ = await signup(api)
    err = await call(http, "POST", "/api/v1/events", 400, json={"kind": "weekly", "name": "X"})
    assert err["error"]["message"].startswith("kind:")
    err = await call(http, "POST", "/api/v1/events", 400, json={"kind": "permanent", "name": "X\u0000"})
    assert "NUL" in err["error"]["message"]
    await call(http, "GET", "/api/v1/events/0", 404)
    await call(http, "GET", "/api/v1/events/99999999999999999999", 404)
    await call(http, "GET", "/api/v1/events/abc", 404)
    # digits that are not ASCII ("³" and "٣" are str.isdigit()) are no id either (not a 500; schemathesis)
    await call(http, "GET", "/api/v1/events/%C2%B3", 404)
    await call(http, "GET", "/api/v1/events/%D9%A3/polls", 404)
    await call(http, "GET", "/api/v1/events/1/sessions/%C2%B3/board.png", 404)
    await call(http, "PUT", "/api/v1/events", 405)


# ---------------------------------------------------------------- webhooks


class Receiver:
    """A real HTTP endpoint that fails the first `fail` deliveries, then accepts."""

    def __init__(self, fail: int) -> None:
        self.fail, self.got = fail, []

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((time.monotonic(), dict(request.headers), await request.read()))
        if len(self.got) <= self.fail:
            return web.Response(status=503)
        return web.Response(status=204)


@pytest.fixture
async def receiver():
    recv = Receiver(fail=2)
    async with hook_receiver(recv.handle) as recv.url:
        yield recv


@loopback
async def test_webhooks_are_signed_retried_with_backoff_and_logged(api, receiver):
    http, me = await signup(api)
    hook = await call(
        http, "POST", "/api/v1/webhooks", 201, json={"url": receiver.url, "events": ["event.created"]}
    )
    assert len(hook["secret"]) == 64
    await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Hooked"})
    await call(http, "POST", "/api/v1/contacts", 201, json={"name": "not an event"})
    deadline = time.monotonic() + 20
    while len(receiver.got) < 3 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert len(receiver.got) == 3, receiver.got
    times = [t for t, _, _ in receiver.got]
    assert times[1] - times[0] >= 0.18 and times[2] - times[1] >= 0.38  # 0.2 s, then 0.4 s (back-off)
    _, headers, body = receiver.got[-1]
    sig, delivery = headers["X-Mediaserver-Signature"], headers["X-Mediaserver-Delivery"]
    assert webhooks.verify(hook["secret"], sig, delivery, body)
    assert not webhooks.verify("another secret", sig, delivery, body)
    assert not webhooks.verify(hook["secret"], sig, delivery, body + b" ")
    assert not webhooks.verify(hook["secret"], sig, str(int(delivery) + 1), body)  # issue 14 finding 19
    payload = json.loads(body)
    assert payload["type"] == "event.created" and payload["data"]["event"]["name"] == "Hooked"
    assert headers["X-Mediaserver-Event"] == "event.created"
    await asyncio.sleep(0.3)
    log = await call(http, "GET", f"/api/v1/webhooks/{hook['id']}/deliveries", 200)
    [entry] = log["items"]
    assert (entry["status"], entry["attempts"], entry["lastStatus"]) == ("delivered", 3, 204)


@loopback
async def test_webhook_gives_up_after_the_retries(api, receiver):
    receiver.fail = 100
    http, _ = await signup(api)
    hook = await call(http, "POST", "/api/v1/webhooks", 201, json={"url": receiver.url})
    await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Never delivered"})
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = await call(http, "GET", f"/api/v1/webhooks/{hook['id']}/deliveries", 200)
        if log["items"] and log["items"][0]["status"] == "failed":
            break
        await asyncio.sleep(0.1)
    [entry] = log["items"]
    assert (entry["status"], entry["attempts"], entry["lastError"]) == ("failed", 4, "HTTP 503")


@loopback
async def test_participant_and_lifecycle_happenings_reach_webhooks(api, receiver):
    receiver.fail = 0
    http, _ = await signup(api)
    await call(http, "POST", "/api/v1/webhooks", 201, json={"url": receiver.url})
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "All of them"})
    await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        200,
        json={"name": "P", "email": "p@example.test"},
    )
    await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)
    deadline = time.monotonic() + 10
    want = ["event.created", "event.started", "participant.joined", "event.ended"]
    while len(receiver.got) < 4 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert sorted(json.loads(b)["type"] for _, _, b in receiver.got) == sorted(want)


# ---------------------------------------------------------------- the permission matrix (R-ACC-4, -2, -3)


async def _people(api):
    """A main account with an additional user and a sub-account, each signed in, and an attendee."""
    main, me = await signup(api)
    await paid(main, "live", extra_users=1, sub_accounts=1)
    await call(main, "POST", "/api/v1/users", 201, json={"name": "Add", "email": "add@example.test"})
    await call(
        main,
        "POST",
        "/api/v1/subaccounts",
        201,
        json={"pageName": "Sub", "userName": "Sub", "email": "subuser@example.test"},
    )
    clients = {"main": main}
    for role, addr in (("additional", "add@example.test"), ("sub", "subuser@example.test")):
        [msg] = await api.mail.wait(addr)
        clients[role] = api.client()
        await call(
            clients[role],
            "POST",
            "/api/v1/activate",
            200,
            json={"token": link_token(msg), "password": "a good password"},
        )
    clients["attendee"] = api.client()
    return clients


MAIN_ONLY = [
    ("GET", "/api/v1/billing", None),
    ("POST", "/api/v1/billing/plan", {"plan": "automated"}),  # the main account too: the operator's
    ("POST", "/api/v1/billing/addons", {"addon": "parallel_sessions"}),
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/users", {"name": "X", "email": "x-new@example.test"}),
    ("GET", "/api/v1/subaccounts", None),
    ("POST", "/api/v1/subaccounts", {"pageName": "P", "userName": "U", "email": "y-new@example.test"}),
]


async def test_permission_matrix(api):
    people = await _people(api)
    subs = (await call(people["main"], "GET", "/api/v1/subaccounts", 200))["items"]
    sub_id = subs[0]["id"]
    users = (await call(people["main"], "GET", "/api/v1/users", 200))["items"]
    add_id = next(u["id"] for u in users if u["role"] == "additional")
    forbidden_for_others = MAIN_ONLY + [
        ("PATCH", f"/api/v1/subaccounts/{sub_id}", {"package": "large"}),
        ("POST", f"/api/v1/subaccounts/{sub_id}/login-as", None),
        ("DELETE", f"/api/v1/subaccounts/{sub_id}", {"confirm": "Sub"}),
        ("DELETE", f"/api/v1/users/{add_id}", None),
    ]
    for role in ("additional", "sub"):
        for method, path, body in forbidden_for_others:
            err = await call(people[role], method, path, 403, json=body)
            assert "main account" in err["error"]["message"], (role, path, err)
    for method, path, body in forbidden_for_others:  # attendees have no account at all
        await call(people["attendee"], method, path, 401, json=body)
    for path in ("/api/v1/events", "/api/v1/contacts", "/api/v1/files", "/api/v1/history", "/api/v1/me"):
        await call(people["attendee"], "GET", path, 401)
    # integrations and the account's shared settings are the main account's, not an additional user's
    await call(people["additional"], "GET", "/api/v1/webhooks", 403)
    await call(people["additional"], "PATCH", "/api/v1/account/settings", 403, json={"signature": "mine"})
    await call(people["additional"], "PATCH", "/api/v1/account/settings", 200, json={"name": "Renamed"})
    # everyone with an account plans their own events; the main account sees its billing
    for role in ("main", "additional", "sub"):
        await call(people[role], "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": role})
    assert (await call(people["main"], "GET", "/api/v1/billing", 200))["plan"] == "live"
    # the sub-account's data is its own: the main account reaches it only by logging in as it
    sub_events = (await call(people["sub"], "GET", "/api/v1/events", 200))["items"]
    await call(people["main"], "GET", f"/api/v1/events/{sub_events[0]['id']}", 404)
    await call(people["additional"], "GET", f"/api/v1/events/{sub_events[0]['id']}", 404)
    # the sub-account user's own sub-account management is refused (one level)
    await call(people["sub"], "GET", "/api/v1/subaccounts", 403)
