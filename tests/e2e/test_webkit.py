"""Safari's engine: the pages in WebKit (Debian's WebKitGTK through WebKitWebDriver, tests/e2e/webkit.py)
against a real `mediaserver serve` (issue 15, R-MEDIA-1: people join from Safari with nothing to install).

Debian builds WebKitGTK without WebRTC, so WebKit here can neither send nor receive media: these tests
record what the engine has, then walk through everything that does not need WebRTC (the landing page, the
room page's modules, join form, lobby, waiting room, host controls, leaving; the watch page playing an
on-demand video) and check that the room page tells the person clearly that this browser has no audio or
video, instead of failing with a script error; and the room's interaction (issue 16: chat, Q&A, a poll, the
call to action, a raised hand, a reaction), which needs no WebRTC (tests/e2e/attendee.py). docs/sdk.md,
"Safari and WebKit", says what is and is not covered. Safari's SDP (H.264, rid simulcast, no transport-cc) is
tested in tests/control/test_sdp.py.
"""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from mediaserver.rtc import sdp
from tests.conftest import API_KEY, SECRET, mail_spool, serve, signed_up
from tests.e2e import attendee, webkit
from tests.e2e.browser import poll
from tests.e2e.test_watch_page import tiny_webm

_why = webkit.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"WebKit end-to-end tests need WebKitGTK: {_why}"),
    pytest.mark.alone,
]

ROOM_MODULES = Path(__file__).resolve().parents[2] / "signaling" / "static" / "room"


