"""An automated event in headless Chromium against a real `mediaserver serve` (R-ROOM-4 "automated",
R-AUTO-1, R-STAT-3): a WebM made here with PyAV is uploaded over tus and put on the event's timeline with a
call to action; the server's own clock starts the event at its time; a viewer who joins mid-way starts at
the common position (the video's currentTime close to the time since the session started), cannot seek or
pause it away from there, sees the call to action (the room's own: its click is counted), and when the
timeline has played goes to the thank-you page while the event goes to the history."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.conftest import serve_mailing
from tests.e2e import browser
from tests.e2e.test_room_access import (
    MAILBOXES,
    OPERATOR_KEY,
    Organiser,
    click,
    fill,
    shot,
    state,
    upload,
    wait,
)
from tests.e2e.test_room_documents import COLOURS, deck
from tests.e2e.test_watch_page import tiny_webm

_why = browser.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}"),
    pytest.mark.alone,
]

LENGTH = 24  # seconds of video and of timeline


def video_state(d: Any) -> dict[str, Any]:
    return d.execute_script(
        "const v = document.querySelector('#auto-stage video'); const s = window.roomState || {};"
        "return {t: v ? v.currentTime : null, paused: v ? v.paused : null, controls: v ? v.controls : null,"
        " hidden: v ? v.hidden : null, error: v && v.error ? v.error.code : null, src: v ? v.currentSrc : '',"
        " screen: s.screen, timeline: s.timeline, redirect: s.redirect,"
        " cta: document.querySelector('#cta-card').hidden ? null"
        "      : document.querySelector('#cta-card-text').textContent,"
        " cssHidden: getComputedStyle(document.querySelector('#media-empty')).display};"
    )


def showing_slide(d: Any, index: int) -> None:
    """Wait until the timeline's PDF shows the page of colour COLOURS[index] (test_room_documents's deck)."""
    want = COLOURS[index]
    script = (
        "const c = document.querySelector('#auto-stage .auto-doc canvas');"
        "if (!c || !c.width || c.closest('.auto-doc').hidden) return null;"
        "const p = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;"
        "return [p[0], p[1], p[2]];"
    )
    wait(
        d,
        lambda d: (
            (px := d.execute_script(script)) and all(abs(a - b) < 40 for a, b in zip(px, want, strict=True))
        ),
        f"slide {index + 1}",
        10,
    )


SWEEP = 2.0  # the server's sweep_interval: its event clock starts and ends the event within this


@pytest.fixture(scope="module")
def served(tmp_path_factory, smtp) -> Iterator[str]:  # noqa: F811
    """test_room_access's server, with a sweep every SWEEP seconds instead of 20 (the test waits for it)."""
    MAILBOXES.append(smtp)
    with serve_mailing(
        tmp_path_factory.mktemp("automated-page"),
        smtp.port,
        MEDIASERVER_API_KEY=OPERATOR_KEY,
        MEDIASERVER_SWEEP_INTERVAL=str(SWEEP),
    ) as base:
        yield base


