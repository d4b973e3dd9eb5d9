# ruff: noqa: F811  (pytest fixtures imported from tests/api/conftest.py are parameters here)
"""Live streaming to a real RTMP service (R-REC-6, R-API-2 "RTMP export"): real aiortc peers publish VP8
and Opus into an event's room, the host streams it over the WebSocket to Debian's nginx-rtmp, and a PyAV
player reads the stream back from nginx: H.264 pictures of the host's camera at the configured size and the
AAC tone. Everyone in the room sees the live indicator; webhooks stream.started / stream.stopped are signed
and never carry the stream key; the stream ends with the session, and a service that goes away ends it as
failed."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import pytest

from mediaserver.outbox import webhooks
from signaling import keys
from tests.api.conftest import api, call, loopback, paid, signup, smtp  # noqa: F401  (fixtures)
from tests.conftest import wait_for
from tests.e2e.peers import join_and_publish, join_only
from tests.e2e.rtmp_server import Player, available, rtmp_server
from tests.e2e.test_recording import Receiver, live_event, notes, room_token

# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not available(), reason="nginx with the RTMP module is not installed"),
    pytest.mark.alone,
]

KEY = "s3cret-Key-42"


@pytest.fixture
async def database_url(tmp_path: Any) -> str:
    """SQLite only here: tests/api/test_streams.py runs the API on PostgreSQL too."""
    return f"sqlite+aiosqlite:///{tmp_path}/control.db"


@pytest.fixture
async def receiver():
    from tests.api.conftest import hook_receiver

    recv = Receiver()
    async with hook_receiver(recv.handle) as recv.url:
        yield recv


@pytest.fixture
def nginx(tmp_path):
    with rtmp_server(tmp_path / "nginx") as port:
        yield port


async def stream_status(http: aiohttp.ClientSession, ev: dict, want: str, timeout: float = 15) -> dict:
    end = time.monotonic() + timeout
    got: dict = {}
    while time.monotonic() < end:
        async with http.get(f"/api/v1/events/{ev['id']}/stream") as r:
            got = await r.json()
            if (r.status == 200 and got["status"] == want) or (want == "gone" and r.status == 404):
                return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"the stream never got {want}: {got}")


@loopback
async def test_host_streams_the_room_to_an_rtmp_service(api, receiver, nginx):
    """R-REC-6: the host starts and stops the live stream in the room; nginx-rtmp gets H.264 + AAC that PyAV
    plays: the camera's pictures (not black, changing) at the configured size and the tone."""
    api.app[keys.STREAMS].size = (320, 240)  # a small picture keeps the test light on 2 cores
    http, _ = await signup(api)
    await paid(http, "live")
    hook = await call(
        http,
        "POST",
        "/api/v1/webhooks",
        201,
        json={"url": receiver.url, "events": ["stream.started", "stream.stopped"]},
    )
    ev = await live_event(api, http)
    async with aiohttp.ClientSession() as session:
        host, conn, _cam = await join_and_publish(session, api.base_url, room_token(api, ev, "host", "Hanna"))
        guest = await join_only(session, api.base_url, room_token(api, ev, "attendee", "Artem"))
        room = api.app[keys.ROOMS].find(ev["roomId"])
        assert await wait_for(
            lambda: (
                len(room.tracks) == 2
                and all(
                    room.media.producer_stats(t.producer_id)["packets"] > 30 for t in room.tracks.values()
                )
            ),
            15,
        )

        url = f"rtmp://127.0.0.1:{nginx}/live"
        r = await guest.call("host", action="startStream", url=url, key=KEY)  # only the host
        assert r["error"]["code"] == "forbidden", r
        r = await host.call("host", action="startStream", url="http://127.0.0.1/live", key=KEY)
        assert r["error"]["code"] == "bad_stream_target" and "rtmp://" in r["error"]["message"], r
        r = await host.call("host", action="startStream", url=url, key=KEY)
        assert "result" in r, r
        assert r["result"]["target"] == f"rtmp://127.0.0.1:{nginx}/live/…" and KEY not in json.dumps(r)
        seen = await notes(guest, "roomUpdated", lambda p: p["room"]["streaming"] is True)
        assert seen["room"]["streaming"] is True
        r = await host.call("host", action="startStream", url=url, key=KEY)
        assert r["error"]["code"] == "already_streaming", r
        late = await join_only(session, api.base_url, room_token(api, ev, "attendee", "Lena"))
        assert late.joined["room"]["streaming"] is True  # a late joiner's snapshot has the indicator

        live = await stream_status(http, ev, "live")
        assert live["startedBy"] == "Hanna" and KEY not in json.dumps(live)
        player = Player(f"{url}/{KEY}", seconds=4)
        player.start()
        await asyncio.get_running_loop().run_in_executor(None, player.join, 30)
        assert player.codecs == {"video": "h264", "audio": "aac"}, (player.codecs, player.error)
        assert player.sizes == {(320, 240)}
        assert player.video >= 60, (player.video, player.error)  # ~30 fps for 4 s, after a key frame
        assert max(player.means) > 30 and max(player.means) - min(player.means) > 2, player.means[::10]
        assert player.rms() > 0.05, player.rms()  # the tone, mixed and in AAC
        got = await stream_status(http, ev, "live")
        assert got["stageFrames"] > 100 and got["audioSeconds"] > 3, got

        r = await host.call("host", action="stopStream")
        assert "result" in r, r
        assert r["result"]["status"] == "stopped" and r["result"]["stopReason"] == "host"
        await notes(guest, "roomUpdated", lambda p: p["room"]["streaming"] is False)
        r = await host.call("host", action="stopStream")
        assert r["error"]["code"] == "not_streaming", r
        await stream_status(http, ev, "gone")
        await conn.close()

    assert await wait_for(lambda: receiver.of("stream.stopped"), 15)
    ((h1, b1),) = receiver.of("stream.started")
    ((h2, b2),) = receiver.of("stream.stopped")
    for h, b in ((h1, b1), (h2, b2)):
        assert webhooks.verify(hook["secret"], h["X-Mediaserver-Signature"], h["X-Mediaserver-Delivery"], b)
        assert KEY.encode() not in b  # the key is a secret
    started, stopped = json.loads(b1)["data"], json.loads(b2)["data"]
    assert started["event"]["roomId"] == ev["roomId"] and started["stream"]["startedBy"] == "Hanna"
    assert stopped["stream"]["stopReason"] == "host" and stopped["stream"]["videoFrames"] > 100


