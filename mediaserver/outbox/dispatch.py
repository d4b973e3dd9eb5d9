"""The control plane's background work: send queued e-mails, deliver webhooks (retries with back-off), and run
the periodic chores the composition root (mediaserver.app) hands it: the events' clock (automated starts,
scheduled events leaving the dashboard, sessions whose room ended) and forgetting old Idempotency-Keys. The
outbox knows nothing of events or accounts: a chore is any :class:`Chore`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from yarl import URL

from mediaserver import outbound
from mediaserver.outbox import mail, webhooks
from mediaserver.store.db import Database, utcnow
from mediaserver.store.models import Email, Webhook, WebhookDelivery

log = logging.getLogger("mediaserver.outbox.dispatch")
LEASE = dt.timedelta(seconds=120)  # a row being worked on is not picked again before this


class HttpsRequired(Exception):
    """A plain http:// webhook whose host the operator no longer lists (issue 14 finding 19)."""


class Chore(Protocol):
    """Periodic work of the control plane, run by the sweep in a transaction of its own (``now``: None for the
    current time; tests pass another)."""

    async def __call__(self, s: AsyncSession, now: dt.datetime | None = None) -> object: ...


class Round(Protocol):
    """Work that must not wait for the sweep (an automated timeline's poll starts on time): run every round of
    the dispatcher, opening its own transactions (``now``: None for the current time)."""

    async def __call__(self, now: dt.datetime | None = None) -> object: ...


class Dispatcher:
    def __init__(
        self,
        db: Database,
        mailer: mail.Mailer,
        settings: Any,
        chores: Sequence[Chore] = (),
        policy: outbound.Policy | None = None,
        rounds: Sequence[Round] = (),
    ) -> None:
        self.db, self.mailer, self.settings, self.chores = db, mailer, settings, list(chores)
        self.rounds = list(rounds)  # run every round (about twice a second), each in its own transactions
        self.policy = policy if policy is not None else outbound.Policy(settings.outbound_allow)
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self._last_sweep = 0.0
        self._closing = False

    def start(self) -> None:
        # issue 14 finding 4: names are resolved and checked at every connection (no DNS cache, so a name
        # cannot turn internal after its check), and aiohttp connects to the addresses the check passed
        connector = aiohttp.TCPConnector(resolver=outbound.CheckedResolver(self.policy), use_dns_cache=False)
        self._http = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=15), trust_env=False
        )
        self._task = asyncio.create_task(self._loop(), name="dispatcher")

    async def close(self) -> None:
        # the flag as well as the cancel: a library that swallows the CancelledError (a database driver
        # releasing its connection, Python 3.11's wait_for) must not leave the loop, and close(), running
        self._closing = True
        self.wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._http is not None:
            await self._http.close()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            try:
                await self.tick()
                for work in self.rounds:
                    await work()
                if loop.time() - self._last_sweep >= self.settings.sweep_interval:
                    self._last_sweep = loop.time()
                    await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dispatcher round failed")
            if self._closing:
                break
            self.wake.clear()
            # not asyncio.wait_for: on Python 3.11 a cancel that lands as the wait ends is swallowed
            # (CPython gh-86296)
            woken = asyncio.ensure_future(self.wake.wait())
            try:
                await asyncio.wait({woken}, timeout=0.5)
            finally:
                woken.cancel()

    async def sweep(self, now: dt.datetime | None = None) -> None:
        for chore in self.chores:
            async with self.db.tx() as s:
                await chore(s, now)
        self.wake.set()

    async def tick(self) -> None:
        await self.send_mails()
        await self.deliver_webhooks()

    async def _claim(self, model: Any, limit: int = 20) -> list[int]:
        now = utcnow()
        async with self.db.tx() as s:
            rows = list(
                await s.scalars(
                    select(model)
                    .where(model.status == "pending", model.next_attempt_at <= now)
                    .order_by(model.next_attempt_at, model.id)
                    .limit(limit)
                    # issue 19: the dispatchers of a cluster's nodes share the outbox; a row another one is
                    # claiming is passed over (PostgreSQL; SQLite has one writer at a time anyway)
                    .with_for_update(skip_locked=True)
                )
            )
            for row in rows:
                row.next_attempt_at = now + LEASE
            return [r.id for r in rows]

    async def send_mails(self) -> None:
        for mail_id in await self._claim(Email):
            async with self.db.read() as s:
                row = await s.get(Email, mail_id)
            if row is None:
                continue
            error = ""
            if self.mailer.enabled:
                try:
                    await self.mailer.send(row)
                except Exception as e:  # any SMTP or network failure: retried later
                    error = f"{type(e).__name__}: {e}"
            else:
                # issue 14 finding 12: the body (activation links) goes to a 0600 file, not to the log
                try:
                    path = self.mailer.keep(row)
                    log.info("mail (no smtp_host set) to %s: %s; in %s", row.to_addr, row.subject, path)
                except OSError as e:  # a full or read-only disk: retried later, as an SMTP failure
                    error = f"{type(e).__name__}: {e}"
            async with self.db.tx() as s:
                row = await s.get(Email, mail_id)
                if row is None:
                    continue
                row.attempts += 1
                if not error:
                    row.status, row.sent_at = ("sent" if self.mailer.enabled else "logged"), utcnow()
                elif row.attempts >= mail.MAX_ATTEMPTS:
                    row.status, row.last_error = "failed", error
                else:
                    row.last_error = error
                    row.next_attempt_at = utcnow() + mail.backoff(row.attempts, 30.0)

    async def _check(self, url: str) -> None:
        """What aiohttp's resolver cannot see: plain http to a host no longer listed, and IP literals (aiohttp
        connects to those without resolving them)."""
        u = URL(url)
        host = u.raw_host or ""
        if u.scheme != "https" and not self.policy.listed(host):
            raise HttpsRequired
        if outbound.literal(host) is not None:
            self.policy.check(host, [host])

    async def deliver_webhooks(self) -> None:
        assert self._http is not None
        for delivery_id in await self._claim(WebhookDelivery):
            async with self.db.read() as s:
                row = await s.get(WebhookDelivery, delivery_id)
                hook = await s.get(Webhook, row.webhook_id) if row else None
            if row is None or hook is None:
                continue
            body = row.payload.encode()
            ts = int(utcnow().timestamp())
            status, error = None, ""
            try:
                await self._check(hook.url)
                async with self._http.post(
                    hook.url,
                    data=body,
                    headers={
                        "Content-Type": "application/json",
                        "User-Agent": "mediaserver-webhooks",
                        webhooks.SIGNATURE_HEADER: webhooks.sign(hook.secret, ts, row.id, body),
                        "X-Mediaserver-Event": row.event_type,
                        "X-Mediaserver-Delivery": str(row.id),
                    },
                    allow_redirects=False,
                ) as resp:
                    status = resp.status
                    if not 200 <= resp.status < 300:
                        error = f"HTTP {resp.status}"
            except HttpsRequired:
                error = "https required"
            except Exception as e:  # the log says what kind of failure, never the OS's text (finding 4)
                error = outbound.failure(e)
            async with self.db.tx() as s:
                row = await s.get(WebhookDelivery, delivery_id)
                if row is None:
                    continue
                row.attempts += 1
                row.last_status, row.last_error = status, error
                if not error:
                    row.status, row.delivered_at = "delivered", utcnow()
                elif row.attempts >= self.settings.webhook_retries:
                    row.status = "failed"
                else:
                    row.next_attempt_at = utcnow() + webhooks.backoff(
                        row.attempts, self.settings.webhook_backoff
                    )
