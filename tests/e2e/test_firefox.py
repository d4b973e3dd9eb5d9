"""Firefox against the server, both ways, with Chromium on the other side (issue 15, R-MEDIA-1).

Debian's Firefox ESR, headless over Marionette (tests/e2e/firefox.py), with its fake camera (a test pattern)
and microphone (a tone). Firefox never pairs its candidates with a server on 127.0.0.1, so the server runs in
a network namespace the module creates, on a 10.x address (tests/e2e/netns.py); the origin is plain http
there, which both browsers are told to treat as secure. Each test counts decoded frames from getStats on
both sides and checks the received audio is not silent and the page's media elements play:

- a meeting: Chromium hosts, Firefox joins; each receives the other; Firefox publishes its camera as three
  simulcast layers; then Firefox shares a screen and Chromium receives it (R-MEDIA-7);
- a webinar: Chromium hosts, Firefox attends and receives; the host gives Firefox the floor (R-ROOM-3)
  and receives it;
- WHEP: Chromium publishes VP9, Firefox watches it with the SDK's WHEP client;
- the interaction (issue 16): Firefox attends a webinar (the host a WebSocket client) and chats, writes to
  the host privately, asks and upvotes, answers a poll, clicks a call to action, raises a hand and claps
  (tests/e2e/attendee.py);
- one machine: the page on 127.0.0.1 and the media on a local non-loopback address (the README's advice for
  Firefox): Firefox publishes over the SDK's WebSocket, Chromium receives.
"""

from __future__ import annotations

import json
import os
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import API_KEY, SECRET, serve, token
from tests.e2e import attendee, browser, firefox, netns
from tests.e2e.test_room_page import errors, grant_floor, room_state, room_stats

_why = firefox.missing() or browser.missing() or netns.missing()
if _why and os.environ.get("MEDIASERVER_REQUIRE_FIREFOX"):
    raise RuntimeError(f"the Firefox tests cannot run: {_why}")  # CI: a failure, not a skip
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Firefox end-to-end tests: {_why}"),
    pytest.mark.alone,
]

#: Firefox's own messages on its log, not the page's: remote settings and the favicon request
FIREFOX_NOISE = ("RSLoader", "FaviconLoader")


