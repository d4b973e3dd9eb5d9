"""Budgets of what a stranger can repeat (issue 14 finding 3): sign-ins, sign-ups, activations, joins (join
tokens), event passwords and API keys, counted per client address and, where a guess aims at one target (an
account's e-mail address, an event's password), per target. Over a budget the request is refused with 429
and Retry-After before any password is hashed.

The counters live in a `limits` storage: in memory by default (one process), or Redis and the other
back-ends `limits` knows, by the ``rate_limit_storage`` URI (e.g. ``redis://127.0.0.1:6379``, through the
`redis` client); in a cluster, the cluster's Redis unless another storage is set.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal, get_args

import limits
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import ConfigurationError
from limits.storage import storage_from_string

from mediaserver.config import ConfigError, Settings, parse_budget
from mediaserver.errors import ControlError

#: what is counted, and the setting that holds its budget
Action = Literal[
    "login",
    "login_account",
    "signup",
    "activate",
    "join",
    "event_password",
    "viewer_message",
    "password_reset",
    "rating",
]
ACTIONS: tuple[Action, ...] = get_args(Action)

_NAMES = {
    "login": "sign-in attempts from your address",
    "login_account": "failed sign-ins to this account",
    "signup": "sign-ups from your address",
    "activate": "activation attempts from your address",
    "join": "joins from your address",
    "event_password": "wrong passwords for this event",
    "viewer_message": "messages from your address",
    "password_reset": "password reset requests from your address",
    "rating": "ratings from your address",
}


def too_many(what: str, retry_after: int) -> ControlError:
    return ControlError(
        "too_many_requests",
        f"too many {what}: try again in {retry_after} s",
        429,
        headers={"Retry-After": str(retry_after)},
    )


_REDIS_SCHEMES = {"redis", "rediss", "redis+unix", "async+redis", "async+rediss", "async+redis+unix"}


def storage_uri(settings: Settings) -> str:
    """Where the counters live: ``rate_limit_storage``; in a cluster (issue 19) left at memory://, the
    cluster's Redis, so that a budget holds across its nodes whichever one a client reaches."""
    uri = settings.rate_limit_storage
    if uri == "memory://" and settings.cluster_redis_url:
        uri = settings.cluster_redis_url
        if uri.startswith("unix://"):
            uri = "redis+" + uri
    return uri


class RateLimits:
    """The budgets of one server (settings ``rate_limit_*``), counted in the ``rate_limit_storage``."""

    def __init__(self, settings: Settings) -> None:
        self.budgets = {
            a: parse_budget(f"rate_limit_{a}", getattr(settings, f"rate_limit_{a}")) for a in ACTIONS
        }
        uri = storage_uri(settings)
        # a Redis through the `redis` client the server has anyway (limits would otherwise want coredis)
        options = {"implementation": "redispy"} if uri.split("://")[0] in _REDIS_SCHEMES else {}
        try:  # the asynchronous variant of the same storage: memory:// -> async+memory://
            storage = storage_from_string(uri if uri.startswith("async+") else "async+" + uri, **options)
        except (ConfigurationError, ValueError, TypeError) as e:
            raise ConfigError(f"setting 'rate_limit_storage': {e}") from None
        self.limiter = MovingWindowRateLimiter(storage)

    async def spend(self, action: Action, key: str) -> None:
        """Count one ``action`` of ``key``; a 429 (with Retry-After) when its budget is used up."""
        refused = [item for item in self.budgets[action] if not await self.limiter.hit(item, action, key)]
        if refused:
            raise too_many(_NAMES[action], await self._retry_after(refused, action, key))

    async def ensure(self, action: Action, key: str) -> None:
        """A 429 if the budget of ``action`` of ``key`` is used up; counts nothing."""
        refused = [item for item in self.budgets[action] if not await self.limiter.test(item, action, key)]
        if refused:
            raise too_many(_NAMES[action], await self._retry_after(refused, action, key))

    @asynccontextmanager
    async def failures(self, action: Action, key: str, statuses: tuple[int, ...]) -> AsyncIterator[None]:
        """Refuse at once while ``key``'s budget of ``action`` is used up; count a failure (a ControlError
        with one of ``statuses``) raised inside."""
        await self.ensure(action, key)
        try:
            yield
        except ControlError as e:
            if e.status in statuses:
                for item in self.budgets[action]:
                    await self.limiter.hit(item, action, key)
            raise

    async def _retry_after(self, items: list[limits.RateLimitItem], action: str, key: str) -> int:
        resets = [(await self.limiter.get_window_stats(item, action, key)).reset_time for item in items]
        return max(1, math.ceil(max(resets) - time.time()))


@dataclass
class Caller:
    """Who is asking, as far as the budgets go: their address and the server's budgets."""

    limits: RateLimits
    address: str

    async def spend(self, action: Action) -> None:
        """Count one ``action`` from this caller's address (429 when over its budget)."""
        await self.limits.spend(action, self.address)
