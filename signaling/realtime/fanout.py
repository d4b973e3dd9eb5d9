"""The interaction fan-out (issue 16): once per tick, each room's new interaction entries go to its sockets.

Per room and tick the entries are serialised once per audience, not once per socket: everyone who gets only
the room-wide entries is written the same bytes (one JSON text and one WebSocket frame for all of them); the
staff share a second frame; only a person with a private entry this tick gets a frame of their own. Frames go
straight onto each connection's transport (the WebSocket frame is built here: a server's frames are not
masked, and an uncompressed frame is valid whatever the connection negotiated, RFC 7692 section 6), and a
connection whose transport holds more than ``limit`` bytes unsent (a client that does not read) is dropped,
never buffered without bound: its SDK reconnects and gets the room's snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable
from typing import Any, Protocol

from aiohttp import web

from mediaserver.interaction.log import EVERYONE, STAFF_ROLES, Entry, reaches
from mediaserver.rtc.rooms import RoomManager

log = logging.getLogger("signaling.fanout")

TICK = 0.1  # seconds: frames per second per socket at most 10; a message waits 50 ms on average
LIMIT = 256 * 1024  # bytes a slow client may have unsent before it is dropped


class Outlet(Protocol):
    """A connection the fan-out writes to (signaling.realtime.ws.Connection)."""

    def write_frame(self, frame: bytes) -> bool:
        """Write one WebSocket frame; False if the connection is gone or was dropped as too slow."""
        ...


def text_frame(payload: bytes) -> bytes:
    """One unmasked, final WebSocket text frame (RFC 6455 section 5.2) carrying ``payload``."""
    n = len(payload)
    if n < 126:
        head = bytes((0x81, n))
    elif n < 65536:
        head = bytes((0x81, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x81, 127)) + n.to_bytes(8, "big")
    return head + payload


def frame_of(entries: Iterable[Entry]) -> bytes:
    events = [e.wire() for e in entries]
    body = json.dumps({"method": "interaction", "params": {"events": events}}, ensure_ascii=False)
    return text_frame(body.encode())


class Fanout:
    """The rooms' interaction, sent every ``tick`` seconds to the connections registered for their
    participants."""

    def __init__(self, rooms: RoomManager, tick: float = TICK) -> None:
        self.rooms = rooms
        self.tick = tick
        self.outlets: dict[str, Outlet] = {}  # participant id -> its connection
        self.frames = 0  # frames serialised (for the benchmark's figures and the metrics)
        self.writes = 0  # frames written to sockets
        self.dropped = 0  # connections cut off for not reading
        self._task: asyncio.Task[None] | None = None

    def register(self, participant: str, outlet: Outlet) -> None:
        self.outlets[participant] = outlet

    def unregister(self, participant: str) -> None:
        self.outlets.pop(participant, None)

    def flush(self) -> None:
        """One tick: every room's pending entries out."""
        for room in list(self.rooms.rooms.values()):
            entries = room.interaction.tick()
            if entries:
                self._send(room.participants.values(), entries)

    def _send(self, participants: Iterable[Any], entries: list[Entry]) -> None:
        common = [e for e in entries if e.audience == EVERYONE]
        special = [e for e in entries if e.audience != EVERYONE]
        shared: bytes | None = frame_of(common) if common else None
        staff: bytes | None = None
        ones = {e.audience[1] for e in special if e.audience[0] == "one"}
        pluses = {e.audience[1] for e in special if e.audience[0] == "staff+"}
        self.frames += shared is not None
        for p in participants:
            if p.status != "joined":
                continue
            outlet = self.outlets.get(p.id)
            if outlet is None:
                continue
            is_staff = p.role in STAFF_ROLES
            key = p.person_key if special else ""
            if special and (key in ones or (not is_staff and key in pluses)):
                frame = frame_of(e for e in entries if reaches(e.audience, key, p.role))
                self.frames += 1
            elif special and is_staff:
                if staff is None:  # the same for every staff member without an entry of their own
                    staff = frame_of(e for e in entries if reaches(e.audience, "", p.role))
                    self.frames += 1
                frame = staff
            elif shared is not None:
                frame = shared
            else:
                continue
            self.writes += 1
            outlet.write_frame(frame)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick)
            try:
                self.flush()
            except Exception:  # a bug in one tick must not end the fan-out of every room
                log.exception("interaction fan-out tick failed")

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def install(app: web.Application, fanout: Fanout) -> None:
    """Start the fan-out with the application and stop it with it."""

    async def start(_app: web.Application) -> None:
        fanout.start()

    async def stop(_app: web.Application) -> None:
        await fanout.stop()

    app.on_startup.append(start)
    app.on_cleanup.append(stop)
