"""Fixtures of the control-plane API tests: the real server on SQLite and on a real PostgreSQL server that
these fixtures start (initdb + pg_ctl, a throwaway data directory on 127.0.0.1), a real SMTP server (aiosmtpd)
that collects the mails, and a webhook receiver.

PostgreSQL is skipped when its server programs are missing, unless MEDIASERVER_REQUIRE_PG=1 (CI sets it): then
a missing or broken PostgreSQL fails the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email
import email.policy
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.conftest import API_KEY, SECRET, free_port

REQUIRE_PG = os.environ.get("MEDIASERVER_REQUIRE_PG") == "1"


# ---------------------------------------------------------------- PostgreSQL


def _pg_bin() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(found[-1]) if found else None


class PgServer:
    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.dir = tempfile.mkdtemp(prefix="mediaserver-pg-")
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            pwd.getpwnam("postgres")
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.dir, "data")

    def run(self, *cmd: str) -> None:
        subprocess.run([*self.as_user, *cmd], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        assert self.bin
        self.run(
            f"{self.bin}/initdb",
            "-D",
            self.data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self.run(
            f"{self.bin}/pg_ctl",
            "-D",
            self.data,
            "-o",
            opts,
            "-l",
            os.path.join(self.dir, "log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        if self.bin and os.path.exists(os.path.join(self.data, "postmaster.pid")):
            subprocess.run(
                [*self.as_user, f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{db}"

    async def create_db(self, template: str | None = None) -> str:
        import asyncpg

        name = "t_" + uuid.uuid4().hex[:16]
        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres", database="postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        finally:
            await conn.close()
        return name


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    why = None
    if _pg_bin() is None:
        why = "PostgreSQL server programs are not installed (apt-get install postgresql)"
    else:
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            why = "asyncpg is not installed"
    if why:
        if REQUIRE_PG:
            pytest.fail(f"MEDIASERVER_REQUIRE_PG=1 but {why}")
        yield None
        return
    server = PgServer()
    try:
        server.start()
    except Exception as e:
        server.stop()
        if REQUIRE_PG:
            raise
        pytest.skip(f"PostgreSQL did not start: {e}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer | None) -> str | None:
    """One database migrated once; each test gets a copy (CREATE DATABASE ... TEMPLATE), fast and clean."""
    if pg_server is None:
        return None
    from mediaserver.store.db import Database

    async def make() -> str:
        name = await pg_server.create_db()
        db = Database(pg_server.url(name))
        await db.migrate()
        await db.close()
        return name

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own event loop, whatever runs this one
        return pool.submit(asyncio.run, make()).result()


async def backend_url(request: Any, tmp_path: Any, migrated: bool = True) -> str:
    """A fresh database on the backend ``request.param`` names: a SQLite file, or a PostgreSQL database made
    from the migrated template (``migrated``) or empty."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/control.db"
    pg: PgServer | None = request.getfixturevalue("pg_server")
    if pg is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    return pg.url(await pg.create_db(request.getfixturevalue("pg_template") if migrated else None))


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: Any, tmp_path: Any) -> str:
    return await backend_url(request, tmp_path)


# ---------------------------------------------------------------- SMTP


@dataclass
class Mailbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    port: int = 0

    def to(self, addr: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if addr.lower() in m["To"].lower()]

    async def wait(
        self, addr: str, count: int = 1, timeout: float = 15.0
    ) -> list[email.message.EmailMessage]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.to(addr)) >= count:
                return self.to(addr)
            await asyncio.sleep(0.05)
        raise AssertionError(
            f"{count} mail(s) to {addr} expected, got {len(self.to(addr))}: "
            f"{[m['Subject'] for m in self.messages]}"
        )