@pytest.fixture(scope="module")
def lan_served(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The server in a namespace of its own, reached on its 10.x address: its base URL and its log file."""
    with (
        netns.namespace() as host,
        serve(
            tmp_path_factory.mktemp("firefox"),
            host=host.address,
            prefix=host.exec(),
            MEDIASERVER_SECRET=SECRET,
            MEDIASERVER_API_KEY=API_KEY,
            MEDIASERVER_OPEN_ROOM_CREATION="true",
        ) as (base, _proc, log),
    ):
        yield base, log


@pytest.fixture(scope="module")
def lan(lan_served: tuple[str, Path]) -> str:
    """The namespaced server's base URL."""
    return lan_served[0]


@pytest.fixture
def browsers(lan: str) -> Iterator[tuple[Callable[[], Any], Callable[..., firefox.Firefox]]]:
    """Factories of a headless Chromium and of a Firefox (headless, or ``screen=True`` on a virtual screen),
    both told to treat the test host's plain-http origin as secure; every one quits when the test ends."""
    host = urllib.parse.urlsplit(lan).hostname or ""
    with ExitStack() as stack:
        yield (
            lambda: stack.enter_context(
                browser.chromium([f"--unsafely-treat-insecure-origin-as-secure={lan}"])
            ),
            lambda screen=False: stack.enter_context(firefox.firefox([host], screen=screen)),
        )


def create_room(base: str, **opts: Any) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{base}/api/v1/rooms",
        data=json.dumps(opts).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return dict(json.loads(r.read()))


def join(driver: Any, name: str, email: str) -> None:
    """Fill the room page's join form and send it: Firefox with a real click (the user's gesture that lets
    its audio play), Chromium from page script."""
    shown = browser.poll(
        lambda: driver.execute_script(
            "return !!window.roomState && !document.querySelector('#join-form').closest('section').hidden;"
        ),
        bool,
        30,
    )
    if not shown:  # what the page was doing (a CI run once saw no roomState here within 15 s)
        where = driver.execute_script("return [document.readyState, location.href, document.title];")
        logs = errors(driver, everything=True) if not isinstance(driver, firefox.Firefox) else []
        raise AssertionError(f"no join form: {room_state(driver)} {where} {logs}")
    driver.execute_script(
        """for (const [sel, value] of [['#join-name', arguments[0]], ['#join-email', arguments[1]]]) {
             const e = document.querySelector(sel); e.value = value;
             e.dispatchEvent(new Event('input', {bubbles: true}));
           }""",
        name,
        email,
    )
    if isinstance(driver, firefox.Firefox):
        driver.click("#join-submit")
    else:
        driver.execute_script("document.querySelector('#join-submit').click();")


def wait_state(driver: Any, pred: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
    st = browser.poll(lambda: room_state(driver), pred, timeout)
    assert pred(st), st
    return st


def receives(driver: Any, frames: int = 30, audio: bool = True, timeout: float = 25) -> dict[str, Any]:
    """Wait until the page has decoded ``frames`` video frames and (``audio``) hears a non-silent track."""
    got = browser.poll(
        lambda: room_stats(driver),
        lambda s: s.get("framesDecoded", 0) >= frames and (not audio or s.get("audioLevel", 0) > 0),
        timeout,
    )
    assert got.get("framesDecoded", 0) >= frames, got
    assert not audio or got.get("audioLevel", 0) > 0, f"silent: {got}"
    return got


def playing(driver: Any, participant: str, screen: bool = False) -> list[Any]:
    """[width, height, paused] of the video of ``participant``'s camera (or screen) tile on this page."""
    return list(
        driver.execute_script(
            "const v = document.querySelector(`#media .tile[data-participant='${arguments[0]}']"
            "${arguments[1] ? '.screen' : ':not(.screen)'} video`);"
            "return v ? [v.videoWidth, v.videoHeight, v.paused] : [0, 0, true];",
            participant,
            screen,
        )
    )


def tile_plays(driver: Any, participant: str, screen: bool = False) -> list[Any]:
    got = browser.poll(lambda: playing(driver, participant, screen), lambda v: v[0] > 0 and not v[2], 15)
    assert got[0] > 0 and not got[2], f"{participant}'s {'screen' if screen else 'camera'} tile: {got}"
    return got


def audio_plays(driver: Any) -> None:
    """Every remote audio element of the page plays (autoplay was allowed and nothing stalled)."""
    got = browser.poll(
        lambda: driver.execute_script(
            "return [...document.querySelectorAll('audio[data-track]')]"
            ".map(a => !a.paused && a.readyState >= 2);"
        ),
        lambda v: bool(v) and all(v),
        15,
    )
    assert got and all(got), f"audio elements: {got}"


def sent_layers(driver: Any) -> dict[str, list[int]]:
    """The camera's outbound video streams: rid -> [frame width, frames sent]."""
    return dict(
        driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
            (async () => {
              const out = {};
              for (const pub of window.roomClient.publications) {
                (await pub.pc.getStats()).forEach((s) => {
                  if (s.type === 'outbound-rtp' && s.kind === 'video') {
                    out[s.rid || '-'] = [s.frameWidth || 0, s.framesSent || 0];
                  }
                });
              }
              return out;
            })().then(done, (e) => done({error: [String(e)]}));"""
        )
    )


@pytest.mark.timeout(150)
def test_meeting_between_firefox_and_chromium_both_ways(lan, browsers):
    chromium, ff = browsers
    room = create_room(lan, type="meeting", name="Firefox meeting")
    host = chromium()
    host.get(lan + room["hostUrl"])
    join(host, "Hanna Host", "hanna@example.org")
    wait_state(host, lambda s: s.get("screen") == "room" and s.get("publishing"))

    fox = ff(screen=True)
    fox.get(f"{lan}/room/{room['id']}")
    join(fox, "Fiona Firefox", "fiona@example.org")
    st = wait_state(fox, lambda s: s.get("screen") == "room" and s.get("publishing"))
    assert st["role"] == "attendee" and st["audioMode"] == "discussion", st
    host_id, fox_id = room_state(host)["self"]["id"], st["self"]["id"]

    # Chromium -> Firefox, and Firefox -> Chromium: video decoded, audio heard, the tiles play.
    receives(fox)
    receives(host)
    tile_plays(fox, host_id)
    assert tile_plays(host, fox_id)[:2] == [640, 480]  # Firefox's fake camera, its full layer
    audio_plays(fox)
    audio_plays(host)

    # Firefox publishes its camera as the SDK's three simulcast layers, each sending.
    layers = browser.poll(
        lambda: sent_layers(fox), lambda got: len(got) == 3 and all(n > 10 for _w, n in got.values()), 10
    )
    assert sorted(layers) == ["f", "h", "q"], layers
    assert [layers[r][0] for r in ("q", "h", "f")] == [160, 320, 640], layers
    assert all(n > 10 for _w, n in layers.values()), layers

    # Firefox shares a screen (R-MEDIA-7): Chromium receives the screen as a tile of its own.
    before = room_stats(host).get("framesDecoded", 0)
    fox.click("#btn-screen")
    fox.click("#screen-menu button[data-quality=high]")  # a real click: getDisplayMedia needs the gesture
    sharing = browser.poll(lambda: fox.execute_script("return window.roomClient.sharingScreen;"), bool, 15)
    assert sharing, (room_state(fox), fox.errors())
    tile_plays(host, fox_id, screen=True)
    receives(host, frames=before + 60, audio=False)

    assert not fox.errors(allow=FIREFOX_NOISE), "Firefox console errors"
    assert not errors(host), "Chromium console errors"


@pytest.mark.timeout(120)
def test_webinar_firefox_attendee_receives_then_takes_the_floor(lan, browsers):
    chromium, ff = browsers
    room = create_room(lan, type="webinar", name="Firefox webinar")
    host = chromium()
    host.get(lan + room["hostUrl"])
    join(host, "Hanna Host", "hanna@example.org")
    wait_state(host, lambda s: s.get("screen") == "room" and s.get("publishing"))
    host_id = room_state(host)["self"]["id"]

    # Firefox joins by a link that joins by itself (autojoin): no click, so Firefox holds the host's voice
    # back (its default autoplay rule) and the page offers "Turn the sound on"; its click plays it.
    fox = ff()
    fox.get(f"{lan}/room/{room['id']}?name=Fiona%20Firefox&email=fiona@example.org&autojoin=1")
    st = wait_state(fox, lambda s: s.get("screen") == "room" and s.get("soundBlocked") is True)
    assert st["role"] == "attendee" and st["audioMode"] == "listen" and not st.get("publishing"), st
    receives(fox)
    tile_plays(fox, host_id)
    fox.click("#sound-on")
    wait_state(fox, lambda s: s.get("soundBlocked") is False)
    audio_plays(fox)

    # The host gives Firefox the floor (R-ROOM-3): Firefox publishes, the host sees and hears it.
    fox_id = st["self"]["id"]
    grant_floor(host, fox_id)
    wait_state(fox, lambda s: s.get("publishing") is True)
    receives(host)
    tile_plays(host, fox_id)
    audio_plays(host)
    assert not fox.errors(allow=FIREFOX_NOISE), "Firefox console errors"
    assert not errors(host), "Chromium console errors"


@pytest.mark.timeout(90)
def test_firefox_watches_over_whep(lan, browsers):
    chromium, ff = browsers
    name = "firefox-whep"
    pub = chromium()
    pub.get(f"{lan}/?token={token(name, 'presenter', 'pub')}&mode=publish&codec=VP9")
    st = browser.poll(lambda: browser.state(pub), lambda s: s.get("published") or s.get("error"), 15)
    assert st.get("published") and not st.get("error"), st

    fox = ff()
    fox.get(f"{lan}/?token={token(name, 'attendee', 'viewer')}&mode=whep&room={name}")
    got = browser.poll(
        lambda: browser.stats(fox),
        lambda s: bool(s.get("error")) or (s.get("framesDecoded", 0) >= 30 and s.get("audioLevel", 0) > 0),
        25,
    )
    assert got.get("framesDecoded", 0) >= 30 and got.get("audioLevel", 0) > 0, (got, browser.state(fox))
    assert browser.state(fox).get("tracks") == 2, browser.state(fox)
    assert got["videoCodecs"] == ["in:video/VP9"], got  # forwarded as the publisher sent it (R-MEDIA-2)
    assert not fox.errors(allow=FIREFOX_NOISE), "Firefox console errors"


@pytest.mark.timeout(90)
def test_firefox_on_the_servers_machine_with_the_media_on_a_lan_address(tmp_path):
    """The README's advice: Firefox ignores a loopback server candidate, so on one machine the media goes on
    the machine's LAN address (here this side of a veth pair) while the page stays on 127.0.0.1, a secure
    origin for both browsers with no flag."""
    with (
        netns.namespace() as lan_side,
        serve(
            tmp_path,
            MEDIASERVER_SECRET=SECRET,
            MEDIASERVER_API_KEY=API_KEY,
            MEDIASERVER_RTC_LISTEN_IP=lan_side.gateway,
        ) as (base, _proc, _log),
        firefox.firefox() as fox,
        browser.chromium() as sub,
    ):
        name = "firefox-one-machine"
        fox.get(f"{base}/?token={token(name, 'presenter', 'fox')}&mode=publish")
        st = browser.poll(lambda: browser.state(fox), lambda s: s.get("published") or s.get("error"), 15)
        assert st.get("published") and not st.get("error"), st
        sub.get(f"{base}/?token={token(name, 'attendee', 'sub')}&mode=subscribe")
        got = browser.poll(
            lambda: browser.stats(sub),
            lambda s: (
                bool(s.get("error")) or (s.get("framesDecoded", 0) >= 30 and s.get("audioPackets", 0) > 20)
            ),
            25,
        )
        assert got.get("framesDecoded", 0) >= 30 and got.get("audioPackets", 0) > 20, (
            got,
            browser.state(sub),
        )
        assert browser.stats(fox).get("framesSent", 0) > 30
        assert not fox.errors(allow=FIREFOX_NOISE), "Firefox console errors"


@pytest.mark.timeout(90)
def test_firefox_attendee_chats_asks_answers_a_poll_clicks_the_cta_and_reacts(lan_served, browsers):
    """Issue 16 item 9 in Firefox: the attendee's side of every interaction, with real clicks and keys; and
    issue 17: it draws the PDF the host shows (pdf.js) and follows its page, plays the shared video within
    0.3 s of the server's state and draws the host's whiteboard stroke."""
    from marionette_driver.by import By

    base, log = lan_served
    _chromium, ff = browsers
    fox = ff()
    attendee.interacts(
        base,
        log.parent / "data",
        fox,
        lambda css: fox.marionette.find_element(By.CSS_SELECTOR, css),
        "Firefox",
    )
    assert not fox.errors(allow=FIREFOX_NOISE), "Firefox console errors"
