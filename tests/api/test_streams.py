"""The live-streaming API (R-REC-6, R-API-2) on SQLite and PostgreSQL: bad targets get a precise 400 and
start nothing, only a live event's room streams, a service that refuses the connection ends the stream as
failed (webhook stream.stopped with the reason, never the key), and nobody streams another account's event.
The stream itself, through a real RTMP server, is tests/e2e/test_streaming.py."""

from __future__ import annotations

import json

import aiohttp
from aiohttp import web

from signaling import keys
from tests.api.conftest import call, hook_receiver, loopback, paid, signup
from tests.conftest import free_port, wait_for

KEY = "never-show-me"


@loopback
async def test_targets_are_checked_and_a_refused_connection_fails_the_stream(api):
    got: list[bytes] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(await request.read())
        return web.Response(status=204)

    async with hook_receiver(handle) as url:
        http, _ = await signup(api)
        await paid(http, "live")
        await call(
            http,
            "POST",
            "/api/v1/webhooks",
            201,
            json={"url": url, "events": ["stream.started", "stream.stopped"]},
        )
        ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Launch"})
        path = f"/api/v1/events/{ev['id']}/stream"
        for body, words in [
            ({}, "url"),
            ({"url": "http://example.com/live/x"}, "rtmp://"),
            ({"url": "rtmp://h/live"}, "application"),
            ({"url": "rtmp://h/live", "key": "has space"}, "without spaces"),
            ({"url": "rtmp://h/live", "x": 1}, "x"),
        ]:
            err = await call(http, "POST", path, 400, json=body)
            assert words in json.dumps(err), (body, err)
        await call(http, "GET", path, 404)
        await call(http, "DELETE", path, 409)
        room = api.app[keys.ROOMS].find(ev["roomId"])
        assert room is not None and not room.settings.streaming

        closed = free_port()  # nothing listens there: the service refuses
        s = await call(http, "POST", path, 201, json={"url": f"rtmp://127.0.0.1:{closed}/live", "key": KEY})
        assert s["status"] in ("connecting", "failed") and KEY not in json.dumps(s)
        await call(
            http, "POST", path, 409, json={"url": f"rtmp://127.0.0.1:{closed}/live", "key": KEY}
        ) if room.settings.streaming else None
        assert await wait_for(lambda: len(got) == 2, 20), got
        assert await wait_for(lambda: not room.settings.streaming, 5)
        await call(http, "GET", path, 404)
        started, stopped = (json.loads(b)["data"] for b in got)
        assert started["stream"]["target"] == f"rtmp://127.0.0.1:{closed}/live/…"
        assert stopped["stream"]["status"] == "failed" and stopped["stream"]["stopReason"] == "failed"
        assert "could not connect" in stopped["stream"]["error"]
        assert all(KEY.encode() not in b for b in got)

        # a planned event is not live: nothing to stream yet
        planned = await call(
            http,
            "POST",
            "/api/v1/events",
            201,
            json={"kind": "scheduled", "name": "Later", "startsAt": "2099-01-01T10:00:00Z"},
        )
        err = await call(
            http,
            "POST",
            f"/api/v1/events/{planned['id']}/stream",
            409,
            json={"url": "rtmp://127.0.0.1/live", "key": KEY},
        )
        assert err["error"]["code"] == "not_live", err

        # another account cannot stream (or see) this one's event
        other, _ = await signup(api)
        await call(other, "POST", path, 404, json={"url": "rtmp://127.0.0.1/live", "key": KEY})
        await call(other, "GET", path, 404)
        anon = aiohttp.ClientSession(base_url=api.base_url)
        try:
            async with anon.post(path, json={"url": "rtmp://127.0.0.1/live", "key": KEY}) as r:
                assert r.status == 401
        finally:
            await anon.close()
