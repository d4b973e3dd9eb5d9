"""Fixtures of the signaling tests."""

from __future__ import annotations

import aiohttp
import pytest

from tests.signaling.client import Client


@pytest.fixture
async def connect(server):
    base = server["base_url"].replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session:
        opened = []

        async def factory() -> Client:
            ws = await session.ws_connect(base)
            opened.append(ws)
            return Client(ws)

        yield factory
        for ws in opened:
            await ws.close()
