"""A raw WebSocket client of the signaling protocol, and real aiortc offers, for the signaling tests."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection


async def make_offer(video: int = 1, audio: int = 1) -> str:
    """A real sendonly offer from aiortc (no ICE gathering needed: the server is ICE-lite)."""
    pc = RTCPeerConnection()
    for _ in range(video):
        pc.addTransceiver("video", direction="sendonly")
    for _ in range(audio):
        pc.addTransceiver("audio", direction="sendonly")
    offer = await pc.createOffer()
    await pc.close()
    return offer.sdp


class Client:
    """A raw client: sends anything, returns the next reply (notifications are kept aside)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.notes: list[dict[str, Any]] = []
        self.next_id = 100

    async def reply(self, timeout: float = 5) -> dict[str, Any]:
        while True:
            msg = await self.ws.receive(timeout=timeout)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            if "id" not in data and "method" in data:
                self.notes.append(data)
                continue
            return data

    async def note(self, method: str, timeout: float = 5) -> dict[str, Any]:
        """The first notification called method (waiting for it if needed)."""
        end = time.monotonic() + timeout
        while True:
            for n in self.notes:
                if n["method"] == method:
                    return n
            left = end - time.monotonic()
            assert left > 0, f"no {method} notification in {self.notes}"
            msg = await self.ws.receive(timeout=left)
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            data = json.loads(msg.data)
            assert "id" not in data, f"unexpected reply {data}"
            self.notes.append(data)

    async def raw(self, text: str) -> dict[str, Any]:
        await self.ws.send_str(text)
        return await self.reply()

    async def call(self, method: str, **params) -> dict[str, Any]:
        self.next_id += 1
        rid = self.next_id
        await self.ws.send_json({"id": rid, "method": method, "params": params})
        r = await self.reply()
        assert r["id"] == rid, r
        return r

    async def ok(self, method: str, **params) -> dict[str, Any]:
        r = await self.call(method, **params)
        assert "result" in r and "error" not in r, r
        return r["result"]

    async def err(self, method: str, code: str, **params) -> str:
        r = await self.call(method, **params)
        assert "error" in r and "result" not in r, r
        assert r["error"]["code"] == code, r
        assert isinstance(r["error"]["message"], str) and r["error"]["message"], r
        return r["error"]["message"]


# ---- the interaction notifications (issue 16): one frame a tick, events inside ----


async def drain(c: Client, timeout: float = 0.3) -> None:
    """Read whatever arrives within ``timeout`` into the client's notes."""
    end = time.monotonic() + timeout
    while (left := end - time.monotonic()) > 0:
        try:
            msg = await c.ws.receive(timeout=left)
        except asyncio.TimeoutError:
            return
        if msg.type != aiohttp.WSMsgType.TEXT:
            return
        c.notes.append(json.loads(msg.data))


def events(c: Client, kind: str | None = None) -> list[dict[str, Any]]:
    out = [e for n in c.notes if n.get("method") == "interaction" for e in n["params"]["events"]]
    return [e for e in out if kind is None or e["kind"] == kind]


async def wait_event(c: Client, kind: str, pred=lambda e: True, timeout: float = 5) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        found = [e for e in events(c, kind) if pred(e)]
        if found:
            return found[-1]
        assert time.monotonic() < end, f"no {kind} event in {events(c)}"
        await drain(c, 0.1)