def text_of(msg: email.message.EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return body.get_content()


@pytest.fixture(scope="session")
def smtp() -> Iterator[Mailbox]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping every message it gets."""
    from aiosmtpd.controller import Controller

    box = Mailbox()

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
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


# ---------------------------------------------------------------- the server


@dataclass
class Served:
    base_url: str
    app: Any
    settings: Any
    mail: Mailbox
    sessions: list[aiohttp.ClientSession] = field(default_factory=list)

    def client(self, key: str | None = None) -> aiohttp.ClientSession:
        """A browser-like client (cookie jar), or an API client with a Bearer key."""
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        s = aiohttp.ClientSession(
            base_url=self.base_url, cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers
        )
        self.sessions.append(s)
        return s


# The tests sign up many accounts, try activation links and ask for password resets, all from 127.0.0.1:
# wider budgets for these than a server's defaults (still budgets); tests/security/test_rate_limits.py tests
# the budgets themselves.
LOOSER_LIMITS = {
    "rate_limit_signup": "200/minute",
    "rate_limit_activate": "200/minute",
    "rate_limit_password_reset": "200/minute",
}


@pytest.fixture
async def api(database_url: str, smtp: Mailbox, tmp_path: Any, request: Any) -> AsyncIterator[Served]:
    """The real server; ``@pytest.mark.parametrize("api", [{"setting": value}], indirect=True)`` overrides
    settings (e.g. a tiny upload_expiry)."""
    from aiohttp import web

    from mediaserver.app import build
    from mediaserver.config import Settings

    settings = Settings(
        http_port=0,
        rtc_port=0,
        secret=SECRET,
        api_key=API_KEY,
        data_dir=str(tmp_path / "data"),
        database_url=database_url,
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        public_url="http://meet.example.test",
        dial_in_numbers=["Moscow +7 495 669 4207", "London +44 20 7048 4146"],
        webhook_backoff=0.2,
        webhook_retries=4,
        **{**LOOSER_LIMITS, **getattr(request, "param", {})},
    ).finish()
    smtp.messages.clear()  # one mailbox per test
    app = build(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served = Served(f"http://127.0.0.1:{runner.addresses[0][1]}", app, settings, smtp)
    try:
        yield served
    finally:
        for s in served.sessions:
            await s.close()
        await runner.cleanup()


TUS = {"Tus-Resumable": "1.0.0"}


async def tus_send(http: aiohttp.ClientSession, location: str, data: bytes) -> None:
    """Send the whole of a tus upload's ``data`` in one PATCH; the server takes it (204)."""
    async with http.patch(
        location,
        data=data,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    ) as r:
        assert r.status == 204, await r.text()


async def call(
    http: aiohttp.ClientSession, method: str, path: str, status: int | None = None, **kw: Any
) -> Any:
    async with http.request(method, path, **kw) as r:
        body = await r.json() if r.content_type == "application/json" else await r.text()
        if status is not None:
            assert r.status == status, (method, path, r.status, body)
        if r.status >= 400:
            assert isinstance(body, dict) and set(body) == {"error"} and body["error"]["message"], body
        return body


async def recording_ready(http: aiohttp.ClientSession, rec_id: int, timeout: float = 60) -> dict:
    """The recording once it is ready (or failed), polled through the API for up to ``timeout`` seconds."""
    end = time.monotonic() + timeout
    rec: dict = {}
    while time.monotonic() < end:
        rec = await call(http, "GET", f"/api/v1/recordings/{rec_id}", 200)
        if rec["status"] in ("ready", "failed"):
            return rec
        await asyncio.sleep(0.2)
    raise AssertionError(f"recording {rec_id} not ready: {rec}")


PASSWORD = "correct horse battery"


async def signup(
    api: Served, email_addr: str | None = None, **extra: Any
) -> tuple[aiohttp.ClientSession, dict]:
    """A new main account, signed in: sign-up (202), then its activation link from the mail, which sets the
    password (issue 14 finding 22: the address is confirmed before the account works). The sign-up mail is
    taken out of the mailbox, so that a test counts only the mails it causes."""
    http = api.client()
    email_addr = email_addr or f"owner-{uuid.uuid4().hex[:8]}@example.test"
    password = extra.pop("password", PASSWORD)
    await call(
        http,
        "POST",
        "/api/v1/signup",
        202,
        json={"name": "Olga Owner", "email": email_addr, **extra},
    )
    [msg] = await api.mail.wait(email_addr)
    api.mail.messages.remove(msg)
    me = await call(
        http, "POST", "/api/v1/activate", 200, json={"token": link_token(msg), "password": password}
    )
    return http, me


OPERATOR = {"Authorization": f"Bearer {API_KEY}"}  # the api fixture's api_key: the server's operator


async def operator(http: aiohttp.ClientSession, what: str, status: int | None = 200, **kw: Any) -> Any:
    """The operator's billing call ``what`` (plan, addons) for the main account signed in on ``http``
    (issue 14 finding 1: plans and add-ons are the operator's act), sent with the server's api_key."""
    me = await call(http, "GET", "/api/v1/me", 200)
    path = f"/api/v1/admin/accounts/{me['account']['id']}/billing/{what}"
    return await call(http, "POST", path, status, headers={**kw.pop("headers", {}), **OPERATOR}, **kw)


async def paid(http: aiohttp.ClientSession, plan: str = "live", **addons: int) -> None:
    """The operator puts the account signed in on ``http`` on ``plan`` and adds ``addons``."""
    await operator(http, "plan", json={"plan": plan})
    for addon, qty in addons.items():
        await operator(http, "addons", json={"addon": addon, "quantity": qty})


def link_token(msg: email.message.EmailMessage) -> str:
    """The activation token from an activation e-mail's link."""
    text = text_of(msg)
    start = text.index("#activate=") + len("#activate=")
    return text[start:].split()[0]


# Issue 14 findings 4, 5, 19: the tests' webhook receivers and RTMP servers listen on loopback, which webhooks
# (also over plain http) and live streams reach only when the operator allow-lists it.
LOOPBACK = {"outbound_allow": ["127.0.0.1"]}
loopback = pytest.mark.parametrize("api", [LOOPBACK], indirect=True)


@contextlib.asynccontextmanager
async def hook_receiver(
    handle: Callable[[aiohttp.web.Request], Awaitable[aiohttp.web.StreamResponse]],
) -> AsyncIterator[str]:
    """A real HTTP server on loopback taking webhook POSTs at /hook with ``handle``; yields its URL."""
    from aiohttp import web

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    finally:
        await runner.cleanup()
