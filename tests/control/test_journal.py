"""The interaction journal (mediaserver/interaction/journal.py, issue 16) on a real SQLite database: records
go to their kind's writer in batches, grouped by room, one transaction per batch; kinds nobody writes are not
kept; the queue is bounded (the oldest dropped and counted); a failing batch is logged, counted and dropped
without stopping the next; flush() waits for everything recorded so far."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.interaction import journal as journal_module
from mediaserver.interaction.journal import Journal
from mediaserver.store.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    d = Database(f"sqlite+aiosqlite:///{tmp_path}/j.db")
    async with d.tx() as s:
        await s.execute(sa.text("CREATE TABLE kept (room TEXT, n INTEGER)"))
    try:
        yield d
    finally:
        await d.close()


class Seen:
    """A writer that stores what it gets in the table ``kept`` and remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int], int]] = []  # (room, numbers, id of the session)

    async def __call__(self, s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
        self.calls.append((room, [i["n"] for i in items], id(s)))
        await s.execute(
            sa.text("INSERT INTO kept (room, n) VALUES (:room, :n)"),
            [{"room": room, "n": i["n"]} for i in items],
        )


async def kept(db: Database) -> list[tuple[str, int]]:
    async with db.read() as s:
        return [(r[0], r[1]) for r in await s.execute(sa.text("SELECT room, n FROM kept ORDER BY n"))]


async def test_records_are_written_in_batches_grouped_by_room(db: Database) -> None:
    j = Journal(db)
    seen = Seen()
    j.register("chat", seen)
    j.start()
    try:
        for n in range(5):
            j.record("111111111" if n % 2 else "222222222", "chat", {"n": n})
        j.record("111111111", "nobody", {"n": 99})  # no writer: not kept, not queued
        await j.flush()
        assert await kept(db) == [
            ("222222222", 0),
            ("111111111", 1),
            ("222222222", 2),
            ("111111111", 3),
            ("222222222", 4),
        ]
        # one batch: both rooms' groups in the same transaction, each room's records oldest first
        assert [(room, ns) for room, ns, _ in seen.calls] == [("222222222", [0, 2, 4]), ("111111111", [1, 3])]
        assert seen.calls[0][2] == seen.calls[1][2]
        # more than BATCH records: several transactions of at most BATCH each
        for n in range(100, 100 + journal_module.BATCH + 10):
            j.record("111111111", "chat", {"n": n})
        seen.calls.clear()
        await j.flush()
        assert [len(ns) for _, ns, _ in seen.calls] == [journal_module.BATCH, 10]
        assert len(await kept(db)) == 5 + journal_module.BATCH + 10
    finally:
        await j.close()


async def test_a_rooms_records_keep_their_order_across_kinds(db: Database) -> None:
    """A message and its deletion in one batch: the deletion of an earlier message first, then a new message,
    then its deletion. Grouped by kind, the second deletion was written before its message (which then stayed
    undeleted); in runs, each room's records are written in the order recorded."""
    j = Journal(db)
    order: list[tuple[str, str, list[int]]] = []

    def writer(kind: str) -> Any:
        async def write(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
            order.append((room, kind, [i["n"] for i in items]))

        return write

    j.register("chat", writer("chat"))
    j.register("chatDeleted", writer("chatDeleted"))
    for room, kind, n in [
        ("A", "chatDeleted", 1),
        ("B", "chat", 2),
        ("A", "chat", 3),
        ("A", "chat", 4),
        ("A", "chatDeleted", 4),
        ("B", "chat", 5),
    ]:
        j.record(room, kind, {"n": n})
    await j.flush()
    assert order == [
        ("A", "chatDeleted", [1]),
        ("A", "chat", [3, 4]),
        ("A", "chatDeleted", [4]),
        ("B", "chat", [2, 5]),
    ]


async def test_the_queue_is_bounded_oldest_dropped_and_counted(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(journal_module, "MAX_QUEUED", 10)
    monkeypatch.setattr(journal_module, "BATCH", 4)
    j = Journal(db)  # not started: nothing is written until flush()
    seen = Seen()
    j.register("chat", seen)
    with caplog.at_level(logging.WARNING, "mediaserver.interaction.journal"):
        for n in range(13):
            j.record("111111111", "chat", {"n": n})
    # at 10 queued the 11th record drops the oldest BATCH (4): 0..3 are gone, 4..12 remain
    assert j.dropped == 4 and "dropped" in caplog.text
    await j.flush()
    assert [n for _, n in await kept(db)] == list(range(4, 13))


async def test_a_failing_batch_is_logged_and_dropped_and_the_next_is_written(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    j = Journal(db)
    seen = Seen()
    fail = asyncio.Event()
    fail.set()

    async def flaky(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
        await seen(s, room, items)  # written in the transaction, then the batch fails: rolled back
        if fail.is_set():
            raise RuntimeError("the database said no")

    j.register("chat", flaky)
    j.start()
    try:
        with caplog.at_level(logging.ERROR, "mediaserver.interaction.journal"):
            j.record("111111111", "chat", {"n": 1})
            j.record("111111111", "chat", {"n": 2})
            await j.flush()
        assert j.failed == 2 and "was not written" in caplog.text and "the database said no" in caplog.text
        assert await kept(db) == []  # the failed batch's transaction was rolled back
        fail.clear()
        j.record("111111111", "chat", {"n": 3})
        await j.flush()  # the task still runs: the next batch is written
        assert await kept(db) == [("111111111", 3)] and j.failed == 2
    finally:
        await j.close()


async def test_flush_waits_for_what_was_recorded_and_close_writes_the_rest(db: Database) -> None:
    j = Journal(db)
    gate = asyncio.Event()

    async def slow(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
        await gate.wait()
        await Seen()(s, room, items)

    j.register("chat", slow)
    j.start()
    j.record("111111111", "chat", {"n": 1})
    flushed = asyncio.ensure_future(j.flush())
    await asyncio.sleep(0.05)
    assert not flushed.done()  # the writer has not finished
    gate.set()
    await asyncio.wait_for(flushed, 5)
    assert await kept(db) == [("111111111", 1)]
    j.record("111111111", "chat", {"n": 2})
    await j.close()  # shutting down writes what is queued
    assert await kept(db) == [("111111111", 1), ("111111111", 2)]
