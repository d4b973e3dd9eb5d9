"""Real browsers through the SFU: headless Chromium publishing and subscribing, WHIP into WHEP.

Runs against the installed server in its own process (`server_process`) since selenium calls block.
"""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request
from contextlib import ExitStack
from urllib.parse import urlencode

import aiohttp
import pytest
from aiortc import RTCSessionDescription

from tests.conftest import loopback_only_ice, token, wait_for
from tests.e2e import browser
from tests.e2e.peers import count_frames, pc

loopback_only_ice()

_why = browser.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}"),
    pytest.mark.alone,
]


@pytest.fixture
def browsers():
    """A factory of headless Chromiums; every one quits when the test ends, pass or fail."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(browser.chromium())


def page_url(base: str, tok: str, mode: str, **extra: str) -> str:
    return f"{base}/?{urlencode({'token': tok, 'mode': mode, **extra})}"


def diagnostics(driver) -> str:
    return f"page log: {browser.page_log(driver)!r}; console: {browser.console(driver)[-10:]}"


@pytest.mark.timeout(60)
def test_chromium_publisher_to_chromium_subscriber(server_process, browsers):
    base, room = server_process["base_url"], "chromium-ws"
    pub, sub = browsers(), browsers()

    pub.get(page_url(base, token(room, "presenter", "alice"), "publish"))
    st = browser.poll(lambda: browser.state(pub), lambda s: s.get("published") or s.get("error"), 15)
    assert st.get("published") and not st.get("error"), (st, diagnostics(pub))

    sub.get(page_url(base, token(room, "attendee", "bob"), "subscribe"))
    t0 = time.monotonic()
    got = browser.poll(
        lambda: browser.stats(sub),
        lambda s: s.get("error") or (s.get("framesDecoded", 0) > 20 and s.get("audioPackets", 0) > 20),
        20,
    )
    print(f"subscriber after {time.monotonic() - t0:.1f}s: {got}; publisher: {browser.stats(pub)}")
    assert got.get("framesDecoded", 0) > 20 and got.get("audioPackets", 0) > 20, (
        got,
        browser.state(sub),
        diagnostics(sub),
    )
    sub_state = browser.state(sub)
    assert sub_state.get("subscribed") and sub_state.get("tracks", 0) >= 2 and not sub_state.get("error"), (
        sub_state
    )
    pub_state = browser.state(pub)
    assert not pub_state.get("error"), (pub_state, diagnostics(pub))
    assert browser.stats(pub).get("framesSent", 0) > 20

    # Leaving the pages ends both sessions on the server.
    pub.get("about:blank")
    sub.get("about:blank")
    assert browser.poll(lambda: rooms(base), lambda n: n == 0, 10) == 0, rooms(base)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("codec", ["VP9", "H264"])
def test_chromium_codecs_are_forwarded_untouched(server_process, browsers, codec):
    """A publisher preferring VP9 or H.264: the subscriber receives and decodes that codec (R-MEDIA-2)."""
    base, room = server_process["base_url"], f"chromium-{codec.lower()}"
    pub, sub = browsers(), browsers()
    pub.get(page_url(base, token(room, "presenter", "pub"), "publish", codec=codec))
    st = browser.poll(lambda: browser.state(pub), lambda s: s.get("published") or s.get("error"), 15)
    assert st.get("published") and not st.get("error"), (st, diagnostics(pub))
    sub.get(page_url(base, token(room, "attendee", "sub"), "subscribe"))
    got = browser.poll(
        lambda: browser.stats(sub),
        lambda s: s.get("error") or (s.get("framesDecoded", 0) > 20 and s.get("videoCodecs")),
        20,
    )
    assert got.get("framesDecoded", 0) > 20, (got, diagnostics(sub))
    assert got["videoCodecs"] == [f"in:video/{codec}"], got
    assert f"out:video/{codec}" in browser.stats(pub)["videoCodecs"]
    if (
        codec == "H264"
    ):  # issue 15: Constrained Baseline goes out, which Safari decodes (Chrome's first, 42001f, not)
        fmtp = pub.execute_async_script(
            "const done = arguments[arguments.length - 1]; window.client.pub.getStats().then((r) => {"
            " let f = null; r.forEach((s) => {"
            " if (s.type === 'outbound-rtp' && s.kind === 'video' && s.codecId)"
            " f = r.get(s.codecId).sdpFmtpLine;"
            " }); done(f); }, (e) => done(String(e)));"
        )
        assert "profile-level-id=42e01f" in fmtp, fmtp


def rooms(base: str) -> float:
    """The open rooms, from /metrics (loopback; /healthz no longer counts them: issue 14 finding 18)."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as r:
        text = r.read().decode()
    return float(re.search(r"^mediaserver_rooms (\S+)$", text, re.M).group(1))


