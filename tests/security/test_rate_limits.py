"""Issue 14 finding 3: what strangers can repeat has budgets (settings rate_limit_*), per client address and,
where guesses aim at one target, per target; over one the answer is 429 with Retry-After, before any password
is hashed. The budgets do not depend on the database: these tests run on SQLite only."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp
import pytest

from mediaserver.config import ConfigError, Settings, parse_networks
from mediaserver.proxies import client_address
from mediaserver.ratelimit import RateLimits
from tests.api.conftest import call, signup
from tests.conftest import API_KEY

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


async def post(http: aiohttp.ClientSession, path: str, body: dict, ip: str | None = None) -> tuple[int, Any]:
    """(status, JSON body) of a POST, from ``ip`` as told by X-Forwarded-For (if the server trusts us)."""
    headers = {"X-Forwarded-For": ip} if ip else {}
    async with http.post(path, json=body, headers=headers) as r:
        data = await r.json()
        if (
            r.status == 429
        ):  # the refusal's shape: JSON error, a Retry-After in whole seconds within the window
            assert data["error"]["code"] == "too_many_requests" and "try again" in data["error"]["message"]
            assert 1 <= int(r.headers["Retry-After"]) <= 3600, r.headers["Retry-After"]
        return r.status, data


def login(email: str, password: str = "wrong password") -> dict:
    return {"email": email, "password": password}


@SQLITE
async def test_the_default_budget_stops_a_login_loop(api):
    """Issue 14 finding 3: with the server's default budget (20 sign-ins a minute from one address), a loop
    of wrong passwords gets 429 after 20 attempts, and then even the right password waits."""
    assert api.settings.rate_limit_login == Settings().rate_limit_login == "20/minute;200/hour"
    http, me = await signup(api)
    statuses = [(await post(http, "/api/v1/session", login(f"x{i}@example.test")))[0] for i in range(22)]
    assert statuses == [401] * 20 + [429] * 2
    status, _ = await post(http, "/api/v1/session", login(me["user"]["email"], "correct horse battery"))
    assert status == 429


@SQLITE
@pytest.mark.parametrize(
    "api",
    [
        {
            "rate_limit_login": "1000/minute",
            "rate_limit_login_account": "3/minute",
            "trusted_proxies": ["127.0.0.1"],
        }
    ],
    indirect=True,
)
async def test_failed_logins_to_one_account_from_many_addresses(api):
    """Issue 14 finding 3: wrong passwords for one account count against the account, whatever the address:
    after 3 (this test's budget) it answers 429, the right password too; other accounts are not affected, and
    right passwords do not count."""
    http, me = await signup(api)
    other, other_me = await signup(api)
    victim = me["user"]["email"]
    for _ in range(3):
        assert (
            await post(other, "/api/v1/session", login(other_me["user"]["email"], "correct horse battery"))
        )[0] == 200
    got = [(await post(http, "/api/v1/session", login(victim), f"198.51.100.{i}"))[0] for i in range(1, 5)]
    assert got == [401, 401, 401, 429]
    status, _ = await post(http, "/api/v1/session", login(victim, "correct horse battery"), "203.0.113.9")
    assert status == 429
    status, _ = await post(
        other, "/api/v1/session", login(other_me["user"]["email"], "correct horse battery")
    )
    assert status == 200


@SQLITE
@pytest.mark.parametrize("api", [{"rate_limit_signup": "2/minute"}], indirect=True)
async def test_signup_budget(api):
    """Issue 14 finding 3: sign-ups from one address (each makes an account and sends a mail)."""
    http = api.client()
    body = {"name": "N", "password": "correct horse battery"}
    got = [
        (await post(http, "/api/v1/signup", {**body, "email": f"n{uuid.uuid4().hex[:6]}@example.test"}))[0]
        for _ in range(3)
    ]
    assert got == [202, 202, 429]


@SQLITE
@pytest.mark.parametrize("api", [{"rate_limit_activate": "2/minute"}], indirect=True)
async def test_activation_budget(api):
    """Issue 14 finding 3: activations (setting a password from an e-mailed link) from one address."""
    http = api.client()
    body = {"token": "not-a-token", "password": "a good password"}
    got = [(await post(http, "/api/v1/activate", body))[0] for _ in range(3)]
    assert got == [400, 400, 429]


@SQLITE
@pytest.mark.parametrize(
    "api", [{"rate_limit_password_reset": "2/minute", "rate_limit_activate": "2/minute"}], indirect=True
)
async def test_password_reset_budgets(api):
    """Issue 20: reset requests from one address (each may send a mail), known address or not, and their
    confirmations, counted with activations (each sets a password)."""
    http = api.client()
    got = [(await post(http, "/api/v1/password-reset", {"email": f"r{n}@example.test"}))[0] for n in range(3)]
    assert got == [202, 202, 429]
    body = {"token": "1.2.not-a-mac", "password": "a good password"}
    got = [(await post(http, "/api/v1/password-reset/confirm", body))[0] for _ in range(3)]
    assert got == [400, 400, 429]


@SQLITE
@pytest.mark.parametrize(
    "api",
    [{"rate_limit_join": "3/minute", "trusted_proxies": ["127.0.0.1"], "open_room_creation": True}],
    indirect=True,
)
async def test_join_budget_per_address(api):
    """Issue 14 finding 3: joins (each mints a join token) from one address; another address has its own."""
    http = api.client()
    room = await call(http, "POST", "/api/v1/rooms", 201, json={"name": "R"})
    path = f"/api/v1/rooms/{room['id']}/join"
    person = {"name": "G", "email": "g@example.test"}
    got = [(await post(http, path, person, "198.51.100.1"))[0] for _ in range(4)]
    assert got == [200, 200, 200, 429]
    assert (await post(http, path, person, "198.51.100.2"))[0] == 200


@SQLITE
@pytest.mark.parametrize(
    "api",
    [{"rate_limit_event_password": "2/minute", "trusted_proxies": ["127.0.0.1"]}],
    indirect=True,
)
async def test_wrong_event_passwords_from_many_addresses(api):
    """Issue 14 finding 3: wrong passwords for one event count against the event, whatever the address: after
    2 (this test's budget) its password entry answers 429; another event's does not."""
    http, _ = await signup(api)
    events = [
        await call(
            http,
            "POST",
            "/api/v1/events",
            201,
            json={"kind": "permanent", "name": n, "access": "password", "password": "open sesame"},
        )
        for n in ("P", "Q")
    ]
    guest = api.client()
    person = {"name": "G", "email": "g@example.test"}
    p_join, q_join = (f"/api/v1/public/events/{ev['roomId']}/join" for ev in events)
    assert (await post(guest, p_join, {**person, "password": "open sesame"}, "198.51.100.1"))[0] == 200
    got = []
    for i in range(3):
        status, body = await post(guest, p_join, {**person, "password": f"guess {i}"}, f"198.51.100.{10 + i}")
        got.append((status, body["error"]["code"]))
    assert got == [(403, "password_required"), (403, "password_required"), (429, "too_many_requests")]
    assert (await post(guest, p_join, {**person, "password": "open sesame"}, "203.0.113.1"))[0] == 429
    room_join = f"/api/v1/rooms/{events[0]['roomId']}/join"  # the same event by its room: the same budget
    assert (await post(guest, room_join, {**person, "password": "open sesame"}, "203.0.113.2"))[0] == 429
    assert (await post(guest, q_join, {**person, "password": "open sesame"}, "203.0.113.3"))[0] == 200


@SQLITE
@pytest.mark.parametrize(
    "api", [{"rate_limit_login": "3/minute", "trusted_proxies": ["127.0.0.1"]}], indirect=True
)
async def test_wrong_api_keys_count_against_the_address(api):
    """Issue 14 finding 3: POST /api/v1/tokens (and room creation when it needs the key) with a wrong API key
    count against the address's sign-in budget; the right key from another address still works."""
    path, body = "/api/v1/tokens", {"room": "r"}
    got = []
    for _ in range(4):
        async with api.client("wrong-key").post(
            path, json=body, headers={"X-Forwarded-For": "198.51.100.1"}
        ) as r:
            got.append(r.status)
    assert got == [401, 401, 401, 429]
    async with api.client(API_KEY).post(path, json=body, headers={"X-Forwarded-For": "198.51.100.2"}) as r:
        assert r.status == 201


@SQLITE
@pytest.mark.parametrize("api", [{"rate_limit_login": "2/minute"}], indirect=True)
async def test_forwarded_for_is_ignored_without_trusted_proxies(api):
    """Issue 14 finding 3: an X-Forwarded-For from a peer that is not a trusted proxy is anyone's invention:
    changing it does not buy a new budget."""
    http = api.client()
    got = [
        (await post(http, "/api/v1/session", login("a@example.test"), f"198.51.100.{i}"))[0] for i in range(3)
    ]
    assert got == [401, 401, 429]


@SQLITE
@pytest.mark.parametrize(
    "api", [{"rate_limit_login": "2/minute", "trusted_proxies": ["127.0.0.0/8", "10.0.0.0/8"]}], indirect=True
)
async def test_trusted_proxies_name_the_client(api):
    """Issue 14 finding 3: behind trusted proxies (setting trusted_proxies) the client is the right-most
    address of X-Forwarded-For that is not a proxy; what the client itself put in front does not count."""
    http = api.client()
    # the client (198.51.100.7) made up "192.0.2.x" itself; our proxy at 10.0.0.2 forwarded to loopback
    spoofed = [f"192.0.2.{i}, 198.51.100.7, 10.0.0.2" for i in range(3)]
    got = [(await post(http, "/api/v1/session", login("b@example.test"), xff))[0] for xff in spoofed]
    assert got == [401, 401, 429]
    assert (await post(http, "/api/v1/session", login("b@example.test"), "198.51.100.8"))[0] == 401


def test_client_address_rules():
    """Issue 14 finding 3: the peer itself unless it is a trusted proxy; never a trusted proxy's address
    when the header has a client."""
    trusted = parse_networks(["127.0.0.1", "10.0.0.0/8", "::1"])
    assert client_address("203.0.113.5", ["198.51.100.1"], trusted) == "203.0.113.5"  # not a proxy
    assert client_address("127.0.0.1", ["198.51.100.1"], trusted) == "198.51.100.1"
    assert client_address("127.0.0.1", ["1.2.3.4, 198.51.100.1", "10.1.1.1"], trusted) == "198.51.100.1"
    assert client_address("127.0.0.1", [], trusted) == "127.0.0.1"  # no header: the proxy itself
    assert client_address("::1", ["2001:db8::5"], trusted) == "2001:db8::5"
    assert client_address("127.0.0.1", ["198.51.100.1"], []) == "127.0.0.1"  # no trusted proxies


@pytest.mark.parametrize(
    "setting,value,match",
    [
        ("rate_limit_login", "lots", "rate_limit_login"),
        ("rate_limit_join", "", "rate_limit_join"),
        ("trusted_proxies", ["proxy.example"], "trusted_proxies"),
    ],
)
def test_bad_budget_settings_stop_the_start(setting, value, match):
    with pytest.raises(ConfigError, match=match):
        Settings(**{setting: value}).finish()


def test_rate_limit_storage_is_used():
    """The counters' storage is the setting's: an unknown back-end stops the start; memory:// by default."""
    assert RateLimits(Settings().finish()).limiter.storage.__class__.__name__ == "MemoryStorage"
    with pytest.raises(ConfigError, match="rate_limit_storage"):
        RateLimits(Settings(rate_limit_storage="nosuch://here").finish())