@loopback
async def test_the_stream_ends_with_the_session_and_fails_when_the_service_goes(api, receiver, tmp_path):
    """The session's end stops the stream (reason 'ended'); nginx going away mid-stream makes it 'failed' with
    the reason, the indicator goes off, and the API can start a new one."""
    api.app[keys.STREAMS].size = (160, 120)
    http, _ = await signup(api)
    await paid(http, "live")
    await call(
        http, "POST", "/api/v1/webhooks", 201, json={"url": receiver.url, "events": ["stream.stopped"]}
    )
    ev = await live_event(api, http)
    async with aiohttp.ClientSession() as session:
        host, conn, _cam = await join_and_publish(session, api.base_url, room_token(api, ev, "host", "Hanna"))
        room = api.app[keys.ROOMS].find(ev["roomId"])
        assert await wait_for(lambda: len(room.tracks) == 2, 15)
        with rtmp_server(tmp_path / "nginx1") as port:
            got = await call(
                http,
                "POST",
                f"/api/v1/events/{ev['id']}/stream",
                201,
                json={"url": f"rtmp://127.0.0.1:{port}/live/{KEY}"},
            )
            assert got["target"] == f"rtmp://127.0.0.1:{port}/live/…" and KEY not in json.dumps(got)
            await stream_status(http, ev, "live")
            assert await wait_for(lambda: room.settings.streaming, 5)
            await asyncio.sleep(1)
        # nginx is gone: the next writes fail, the stream ends as failed
        await stream_status(http, ev, "gone", timeout=30)
        assert not room.settings.streaming
        assert await wait_for(lambda: receiver.of("stream.stopped"), 15)
        failed = json.loads(receiver.of("stream.stopped")[0][1])["data"]["stream"]
        assert failed["status"] == "failed" and failed["stopReason"] == "failed", failed
        assert "broke" in failed["error"] and KEY not in failed["error"], failed

        with rtmp_server(tmp_path / "nginx2") as port:
            await call(
                http,
                "POST",
                f"/api/v1/events/{ev['id']}/stream",
                201,
                json={"url": f"rtmp://127.0.0.1:{port}/live", "key": KEY},
            )
            await stream_status(http, ev, "live")
            await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)  # the session ends
            await stream_status(http, ev, "gone")
            assert await wait_for(lambda: len(receiver.of("stream.stopped")) == 2, 15)
            ended = json.loads(receiver.of("stream.stopped")[1][1])["data"]["stream"]
            assert ended["status"] == "stopped" and ended["stopReason"] == "ended", ended
        await conn.close()
        del host
