"""The outbox dispatcher stops when the server stops, even when something under it swallows the cancellation.

Seen in CI: the PostgreSQL variants of tests using the outbox hung 300 s in teardown, the dispatcher's task
"cancelling" but still looping, because a cancellation that lands inside a database call (or Python 3.11's
``asyncio.wait_for``, CPython gh-86296) can be swallowed, and ``close()`` awaited the loop for ever."""

from __future__ import annotations

import asyncio

from signaling import keys


async def test_close_ends_the_loop_even_when_a_round_swallows_the_cancel(api):
    dispatcher = api.app[keys.DISPATCHER]
    entered = asyncio.Event()

    async def stubborn_round() -> None:  # what a driver that eats a CancelledError looks like from here
        entered.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass

    dispatcher.rounds.append(stubborn_round)
    await asyncio.wait_for(entered.wait(), 5)
    await asyncio.wait_for(dispatcher.close(), 5)  # before the fix: never returned
    dispatcher.rounds.remove(stubborn_round)