def http(base: str, method: str, path: str, body: Any = None, headers: dict | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        raw = r.read()
        return json.loads(raw) if raw else None


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    """The installed server in its own process: (base URL, its log file)."""
    with serve(
        tmp_path_factory.mktemp("webkit-server"), MEDIASERVER_SECRET=SECRET, MEDIASERVER_API_KEY=API_KEY
    ) as (base, _proc, log):
        yield base, log


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with webkit.display() as name:
        yield name


@pytest.fixture(scope="module")
def facts(served, display) -> dict[str, Any]:
    """What this WebKit has for media, probed once on the server's own origin (a secure context)."""
    with webkit.webkit(display) as d:
        d.get(served[0] + "/")
        return {"version": webkit.version(display), **webkit.probe(d)}


@pytest.fixture
def browsers(display) -> Iterator[Callable[[], Any]]:
    """A factory of WebKit sessions; every one quits when the test ends, pass or fail."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(webkit.webkit(display))


def room_state(d: Any) -> dict[str, Any]:
    return (
        d.execute_script("return window.roomState ? JSON.parse(JSON.stringify(window.roomState)) : {};") or {}
    )


def wait_state(d: Any, pred: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
    st = poll(lambda: room_state(d), pred, timeout, 0.2)
    assert pred(st), (st, webkit.page_errors(d))
    return st


def text(d: Any, css: str) -> str:
    return str(
        d.execute_script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css
        )
    )


def shown(d: Any, css: str) -> bool:
    return bool(
        d.execute_script(
            "const e = document.querySelector(arguments[0]);"
            "return !!e && !e.hidden && !e.closest('[hidden]');",
            css,
        )
    )


def click(d: Any, css: str) -> None:
    d.execute_script("document.querySelector(arguments[0]).click();", css)


def fill(d: Any, css: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    el = d.find_element(By.CSS_SELECTOR, css)
    el.clear()
    el.send_keys(value)


def open_room(d: Any, url: str) -> None:
    d.get(url)
    poll(lambda: d.execute_script("return !!window.roomState && window.roomState.screen;"), bool, 10, 0.1)
    webkit.watch_errors(d)


def test_the_engine_and_what_it_has_for_media(facts):
    """The facts docs/sdk.md states: WebKitGTK's user agent, a secure context on http://127.0.0.1,
    getUserMedia with the mock camera and microphone, and no WebRTC in Debian's build. Should a WebKitGTK
    with WebRTC turn up, its offer must be one our SDP parser takes (and the no-WebRTC tests below skip)."""
    print("WebKit media facts:", json.dumps({k: v for k, v in facts.items() if k != "offer"}, indent=1))
    assert facts["version"].startswith("WebKitGTK 2."), facts
    assert "AppleWebKit/605.1.15" in facts["userAgent"] and "Chrome" not in facts["userAgent"], facts
    assert facts["secureContext"] is True and facts["getUserMedia"] is True, facts
    assert facts["capture"] == ["audio:Mock audio device 1", "video:Mock video device 1"], facts
    if facts["RTCPeerConnection"] != "function":
        assert facts["RTCRtpSender"] == "undefined" and facts["codecs"] is None and facts["offer"] is None
        return
    offer = sdp.parse(facts["offer"])  # a WebKit with WebRTC: its offer must parse, rids and codecs read
    video = [m for m in offer.media if m.kind == "video"][0]
    assert video.rids == ["q", "h", "f"], facts["offer"]
    assert {c.name.upper() for c in video.codecs} >= {"H264", "VP8"}, facts["offer"]


@pytest.mark.timeout(90)
def test_room_page_without_webrtc_lobby_waiting_and_host_controls(served, facts, browsers):
    """The room page in WebKit: its ES modules load, the join form checks what is typed, an attendee waits in
    the lobby until a host (also in WebKit) starts, a newcomer waits in the full room's waiting room until the
    host raises the capacity, the people list shows everyone, leaving brings the form back. The page says on
    the form and in the room that this browser has no WebRTC, and never fails with a script error."""
    if facts["RTCPeerConnection"] == "function":
        pytest.skip("this WebKit has WebRTC: the room page's no-WebRTC path cannot be reached here")
    base = served[0]
    room = http(
        base,
        "POST",
        "/api/v1/rooms",
        {"type": "meeting", "name": "Safari check", "capacity": 2, "start": "lobby", "agenda": "1. Hello"},
    )
    att = browsers()
    open_room(att, f"{base}/room/{room['id']}")
    st = wait_state(
        att, lambda s: s.get("screen") == "join" and (s.get("room") or {}).get("name") == "Safari check"
    )
    assert st["webrtc"] is False, st
    # Every ES module of the room page loaded (a module that failed to parse or load stops the whole graph).
    loaded = att.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((u) => u.includes('/static/room/')).map((u) => u.split('/').pop());"
    )
    assert sorted(loaded) == sorted(p.name for p in ROOM_MODULES.glob("*.js"))
    assert att.execute_script("return typeof window.roomStats;") == "function"
    # Before joining, the form says what this browser cannot do and where it can.
    assert shown(att, "#join-nortc") and "no WebRTC" in text(att, "#join-nortc"), text(att, "#join-nortc")
    assert "Safari" in text(att, "#join-nortc")

    # The join form's own checks, then the lobby (R-ROOM-8) with the agenda.
    click(att, "#join-submit")
    assert wait_state(att, lambda s: s.get("error") == "invalid_name")["screen"] == "join"
    fill(att, "#join-name", "Sofia Safari")
    fill(att, "#join-email", "not-an-address")
    click(att, "#join-submit")
    wait_state(att, lambda s: s.get("error") == "invalid_email")
    fill(att, "#join-email", "sofia@example.org")
    click(att, "#join-submit")
    st = wait_state(att, lambda s: s.get("screen") == "lobby")
    assert st["status"] == "lobby" and "1. Hello" in text(att, "#screen-lobby"), st

    # A host in WebKit starts the session: the attendee comes in; in the room the stage says why there is no
    # audio or video, and no toast tells of a script error.
    host = browsers()
    open_room(host, f"{base}{room['hostUrl']}&name=Hanna&email=hanna@example.org&autojoin=1")
    st = wait_state(host, lambda s: s.get("screen") == "room" and s.get("role") == "host")
    assert st["publishing"] is False, st
    host.execute_script("window.confirm = () => true;")
    click(host, "#btn-host")
    click(host, "#host-start")
    st = wait_state(att, lambda s: s.get("screen") == "room" and s.get("status") == "joined")
    assert st["audioMode"] == "discussion" and st["publishing"] is False, st
    for d in (att, host):
        assert shown(d, "#media-empty") and "no WebRTC" in text(d, "#media-empty"), text(d, "#media-empty")
        assert "Something went wrong" not in text(d, "#toast"), text(d, "#toast")
    # The toolbar's microphone button: a clear refusal, no camera or microphone opened for nothing.
    click(att, "#btn-mic")
    toast = poll(lambda: text(att, "#toast"), bool, 5, 0.1)
    assert "no WebRTC" in toast and shown(att, "#toast"), toast
    assert room_state(att)["publishing"] is False

    # The room is full (capacity 2): a newcomer waits; the host raises the capacity and lets them in.
    late = browsers()
    open_room(late, f"{base}/room/{room['id']}?name=Lev&email=lev@example.org&autojoin=1")
    wait_state(late, lambda s: s.get("screen") == "waiting")
    fill(host, "#host-capacity", "3")
    click(host, "#host-capacity-set")
    wait_state(late, lambda s: s.get("screen") == "room")
    click(host, "#btn-people")
    names = poll(
        lambda: text(host, "#people-list"), lambda t: all(n in t for n in ("Sofia", "Lev", "Hanna")), 10
    )
    assert all(n in names for n in ("Sofia", "Lev", "Hanna")), names

    # Leaving brings the join form back with a note; the host sees two people left.
    click(att, "#btn-leave")
    st = wait_state(att, lambda s: s.get("screen") == "join")
    assert shown(att, "#join-note"), st
    wait_state(host, lambda s: len(s.get("participants") or []) == 2)
    for who, d in (("attendee", att), ("host", host), ("newcomer", late)):
        assert webkit.page_errors(d) == [], (who, webkit.page_errors(d))


def test_landing_page_creates_a_room_in_webkit(served, browsers):
    """The landing page's form creates an instant room and links to it; the room page opens in Russian with
    the no-WebRTC notice translated (R-ROOM-14)."""
    base = served[0]
    d = browsers()
    d.get(f"{base}/")
    poll(lambda: d.execute_script("return !!window.landingState;"), bool, 10, 0.1)
    webkit.watch_errors(d)
    click(d, 'input[name="type"][value="meeting"]')
    fill(d, "#create-name", "Made in WebKit")
    click(d, "#create-submit")
    created = poll(lambda: d.execute_script("return window.landingState.created;"), bool, 10, 0.1)
    assert created and len(created["id"]) == 9, (created, webkit.page_errors(d))
    assert text(d, "#res-url") == f"{base}/room/{created['id']}"
    assert webkit.page_errors(d) == []
    open_room(d, f"{base}/room/{created['id']}?lang=ru")
    wait_state(
        d, lambda s: s.get("screen") == "join" and (s.get("room") or {}).get("name") == "Made in WebKit"
    )
    assert "WebRTC" in text(d, "#join-nortc") and "браузер" in text(d, "#join-nortc"), text(d, "#join-nortc")


@pytest.mark.timeout(60)
def test_watch_page_plays_an_on_demand_video_in_webkit(served, browsers):
    """The watch page of an on-demand event (R-ROOM-4, R-AUTO-2) needs no WebRTC: WebKit plays the uploaded
    video (a VP8 WebM, which WebKitGTK decodes with GStreamer) after the password."""
    base, log = served
    auth = {
        "Cookie": signed_up(
            base, "olga@example.test", "correct horse battery", mail_spool(log.parent / "data")
        )
    }
    video = tiny_webm()
    meta = f"filename {base64.b64encode(b'replay.webm').decode()}"
    req = urllib.request.Request(
        base + "/api/v1/uploads",
        data=b"",
        method="POST",
        headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(video)), "Upload-Metadata": meta},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        location = urllib.parse.urlsplit(r.headers["Location"]).path
    patch = urllib.request.Request(
        base + location,
        data=video,
        method="PATCH",
        headers={
            **auth,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    with urllib.request.urlopen(patch, timeout=10) as r:
        assert r.status == 204
    file_id = http(base, "GET", "/api/v1/files", headers=auth)["items"][0]["id"]
    event = http(
        base,
        "POST",
        "/api/v1/events",
        {
            "kind": "on_demand",
            "name": "Replay",
            "access": "password",
            "password": "let-me-in",
            "videoFileId": file_id,
        },
        headers=auth,
    )
    d = browsers()
    d.get(f"{base}/room/{event['roomId']}")  # the room link leads to the watch page
    phase = poll(
        lambda: d.execute_script("return window.watchState && window.watchState.phase;"), "form".__eq__, 15
    )
    assert phase == "form" and "/watch/" in d.current_url, phase
    webkit.watch_errors(d)
    fill(d, "#name", "Vera Viewer")
    fill(d, "#email", "vera@example.test")
    fill(d, "#password", "let-me-in")
    click(d, "#watch")

    def playing() -> dict:
        return dict(
            d.execute_script(
                "const v = document.getElementById('video'); return {t: v.currentTime,"
                " error: v.error && v.error.code, src: v.currentSrc, phase: window.watchState.phase};"
            )
        )

    first = poll(playing, lambda s: s["t"] > 0.3 or s["error"], 20, 0.2)
    assert first["error"] is None and first["t"] > 0.3, (first, webkit.page_errors(d))
    later = poll(playing, lambda s: s["t"] > first["t"] + 0.5, 10, 0.2)
    assert later["t"] > first["t"] + 0.5 and "/play/" in later["src"], (first, later)
    assert webkit.page_errors(d) == []


@pytest.mark.timeout(90)
def test_webkit_attendee_chats_asks_answers_a_poll_clicks_the_cta_and_reacts(served, browsers):
    """Issue 16 item 9 in WebKit (no WebRTC needed: the interaction is the page's WebSocket): the attendee's
    side of every interaction, with real clicks and keys (tests/e2e/attendee.py); and issue 17: it draws the
    PDF the host shows (pdf.js) and follows its page, plays the shared video (a VP8 WebM: this WebKitGTK has
    no H.264 decoder) within 0.3 s of the server's state and draws the host's whiteboard stroke."""
    base, log = served
    d = browsers()
    attendee.interacts(
        base,
        log.parent / "data",
        d,
        lambda css: d.find_element("css selector", css),
        "WebKit",
        loaded=lambda: webkit.watch_errors(d),
    )
    assert webkit.page_errors(d) == [], webkit.page_errors(d)
