"""Interaction records on their way to the database (issue 16): what statistics and exports need (chat
messages, poll answers, questions, call-to-action clicks) is recorded by the features as it happens, with no
wait, and written by one task in batches, one transaction per batch, so that 5,000 people answering a poll at
once cost a few transactions, not 5,000.

A feature records ``(room, kind, data)``; the module that stores a kind registers a :data:`Writer` for it
(``journal.register("chat", write_chat)``), which gets the batch's records of that kind, room by room, inside
the batch's transaction; a room's records are written in the order they were recorded (one call per run of
records of one kind), so a message comes before its deletion. The queue is bounded (:data:`MAX_QUEUED`):
should the database fall that far behind, the oldest records are dropped and counted, never the server's
memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.store.db import Database

log = logging.getLogger("mediaserver.interaction.journal")

#: (session, room id, the records of one kind for that room, oldest first)
Writer = Callable[[AsyncSession, str, list[dict[str, Any]]], Awaitable[None]]
#: A room's own recorder: (kind, data).
Record = Callable[[str, dict[str, Any]], None]

MAX_QUEUED = 200_000
BATCH = 2_000


class Journal:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.writers: dict[str, Writer] = {}
        self._queue: list[tuple[str, str, dict[str, Any]]] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # records lost to a full queue
        self.failed = 0  # records lost to a failed transaction

    def register(self, kind: str, writer: Writer) -> None:
        self.writers[kind] = writer

    def record(self, room: str, kind: str, data: dict[str, Any]) -> None:
        """Queue one record (kinds nobody registered a writer for are not kept)."""
        if kind not in self.writers:
            return
        if len(self._queue) >= MAX_QUEUED:
            del self._queue[:BATCH]
            self.dropped += BATCH
            log.warning("interaction journal full: %d oldest records dropped", BATCH)
        self._queue.append((room, kind, data))
        self._idle.clear()
        self._wake.set()

    def for_room(self, room: str) -> Record:
        return lambda kind, data: self.record(room, kind, data)

    async def _write(self, batch: list[tuple[str, str, dict[str, Any]]]) -> None:
        # room by room, each room's records in the order recorded, a run of one kind in one call: a chat
        # message and its deletion in one batch are written in that order, whatever came between
        runs: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}
        for room, kind, data in batch:
            mine = runs.setdefault(room, [])
            if mine and mine[-1][0] == kind:
                mine[-1][1].append(data)
            else:
                mine.append((kind, [data]))
        try:
            async with self.db.tx() as s:
                for room, kinds in runs.items():
                    for kind, items in kinds:
                        await self.writers[kind](s, room, items)
        except Exception:  # a bad batch is logged and dropped: retrying it forever would stop all the others
            self.failed += len(batch)
            log.exception("interaction journal: a batch of %d records was not written", len(batch))

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                await self._write(batch)
            self._idle.set()

    async def flush(self) -> None:
        """Wait until everything recorded so far is written (tests; shutting down)."""
        if self._task is None:
            while self._queue:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                await self._write(batch)
            return
        await self._idle.wait()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def close(self) -> None:
        if self._task is not None:
            await self.flush()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
