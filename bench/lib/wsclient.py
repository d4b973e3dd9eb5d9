"""A minimal client of the WebSocket signaling protocol ({id, method, params} -> {id, result|error})."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp


class SignalError(RuntimeError):
    pass


class Signal:
    """One WebSocket connection; notifications are counted and dropped (the bench does not need them)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future] = {}
        self.notifications = 0
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, url: str, timeout: float = 10.0) -> Signal:
        ws = await asyncio.wait_for(session.ws_connect(url, heartbeat=None, max_msg_size=4 << 20), timeout)
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = msg.json()
                fut = self._waiting.pop(data.get("id"), None) if isinstance(data.get("id"), int) else None
                if fut is not None and not fut.done():
                    fut.set_result(data)
                else:
                    self.notifications += 1
        finally:
            for fut in self._waiting.values():
                if not fut.done():
                    fut.set_exception(SignalError("signaling connection closed"))
            self._waiting.clear()

    async def call(self, method: str, params: dict[str, Any] | None = None, timeout: float = 15.0) -> dict:
        rid = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[rid] = fut
        await self.ws.send_json({"id": rid, "method": method, "params": params or {}})
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            e = reply["error"]
            raise SignalError(f"{method}: {e.get('code')}: {e.get('message')}")
        return reply["result"]

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError):
            pass
        self._reader.cancel()
        try:
            await self._reader
        except (asyncio.CancelledError, Exception):
            pass