def recvonly_viewer():
    """An aiortc peer that receives audio and video and counts the decoded frames."""
    conn = pc()
    conn.addTransceiver("audio", direction="recvonly")
    conn.addTransceiver("video", direction="recvonly")
    counts, tasks = count_frames(conn)
    return conn, counts, tasks


@pytest.mark.timeout(60)
async def test_chromium_whip_to_aiortc_whep(server_process, browsers):
    base, room = server_process["base_url"], "chromium-whip"
    pub_token, view_token = token(room, "presenter", "camera"), token(room, "attendee", "viewer")
    page = await asyncio.to_thread(browsers)
    await asyncio.to_thread(page.get, page_url(base, pub_token, "whip", room=room))
    st = await asyncio.to_thread(
        browser.poll, lambda: browser.state(page), lambda s: s.get("published") or s.get("error"), 15
    )
    assert st.get("published") and not st.get("error"), (st, diagnostics(page))
    whip_location = await asyncio.to_thread(page.execute_script, "return window.whipLocation;")
    assert whip_location and whip_location.startswith(f"/whip/{room}/"), whip_location

    conn, counts, tasks = recvonly_viewer()
    try:
        async with aiohttp.ClientSession() as http:
            await conn.setLocalDescription(await conn.createOffer())
            async with http.post(
                f"{base}/whep/{room}",
                data=conn.localDescription.sdp,
                headers={"Authorization": f"Bearer {view_token}", "Content-Type": "application/sdp"},
            ) as r:
                body = await r.text()
                assert r.status == 201, (r.status, body)
                assert r.content_type == "application/sdp"
                whep_location = r.headers["Location"]
            assert whep_location.startswith(f"/whep/{room}/"), whep_location
            await conn.setRemoteDescription(RTCSessionDescription(body, "answer"))

            t0 = time.monotonic()
            ok = await wait_for(lambda: counts["video"] > 20 and counts["audio"] > 0, 20)
            print(f"WHEP viewer after {time.monotonic() - t0:.1f}s: {counts}")
            assert ok, (counts, conn.connectionState)

            for location, tok in ((whep_location, view_token), (whip_location, pub_token)):
                headers = {"Authorization": f"Bearer {tok}"}
                async with http.delete(base + location, headers=headers) as r:
                    assert r.status == 200, (location, r.status, await r.text())
                async with http.delete(base + location, headers=headers) as r:
                    assert r.status == 404, (location, r.status, await r.text())
                    assert (await r.json())["error"]["code"] == "not_found"
            assert rooms(base) == 0
    finally:
        await conn.close()
        for t in tasks:
            t.cancel()


@pytest.mark.timeout(60)
def test_chromium_over_ice_tcp_when_udp_is_unreachable(server_process, browsers):
    """Both pages see only the server's TCP candidate (as with UDP blocked): media still flows (RFC 6544)."""
    base, room = server_process["base_url"], "chromium-tcp"
    pub, sub = browsers(), browsers()
    pub.get(page_url(base, token(room, "presenter", "tcp-pub"), "publish", transport="tcp"))
    st = browser.poll(lambda: browser.state(pub), lambda s: s.get("published") or s.get("error"), 15)
    assert st.get("published") and not st.get("error"), (st, diagnostics(pub))
    sub.get(page_url(base, token(room, "attendee", "tcp-sub"), "subscribe", transport="tcp"))
    got = browser.poll(
        lambda: browser.stats(sub),
        lambda s: s.get("error") or (s.get("framesDecoded", 0) > 20 and s.get("audioPackets", 0) > 20),
        25,
    )
    assert got.get("framesDecoded", 0) > 20 and got.get("audioPackets", 0) > 20, (got, diagnostics(sub))
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        metrics = r.read().decode()
    conns = [line for line in metrics.splitlines() if line.startswith("mediaserver_ice_tcp_connections ")]
    assert conns and float(conns[0].split()[1]) >= 2, conns