@pytest.mark.timeout(180)
def test_a_viewer_joining_mid_way_plays_the_timeline_at_the_common_position(served):  # noqa: F811
    org = Organiser(served)
    video = upload(org, "launch.webm", tiny_webm(seconds=LENGTH, fps=10))
    slides = upload(org, "slides.pdf", deck())  # issue 17: a presentation drawn by the room's PDF viewer
    thanks = f"{served}/static/index.html?thanks=1"
    starts = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=2)
    ev = org.call(
        "POST",
        "/api/v1/events",
        {
            "kind": "automated",
            "name": "Launch, automated",
            "startsAt": starts.isoformat(),
            "thankYouUrl": thanks,
            "options": {
                "chat": False,
                "timeline": [
                    {"component": "video", "start": 0, "duration": LENGTH, "fileId": video["id"]},
                    {"component": "presentation", "start": 17, "duration": 5, "fileId": slides["id"]},
                    {
                        "component": "call_to_action",
                        "start": 2,
                        "duration": LENGTH - 4,
                        "text": "Buy now",
                        "url": "https://example.test/buy",
                        "buttonText": "Buy",
                    },
                ],
            },
        },
        201,
    )
    assert ev["automation"]["length"] == LENGTH

    # nobody starts it: the server's clock (its sweep, every SWEEP s) does, at or shortly after its time
    live = browser.poll(
        lambda: org.call("GET", f"/api/v1/events/{ev['id']}", None, 200),
        lambda e: e["status"] != "planned",
        2 + 2 * SWEEP + 5,
        0.2,
    )
    assert live["status"] == "live", live
    [session] = org.call("GET", "/api/v1/history", None, 200)["items"]
    started = dt.datetime.fromisoformat(session["startedAt"].replace("Z", "+00:00")).timestamp()
    assert session["endedAt"] is None and started >= starts.timestamp() - 0.01
    time.sleep(max(0.0, started + 5 - time.time()))  # come in mid-way: five seconds late

    with browser.chromium() as d:
        d.get(f"{served}/room/{ev['roomId']}")
        wait(d, lambda d: state(d).get("event"), "the page loads the event's public info")
        fill(d, "#join-name", "Late Larry")
        fill(d, "#join-email", "larry@example.test")
        click(d, "#join-submit")
        first = wait(
            d,
            lambda d: (lambda s: s if s["t"] and s["t"] > 0.2 else None)(video_state(d)),
            "the timeline's video plays",
            20,
        )
        elapsed = time.time() - started
        assert first["screen"] == "room" and first["error"] is None and "/play/" in first["src"], first
        assert elapsed > 4.5, elapsed
        assert abs(first["t"] - elapsed) < 1.5, (first, elapsed, browser.console(d))  # the common position
        assert first["controls"] is False and first["cssHidden"] == "none"  # no seek bar; no "waiting"
        assert first["timeline"]["component"] == "video" and first["timeline"]["status"] == "live"
        assert "Buy now" in (first["cta"] or ""), first
        assert d.execute_script(
            "const a = document.querySelector('#cta-card-go'); return [a.href, a.textContent];"
        ) == ["https://example.test/buy", "Buy"]
        shot(d, "automated-mid-way.png")

        # a viewer cannot move away from the common position: a seek back and a pause are undone
        d.execute_script(
            "const v = document.querySelector('#auto-stage video'); v.currentTime = 0; v.pause();"
        )
        time.sleep(1.5)
        back = video_state(d)
        elapsed = time.time() - started
        assert not back["paused"] and abs(back["t"] - elapsed) < 1.5, (back, elapsed)
        assert back["timeline"]["corrections"] >= 1

        # the timeline's call to action is the room's own (issue 16, R-INT-4): its click is counted
        window = d.current_window_handle
        click(d, "#cta-card-go")
        d.switch_to.window(window)
        clicks = browser.poll(
            lambda: org.call("GET", "/api/v1/history", None, 200)["items"][0]["ctaClicks"],
            lambda n: n >= 1,
            10,
        )
        assert clicks == 1

        # the presentation's slot: its PDF drawn on the stage (page 1 red); the viewer turns to page 2 (green)
        browser.poll(lambda: time.time(), lambda now: now >= started + 17.5, 30, 0.2)
        showing_slide(d, 0)
        click(d, "#auto-stage .auto-doc-bar button:nth-child(2)")
        showing_slide(d, 1)

        # the timeline has played: the thank-you screen, then the event's thank-you page (R-STAT-3)
        end = wait(
            d,
            lambda d: (lambda s: s if s["redirect"] else None)(state(d)),
            "the end of the timeline",
            started + LENGTH + 10 - time.time(),
        )
        assert end["screen"] == "ended" and end["redirect"] == thanks
        assert time.time() >= started + LENGTH - 1
        browser.poll(lambda: d.current_url, lambda u: u == thanks, 10)
        assert d.current_url == thanks

    done = browser.poll(
        lambda: org.call("GET", f"/api/v1/events/{ev['id']}", None, 200),
        lambda e: e["status"] == "done",
        2 * SWEEP + 5,
        0.2,
    )
    assert done["status"] == "done"  # the clock ended it: it is in the history
    [session] = org.call("GET", "/api/v1/history", None, 200)["items"]
    ended = dt.datetime.fromisoformat(session["endedAt"].replace("Z", "+00:00")).timestamp()
    assert ended >= started + LENGTH - 0.01
    status, _ = _status(served, ev["roomId"])
    assert status == 410  # over: nobody joins it any more


def _status(base: str, room_id: str) -> tuple[int, Any]:
    req = urllib.request.Request(
        f"{base}/api/v1/public/events/{room_id}/join",
        method="POST",
        data=json.dumps({"name": "Too late", "email": "late@example.test"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
