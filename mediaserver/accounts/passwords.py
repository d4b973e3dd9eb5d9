"""Password hashing (argon2id) off the event loop, bounded (issue 14 finding 3).

One argon2 check costs about 0.1 s of CPU on every core (the library's parameters: 64 MiB, 3 passes, 4
lanes). The checks run on a pool of their own with one thread per core, at the lowest CPU priority, so that
a flood of sign-ins queues for the pool instead of taking the CPU from the event loop and the media thread;
at most ``MAX_WAITING`` checks wait for it, more are refused at once with 503 and Retry-After. Callers hash
outside their database transactions (see mediaserver.accounts.identity): a check never holds a lock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from mediaserver.errors import ControlError

log = logging.getLogger("mediaserver")
T = TypeVar("T")

_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
_DUMMY_HASH = _hasher.hash("not a password")

WORKERS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
MAX_WAITING = 8 * WORKERS  # checks queued beyond the running ones; more get 503


def _lowest_priority() -> None:
    try:  # the thread's own nice value (Linux): the event loop and the media thread come first
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (OSError, AttributeError) as e:  # a sandbox may forbid it: hashing still works
        log.debug("password threads keep their priority: %s", e)


_pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="argon2", initializer=_lowest_priority)
_pending = 0  # checks submitted and not finished
_pending_lock = threading.Lock()  # servers on several event loops (tests) share the pool


async def _hashing(fn: Callable[[], T]) -> T:
    global _pending
    with _pending_lock:
        if _pending >= WORKERS + MAX_WAITING:
            raise ControlError(
                "busy",
                "the server is checking too many passwords right now: try again in a second",
                503,
                headers={"Retry-After": "1"},
            )
        _pending += 1
    try:
        return await asyncio.get_running_loop().run_in_executor(_pool, fn)
    finally:
        with _pending_lock:
            _pending -= 1


async def hash_password(password: str) -> str:
    return await _hashing(lambda: _hasher.hash(password))


async def password_matches(hashed: str | None, password: str) -> bool:
    """Whether ``password`` matches ``hashed``; a missing hash costs the same time (a dummy check) and never
    matches."""

    def check() -> bool:
        try:
            return _hasher.verify(hashed or _DUMMY_HASH, password) and hashed is not None
        except (VerificationError, InvalidHashError):
            return False

    return await _hashing(check)
