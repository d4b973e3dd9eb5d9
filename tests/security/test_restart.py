"""A restart does not end a webinar (issue 14, found by the operator review): a server killed with SIGKILL
during a live instant event and started again at once keeps the event live for `restart_grace` seconds; the
room page (the SDK) reconnects with back-off and sends its camera again without anyone doing anything, and
an attendee's join token still works. Before the fix the event was `done` and its people got 410."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from tests.conftest import free_port, loopback_only_ice, mail_spool, serve, wait_for
from tests.e2e import browser
from tests.e2e.peers import Signal, count_frames, pc
from tests.e2e.test_room_access import Organiser, guest, host_link, in_room, join_as, state

SECRET = "restart-test-secret-0123456789abcdef-0123456789"
API_KEY = "restart-test-api-key-0123456789abcdef"


def settings(port: int, grace: int) -> dict[str, str]:
    return {
        "MEDIASERVER_HTTP_PORT": str(port),
        "MEDIASERVER_SECRET": SECRET,
        "MEDIASERVER_API_KEY": API_KEY,
        "MEDIASERVER_RESTART_GRACE": str(grace),
    }


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL: no clean-up of any kind runs (what a crash or an OOM kill does)."""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def event_status(org: Organiser, event_id: int) -> str:
    return org.call("GET", f"/api/v1/events/{event_id}", None, 200)["status"]


async def attend(session: aiohttp.ClientSession, base: str, token: str):
    """An aiortc attendee: join with ``token``, receive the room's tracks; (signal, connection, counts)."""
    ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
    sig = Signal(ws)
    r = await sig.call("join", token=token)
    assert "result" in r, r
    conn = pc()
    counts, _ = count_frames(conn)
    r = await sig.call("subscribe")
    assert "result" in r, r
    await conn.setRemoteDescription(RTCSessionDescription(r["result"]["sdp"], "offer"))
    await conn.setLocalDescription(await conn.createAnswer())
    assert "result" in await sig.call("answer", sdp=conn.localDescription.sdp)
    return sig, conn, counts


async def host_video_arrives(session: aiohttp.ClientSession, base: str, token: str) -> None:
    """The attendee decodes video from the host's page within 30 s (the host may be publishing again only
    after its reconnection: a subscription with nothing to receive yet is tried again)."""
    end = time.monotonic() + 30
    while True:
        try:
            sig, conn, counts = await attend(session, base, token)
        except AssertionError:
            if time.monotonic() > end:
                raise
            await asyncio.sleep(1)
            continue
        try:
            if await wait_for(lambda c=counts: c["video"] >= 10, 20):
                return
        finally:
            await conn.close()
            await sig.ws.close()
        assert time.monotonic() < end, counts


@pytest.mark.timeout(240)
async def test_a_killed_server_restarted_keeps_the_webinar_and_its_people(tmp_path):
    if (why := browser.missing()) is not None:
        pytest.skip(why)
    loopback_only_ice()
    port = free_port()
    with serve(tmp_path / "run1", **settings(port, 90)) as (base, proc, _log):
        org = Organiser(base, mail_spool(tmp_path / "run1" / "data"))
        ev = org.event(name="Restart talk")
        assert ev["status"] == "live", ev
        status, grant = guest(
            base, "POST", f"/api/v1/rooms/{ev['roomId']}/join", {"name": "Ann", "email": "ann@example.test"}
        )
        assert status == 200 and grant["role"] == "attendee", grant
        with browser.chromium() as d:
            await asyncio.to_thread(join_as, d, host_link(base, ev), "Host", "host")
            async with aiohttp.ClientSession() as session:
                await host_video_arrives(session, base, grant["token"])

                kill(proc)
                # the page notices and keeps trying (back-off) while the server is down
                seen = await asyncio.to_thread(
                    browser.poll,
                    lambda: d.execute_script("return document.body.dataset.connection || ''"),
                    lambda v: v == "reconnecting",
                    15,
                    0.2,
                )
                assert seen == "reconnecting", browser.console(d)
                with serve(tmp_path / "run1", **settings(port, 90)) as (base2, _proc2, log2):
                    assert base2 == base
                    # nobody did anything: the page is back in the room, live, and sends its camera again
                    back = await asyncio.to_thread(
                        browser.poll,
                        lambda: d.execute_script("return document.body.dataset.connection || ''"),
                        lambda v: v == "live",
                        40,
                        0.3,
                    )
                    assert back == "live", (browser.console(d), log2.read_text()[-3000:])
                    me = await asyncio.to_thread(in_room, d)
                    assert me["role"] == "host" and not state(d).get("error"), state(d)
                    assert event_status(org, ev["id"]) == "live"
                    # the attendee's token from before the restart still joins; the host's video arrives
                    await host_video_arrives(session, base, grant["token"])
                    status, again = guest(
                        base,
                        "POST",
                        f"/api/v1/rooms/{ev['roomId']}/join",
                        {"name": "Bob", "email": "bob@example.test"},
                    )
                    assert status == 200, again


@pytest.mark.timeout(120)
def test_an_event_nobody_returns_to_ends_after_the_grace(tmp_path):
    """``restart_grace`` decides how long a live event waits for its people: with 0 it ends at once after
    the restart (and its people are told it is over); with a grace it is still live right after."""
    port = free_port()
    with serve(tmp_path / "a", **settings(port, 60)) as (base, proc, _log):
        org = Organiser(base, mail_spool(tmp_path / "a" / "data"))
        kept = org.event(name="Kept")
        kill(proc)
    with serve(tmp_path / "a", **settings(port, 60)) as (base, proc, _log):
        assert event_status(org, kept["id"]) == "live"
        status, grant = guest(
            base, "POST", f"/api/v1/rooms/{kept['roomId']}/join", {"name": "Ann", "email": "ann@example.test"}
        )
        assert status == 200, grant
        kill(proc)
    with serve(tmp_path / "a", **settings(port, 0)) as (base, _proc, _log):
        deadline = time.monotonic() + 30
        while event_status(org, kept["id"]) == "live" and time.monotonic() < deadline:
            time.sleep(0.3)
        assert event_status(org, kept["id"]) == "done"
        status, gone = guest(
            base, "POST", f"/api/v1/rooms/{kept['roomId']}/join", {"name": "Ann", "email": "ann@example.test"}
        )
        assert status == 410, gone
