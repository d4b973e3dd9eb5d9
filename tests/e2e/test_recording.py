# ruff: noqa: F811  (pytest fixtures imported from tests/api/conftest.py are parameters here)
"""Recording with real aiortc peers through the real server (R-REC-1, -2, -3, R-ROOM-14; webhooks
recording.started / recording.ready, R-API-2): a host publishes VP8 and Opus into an event's room, records
over the WebSocket, every participant sees the indicator, and the WebM that lands in the file library is
decoded with PyAV."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import av
import numpy as np
import pytest
from aiohttp import web
from sqlalchemy import select

from mediaserver.outbox import webhooks
from mediaserver.output import recording
from mediaserver.rtc import tokens
from mediaserver.store.models import Account, Recording
from signaling import keys
from tests.api.conftest import (  # noqa: F401  (fixtures)
    Served,
    api,
    call,
    hook_receiver,
    loopback,
    paid,
    recording_ready,
    signup,
    smtp,
)
from tests.conftest import wait_for
from tests.e2e.peers import join_and_publish, join_only, publish

# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [pytest.mark.timeout(120), pytest.mark.alone]


@pytest.fixture
async def database_url(tmp_path: Any) -> str:
    """SQLite only here: tests/api/test_recordings.py runs the API on PostgreSQL too."""
    return f"sqlite+aiosqlite:///{tmp_path}/control.db"


class Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    def of(self, kind: str) -> list[tuple[dict[str, str], bytes]]:
        return [(h, b) for h, b in self.got if json.loads(b)["type"] == kind]


@pytest.fixture
async def receiver():
    recv = Receiver()
    async with hook_receiver(recv.handle) as recv.url:
        yield recv


async def live_event(api: Served, http: aiohttp.ClientSession, **extra: Any) -> dict:
    return await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Launch", **extra}
    )


def room_token(api: Served, ev: dict, role: str, name: str) -> str:
    return tokens.issue(api.settings.secret, ev["roomId"], role, name, name)


def decode(path: str) -> dict[str, Any]:
    """Decode every frame of a media file with PyAV."""
    out: dict[str, Any] = {"video": 0, "sizes": set(), "audio": 0, "rms": 0.0, "end": 0.0}
    with av.open(path) as c:
        assert c.format.name.startswith("matroska")  # webm is matroska's profile
        kinds = {s.type: s.codec_context.name for s in c.streams}
        out["codecs"] = kinds
        pcm = []
        for frame in c.decode(*c.streams):
            t = float(frame.pts * frame.time_base) if frame.pts is not None else 0.0
            if isinstance(frame, av.VideoFrame):
                out["video"] += 1
                out["sizes"].add((frame.width, frame.height))
                out["end"] = max(out["end"], t)
            else:
                out["audio"] += 1
                pcm.append(frame.to_ndarray().astype(np.float64).ravel())
                out["end"] = max(out["end"], t + frame.samples / frame.sample_rate)
        if pcm:
            allpcm = np.concatenate(pcm)
            out["rms"] = float(np.sqrt(np.mean(allpcm**2)))
    return out


async def download(http: aiohttp.ClientSession, file_id: int, tmp_path: Any) -> str:
    async with http.get(f"/api/v1/files/{file_id}/content") as r:
        assert r.status == 200, await r.text()
        path = str(tmp_path / f"file-{file_id}.webm")
        with open(path, "wb") as f:
            f.write(await r.read())
    return path


async def notes(sig: Any, method: str, pred: Any, timeout: float = 10) -> dict:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            n = await asyncio.wait_for(sig.notes.get(), max(0.01, end - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if n.get("method") == method and pred(n["params"]):
            return n["params"]
    raise AssertionError(f"no {method} notification")


@loopback
async def test_host_records_over_the_websocket_and_gets_a_playable_webm(api, receiver, tmp_path):
    """R-REC-1: one host action records; the indicator reaches every participant; stop gives a WebM in the
    file library (source 'recording') that PyAV decodes: VP8 frames at the publisher's 320x240 without
    re-encoding, the Opus tone mixed in, the length of the time recorded. R-REC-3: a presenters-only
    stretch in the middle is not recorded (the recording is that much shorter). R-ROOM-14: the room's
    language at the start is kept. recording.started and recording.ready reach a real receiver, signed
    (R-API-2)."""
    http, _ = await signup(api)
    await paid(http, "live")
    hook = await call(
        http,
        "POST",
        "/api/v1/webhooks",
        201,
        json={"url": receiver.url, "events": ["recording.started", "recording.ready"]},
    )
    ev = await live_event(api, http, language="ru")
    async with aiohttp.ClientSession() as session:
        host, conn, cam = await join_and_publish(session, api.base_url, room_token(api, ev, "host", "Hanna"))
        guest = await join_only(session, api.base_url, room_token(api, ev, "attendee", "Artem"))
        rooms = api.app[keys.ROOMS]
        room = rooms.find(ev["roomId"])
        assert await wait_for(
            lambda: (
                all(room.media.producer_stats(t.producer_id)["packets"] > 50 for t in room.tracks.values())
                and len(room.tracks) == 2
            ),
            15,
        )
        # the host changes the room's language before pressing REC: the recording keeps it (R-ROOM-14)
        r = await host.call("host", action="setLanguage", language="en")
        assert "result" in r, r

        r = await guest.call("host", action="startRecording")  # only the host
        assert r["error"]["code"] == "forbidden", r
        r = await host.call("host", action="startRecording")
        assert "result" in r, r
        rec_id = r["result"]["id"]
        assert r["result"]["status"] == "recording" and r["result"]["language"] == "en"
        t0 = time.monotonic()
        seen = await notes(guest, "roomUpdated", lambda p: p["room"]["recording"] is True)
        assert seen["room"]["recording"] is True
        r = await host.call("host", action="startRecording")
        assert r["error"]["code"] == "already_recording", r
        # a late joiner's snapshot carries the indicator too
        late = await join_only(session, api.base_url, room_token(api, ev, "attendee", "Lena"))
        assert late.joined["room"]["recording"] is True

        await asyncio.sleep(3)
        r = await host.call("host", action="setAudioMode", mode="presenters")  # R-REC-3: not recorded
        assert "result" in r, r
        t_pause = time.monotonic()
        await asyncio.sleep(3)
        r = await host.call("host", action="setAudioMode", mode="listen")
        assert "result" in r, r
        paused_for = time.monotonic() - t_pause
        await asyncio.sleep(3)
        r = await host.call("host", action="stopRecording")
        assert "result" in r, r
        recorded = time.monotonic() - t0 - paused_for
        assert r["result"]["status"] == "processing"
        await notes(guest, "roomUpdated", lambda p: p["room"]["recording"] is False)
        await conn.close()

    rec = await recording_ready(http, rec_id)
    assert rec["status"] == "ready", rec
    assert rec["language"] == "en" and rec["stopReason"] == "host" and rec["eventId"] == ev["id"]
    assert abs(rec["duration"] - recorded) < 1.5, (rec["duration"], recorded)
    files = await call(http, "GET", "/api/v1/files", 200)
    [f] = [f for f in files["items"] if f["id"] == rec["fileId"]]
    assert f["source"] == "recording" and f["name"].endswith(".webm") and f["size"] == rec["size"] > 0
    got = decode(await download(http, rec["fileId"], tmp_path))
    assert got["codecs"] == {"video": "vp8", "audio": "opus"}
    assert got["sizes"] == {(320, 240)}
    assert got["video"] >= 0.4 * 30 * recorded, (got["video"], recorded)  # ~30 fps of the stretches kept
    assert got["audio"] > 0 and got["rms"] > 0.05, got  # the tone, not silence
    assert abs(got["end"] - recorded) < 1.5, (got["end"], recorded)

    assert await wait_for(lambda: receiver.of("recording.ready"), 15)
    ((h1, b1),) = receiver.of("recording.started")
    ((h2, b2),) = receiver.of("recording.ready")
    for h, b in ((h1, b1), (h2, b2)):
        sig, delivery = h["X-Mediaserver-Signature"], h["X-Mediaserver-Delivery"]
        assert webhooks.verify(hook["secret"], sig, delivery, b)
        assert not webhooks.verify(hook["secret"], sig, delivery, b + b" ")
    started, done = json.loads(b1)["data"], json.loads(b2)["data"]
    assert started["recording"]["id"] == rec_id and started["event"]["roomId"] == ev["roomId"]
    assert done["recording"]["fileId"] == rec["fileId"] and done["recording"]["size"] == rec["size"]
    assert abs(done["recording"]["duration"] - rec["duration"]) < 0.01
    assert done["video"]["width"] == 320 and done["audioTracks"] == 1


async def test_the_trial_stops_at_its_limit_and_then_refuses(api):
    """R-REC-2 / R-ACC-1: the free trial records at most 30 minutes (the real default is checked; the test
    lowers the limit to seconds): the recording stops by itself, the indicator goes off, and no new
    recording starts."""
    assert recording.TRIAL_SECONDS == 30 * 60
    service = api.app[keys.RECORDINGS]
    assert service.trial_seconds == 30 * 60
    service.trial_seconds = 2.5
    http, _ = await signup(api)  # a trial account
    ev = await live_event(api, http)
    async with aiohttp.ClientSession() as session:
        host, conn, _ = await join_and_publish(session, api.base_url, room_token(api, ev, "host", "Tom"))
        room = api.app[keys.ROOMS].find(ev["roomId"])
        await asyncio.sleep(1)
        rec = await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/start", 201)
        assert room.settings.recording
        assert await wait_for(lambda: not room.settings.recording, 10)
        await notes(host, "roomUpdated", lambda p: p["room"]["recording"] is False)
        rec = await recording_ready(http, rec["id"])
        assert rec["status"] == "ready" and rec["stopReason"] == "trial_limit"
        assert 2.0 <= rec["duration"] <= 3.6, rec
        err = await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/start", 403)
        assert err["error"]["code"] == "recording_limit_reached" and "30 minutes" in err["error"]["message"]
        r = await host.call("host", action="startRecording")
        assert r["error"]["code"] == "recording_limit_reached", r
        # deleting the recording frees the minutes
        await call(http, "DELETE", f"/api/v1/recordings/{rec['id']}", 204)
        await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/start", 201)
        await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/stop", 200)
        await conn.close()


async def test_a_paid_allowance_used_up_refuses_a_start_but_a_running_recording_goes_on(api):
    """R-REC-2 (Russian original: "Система даст вам возможность продолжить запись до окончания
    мероприятия"): a paid account whose recording minutes run out during the event keeps recording to the
    end of the event; once used up, a new recording cannot start."""
    http, me = await signup(api)
    await paid(http, "mywebinars")  # 360 minutes
    ev = await live_event(api, http)
    async with aiohttp.ClientSession() as session:
        host, conn, _ = await join_and_publish(session, api.base_url, room_token(api, ev, "host", "Pat"))
        room = api.app[keys.ROOMS].find(ev["roomId"])
        await asyncio.sleep(1)
        rec = await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/start", 201)
        async with api.app[keys.DB].tx() as s:  # meanwhile the allowance is used up by other recordings
            account_id = rec_account = (await s.get(Recording, rec["id"])).account_id
            s.add(
                Recording(
                    account_id=account_id,
                    name="older",
                    status="ready",
                    language="en",
                    duration=360 * 60.0,
                    size=0,
                    stop_reason="host",
                )
            )
        assert rec_account
        await asyncio.sleep(2)
        assert room.settings.recording  # goes on
        err = await call(http, "POST", f"/api/v1/events/{ev['id']}/recording/start", 409)
        assert err["error"]["code"] == "already_recording"
        await call(http, "POST", f"/api/v1/events/{ev['id']}/end", 200)  # to the end of the event
        assert await wait_for(lambda: not room.settings.recording, 5)
        done = await recording_ready(http, rec["id"])
        assert done["status"] == "ready" and done["stopReason"] == "ended" and done["duration"] >= 1.5
        await conn.close()
    ev2 = await live_event(api, http, name="Next")
    err = await call(http, "POST", f"/api/v1/events/{ev2['id']}/recording/start", 403)
    assert err["error"]["code"] == "recording_limit_reached", err
    async with api.app[keys.DB].read() as s:
        assert (await s.scalar(select(Account.plan).where(Account.id == account_id))) == "mywebinars"


async def test_auto_record_starts_with_the_event_and_presenters_only_records_nothing(api, tmp_path):
    """R-REC-1 "start recording automatically": with the account setting on, an event's session is recorded
    from its start. R-REC-3: a recording made entirely in presenters-only mode has nothing in it (it fails
    as empty instead of producing a file)."""
    http, _ = await signup(api)
    await paid(http, "live")
    await call(http, "PATCH", "/api/v1/account/settings", 200, json={"autoRecord": True})
    ev = await live_event(api, http)
    room = api.app[keys.ROOMS].find(ev["roomId"])
    assert room.settings.recording  # recording from the start
    [rec] = (await call(http, "GET", "/api/v1/recordings", 200))["items"]
    assert rec["status"] == "recording" and rec["eventId"] == ev["id"]
    async with aiohttp.ClientSession() as session:
        host = await join_only(session, api.base_url, room_token(api, ev, "host", "Ann"))
        r = await host.call("host", action="setAudioMode", mode="presenters")
        assert "result" in r, r
        conn, _ = await publish(host)
        assert await wait_for(lambda: len(room.tracks) == 2, 10)
        assert await wait_for(
            lambda: all(
                room.media.producer_stats(t.producer_id)["packets"] > 50 for t in room.tracks.values()
            ),
            15,
        )
        await asyncio.sleep(3)
        r = await host.call("host", action="stopRecording")
        assert "result" in r, r
        await conn.close()
    done = await recording_ready(http, rec["id"])
    assert done["status"] == "failed" and done["fileId"] is None and done["size"] == 0
