"""Issue 14 finding 3: failed sign-ins must not stall the API for everyone.

Argon2 verification (about 0.1 s of CPU on every core) used to run inside the request's SQLite write
transaction (BEGIN IMMEDIATE), and every request, even a signed-in user's ``GET /api/v1/me``, began one: each
request queued behind each password check, and a few loops of failed sign-ins took ``GET /api/v1/me`` from
milliseconds to seconds (to a 500 once SQLite's 30 s busy timeout ran out).

The loops stand for attackers at 8 different addresses, each within its own per-address budget; here they all
come from 127.0.0.1, so the sign-in budgets are raised for these tests (the budgets themselves are
tests/security/test_rate_limits.py's): every attempt really costs a hash, and what is shown is that the
hashing no longer holds up the rest of the API."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
import pytest

from mediaserver.accounts import passwords
from tests.api.conftest import call, signup
from tests.conftest import serve

LOOPS = 8
SAMPLES = 200
UNLIMITED_LOGINS = {"rate_limit_login": "100000/minute", "rate_limit_login_account": "100000/minute"}


async def _failed_logins(base_url: str, stop: asyncio.Event, statuses: list[int]) -> None:
    """One attacker: wrong passwords, one after the other, until told to stop."""
    async with aiohttp.ClientSession(base_url=base_url) as http:
        victim = f"nobody-{uuid.uuid4().hex[:8]}@example.test"
        while not stop.is_set():
            body = {"email": victim, "password": "wrong password"}
            async with http.post("/api/v1/session", json=body) as r:
                await r.read()
                statuses.append(r.status)


async def _p99_of_me(http: aiohttp.ClientSession) -> tuple[float, float]:
    """(p99, median) in seconds of SAMPLES GET /api/v1/me of the signed-in ``http``, one every 20 ms."""
    times = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        await call(http, "GET", "/api/v1/me", 200)
        times.append(time.perf_counter() - start)
        await asyncio.sleep(0.02)
    times.sort()
    return times[int(len(times) * 0.99) - 1], times[len(times) // 2]


async def _me_under_attack(base_url: str, http: aiohttp.ClientSession) -> None:
    """GET /api/v1/me of the signed-in ``http`` while LOOPS loops of failed sign-ins run: its p99 stays under
    100 ms. The machine running the tests may be busy with other work: the p99 of the same requests without
    the attack, measured just before, is allowed on top (on a quiet machine it is a few ms)."""
    for _ in range(5):  # warm up: connection pools, first queries
        await call(http, "GET", "/api/v1/me", 200)
    quiet, _ = await _p99_of_me(http)
    stop = asyncio.Event()
    statuses: list[int] = []
    loops = [asyncio.create_task(_failed_logins(base_url, stop, statuses)) for _ in range(LOOPS)]
    try:
        await asyncio.sleep(1.0)  # the attack is under way
        p99, median = await _p99_of_me(http)
    finally:
        stop.set()
        await asyncio.gather(*loops)
    assert statuses.count(401) >= 2 * LOOPS, f"no real attack: {len(statuses)} attempts {set(statuses)}"
    assert set(statuses) <= {401, 503}, set(statuses)  # 503: every password worker busy, try again
    assert p99 < 0.100 + quiet, (
        f"GET /api/v1/me: p99 {p99 * 1000:.0f} ms (without the attack {quiet * 1000:.0f} ms), median "
        f"{median * 1000:.0f} ms, during {len(statuses)} failed sign-ins"
    )


async def test_me_stays_fast_while_failed_logins_hash_served(tmp_path):
    """Issue 14 finding 3: `mediaserver serve` (SQLite, the default): with 8 loops of failed sign-ins hashing
    all the time, a signed-in user's GET /api/v1/me keeps its p99 under 100 ms."""
    env = {f"MEDIASERVER_{k.upper()}": v for k, v in UNLIMITED_LOGINS.items()}
    with serve(tmp_path, **env) as (base, _proc, _log):
        async with aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await call(
                http,
                "POST",
                "/api/v1/signup",
                201,
                json={"name": "Olga", "email": "olga@example.test", "password": "correct horse battery"},
            )
            await _me_under_attack(base, http)


@pytest.mark.parametrize("api", [UNLIMITED_LOGINS], indirect=True)
async def test_me_stays_fast_while_failed_logins_hash(api):
    """Issue 14 finding 3: the same on the in-process server, on SQLite and PostgreSQL (the attackers and the
    server share this process and its event loop here)."""
    http, _ = await signup(api)
    await _me_under_attack(api.base_url, http)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("api", [UNLIMITED_LOGINS], indirect=True)
async def test_password_checks_beyond_the_queue_get_503_at_once(api):
    """Issue 14 finding 3: password checks run on a pool of one thread per core, and at most MAX_WAITING wait
    for it; a burst beyond that is refused at once with 503 and Retry-After not queued without end."""
    burst = passwords.WORKERS + passwords.MAX_WAITING + 40
    body = {"email": "nobody@example.test", "password": "wrong password"}

    async def attempt(http: aiohttp.ClientSession) -> tuple[int, float, str | None]:
        start = time.perf_counter()
        async with http.post("/api/v1/session", json=body) as r:
            await r.read()
            return r.status, time.perf_counter() - start, r.headers.get("Retry-After")

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(base_url=api.base_url, connector=connector) as http:
        got = await asyncio.gather(*(attempt(http) for _ in range(burst)))
    statuses = [g[0] for g in got]
    assert set(statuses) == {401, 503}, statuses
    assert statuses.count(401) >= passwords.WORKERS + passwords.MAX_WAITING
    busy = [g for g in got if g[0] == 503]
    assert all(g[2] == "1" for g in busy)
    slowest_check = max(g[1] for g in got if g[0] == 401)
    assert max(g[1] for g in busy) < slowest_check  # refused without waiting for the queue
