"""The shared video player (issue 17 item 2, R-MEDIA-8) in headless Chromium against a real `mediaserver
serve`: a presenter (the host) and two attendees, one of them in a browser that plays sound only after a
click. A VP8 WebM made here with PyAV (a keyframe every 0.5 s, so seeks land exactly) is uploaded into the
event's room; the host plays it from the host panel's "Shared video", pauses it, seeks it and plays on with
the player's controls. After each action every page's video is within 0.3 s of where the state says it
should be, measured twice: with the page's own estimate of the server's clock (time.sync) and with the
test's clock (the server runs on this machine, and its clock is the wall clock); one attendee's clock is
4 s fast. The attendee whose browser refuses sound plays muted and gets "Turn the sound on"; a real click
turns it on. A late joiner's page opens on the video where it is; at the video's end everyone stands on its
last frame.

YouTube cannot be reached from here: the server's ``youtube_api`` setting points at a stand-in served by the
test, a script that implements the YT.Player calls the room page's adapter uses (loadVideoById,
cueVideoById, playVideo, pauseVideo, seekTo, getCurrentTime, getDuration, getPlayerState, setPlaybackRate,
mute, unMute, isMuted, destroy, onReady and onStateChange) over a <video> of the same file. The host plays a
YouTube link, everyone follows within 0.3 s (YouTube plays fixed rates only, so the adapter corrects by
seeking), the host seeks and pauses it, and stops the player. One browser session per person."""

from __future__ import annotations

import http.server
import io
import json
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture)
from tests.conftest import API_KEY, loopback_only_ice, serve_mailing
from tests.e2e import browser
from tests.e2e.test_room_access import (
    MAILBOXES,
    Organiser,
    click,
    host_link,
    in_room,
    join_as,
    shot,
    text,
    visible,
    wait,
)
from tests.e2e.test_room_page import errors, viewport

loopback_only_ice()

_why = browser.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}"),
    pytest.mark.alone,
]

SECONDS = 30  # of test video
YT = "dQw4w9WgXcQ"

STAND_IN = """(function () {
  // A stand-in for YouTube's IFrame API (tests/e2e/test_room_player.py): YT.Player over a <video>.
  const VIDEOS = __VIDEOS__;
  const S = { UNSTARTED: -1, ENDED: 0, PLAYING: 1, PAUSED: 2, BUFFERING: 3, CUED: 5 };
  class Player {
    constructor(el, opts) {
      const target = typeof el === 'string' ? document.getElementById(el) : el;
      const ev = opts.events || {};
      this.v = document.createElement('video');
      this.v.playsInline = true;
      this.v.preload = 'auto';
      this.v.dataset.standIn = 'youtube';
      this.state = S.UNSTARTED;
      this.calls = [];
      (window.ytStandIn = window.ytStandIn || []).push(this);
      target.replaceWith(this.v);
      const set = (s) => {
        if (this.state === s) return;
        this.state = s;
        if (ev.onStateChange) ev.onStateChange({ target: this, data: s });
      };
      this.v.addEventListener('playing', () => set(S.PLAYING));
      this.v.addEventListener('pause', () => set(this.v.ended ? S.ENDED : S.PAUSED));
      this.v.addEventListener('waiting', () => set(S.BUFFERING));
      this.v.addEventListener('seeking', () => { if (!this.v.paused) set(S.BUFFERING); });
      this.v.addEventListener('seeked', () => set(this.v.paused ? S.PAUSED : S.PLAYING));
      this.v.addEventListener('ended', () => set(S.ENDED));
      this.v.addEventListener('loadedmetadata', () => {
        if (!this.ready && ev.onReady) { this.ready = true; ev.onReady({ target: this }); }
      });
      if (opts.videoId) this.cueVideoById(opts.videoId);
    }
    _load(id) {
      const vid = typeof id === 'object' ? id.videoId : id;
      if (!VIDEOS[vid]) throw new Error('stand-in: no video ' + vid);
      this.calls.push(['load', vid]);
      this.v.src = VIDEOS[vid];
    }
    cueVideoById(id) { this._load(id); this.state = S.CUED; }
    loadVideoById(id) { this._load(id); this.playVideo(); }
    // YouTube refuses to play silently (no error): so does the stand-in
    playVideo() { this.calls.push(['playVideo']); this.v.play().catch(() => {}); }
    pauseVideo() { this.calls.push(['pauseVideo']); this.v.pause(); }
    seekTo(s) { this.calls.push(['seekTo', s]); this.v.currentTime = s; }
    getCurrentTime() { return this.v.currentTime; }
    getDuration() { return this.v.duration || 0; }
    getPlayerState() { return this.state; }
    setPlaybackRate(r) { this.calls.push(['setPlaybackRate', r]); this.v.playbackRate = r; }
    getPlaybackRate() { return this.v.playbackRate; }
    getAvailablePlaybackRates() { return [0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75, 2]; }
    mute() { this.calls.push(['mute']); this.v.muted = true; }
    unMute() { this.calls.push(['unMute']); this.v.muted = false; }
    isMuted() { return this.v.muted; }
    destroy() { this.v.pause(); this.v.remove(); }
  }
  window.YT = { Player, PlayerState: S };
  setTimeout(() => { if (window.onYouTubeIframeAPIReady) window.onYouTubeIframeAPIReady(); }, 0);
})();
"""


SKEW = """(() => {
  const origin = performance.timeOrigin + 4000, now = Date.now;
  Object.defineProperty(performance, 'timeOrigin', { get: () => origin });
  Date.now = () => now() + 4000;
})();"""


class StandIn:
    """The stand-in's little HTTP server: GET /iframe_api is the script, with the videos it knows."""

    def __init__(self) -> None:
        self.videos: dict[str, str] = {}
        self.fetched = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                if self.path != "/iframe_api":
                    self.send_error(404)
                    return
                outer.fetched += 1
                body = STAND_IN.replace("__VIDEOS__", json.dumps(outer.videos)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/javascript")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/iframe_api"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def stand_in() -> Iterator[StandIn]:
    s = StandIn()
    yield s
    s.httpd.shutdown()


@pytest.fixture(scope="module")
def served(tmp_path_factory, smtp, stand_in) -> Iterator[str]:  # noqa: F811
    MAILBOXES.append(smtp)
    with serve_mailing(
        tmp_path_factory.mktemp("room-player"),
        smtp.port,
        MEDIASERVER_API_KEY=API_KEY,
        MEDIASERVER_YOUTUBE_API=stand_in.url,
    ) as base:
        yield base


def make_video(seconds: int = SECONDS, fps: int = 20) -> bytes:
    """A VP8 WebM with a keyframe every 0.5 s (seeks land where they are asked to), a moving gradient."""
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, "w", format="webm") as box:
        stream = box.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.codec_context.gop_size = fps // 2
        stream.options = {"deadline": "realtime", "cpu-used": "8", "kf-max-dist": str(fps // 2)}
        for i in range(seconds * fps):
            img = np.zeros((96, 160, 3), dtype=np.uint8)
            img[:, :, 0] = (np.arange(160) + i * 8) % 256
            img[:, :, 2] = i % 256
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return out.getvalue()


def room_upload(org: Organiser, room_id: str, name: str, data: bytes) -> int:
    """A tus upload into the event's room (R-FILE-2) with the organiser's cookie; the file's id."""
    import base64

    meta = f"filename {base64.b64encode(name.encode()).decode()}"
    head = {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": meta}
    url = f"{org.base}/api/v1/rooms/{room_id}/uploads"
    with org.opener.open(urllib.request.Request(url, data=b"", method="POST", headers=head), timeout=30) as r:
        assert r.status == 201
        location = urllib.parse.urljoin(org.base + "/", r.headers["Location"])
    send = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    with org.opener.open(
        urllib.request.Request(location, data=data, method="PATCH", headers=send), timeout=30
    ):
        pass
    files = org.call("GET", f"/api/v1/rooms/{room_id}/files", None, 200)["items"]
    return int(next(f["id"] for f in files if f["name"] == name))


def measure(d: Any) -> dict[str, Any] | None:
    """The page's video against where the state says it should be, with the test's clock around it."""
    t0 = time.time() * 1000
    m = d.execute_script("return window.roomPlayer && window.roomPlayer.measure();")
    t1 = time.time() * 1000
    if not m:
        return None
    st = m["state"]
    now = (t0 + t1) / 2
    # where the state says it should be by the test's clock (the server's is the wall clock of this machine)
    m["byTestClock"] = st["position"] + (
        max(0.0, now - st["at"]) / 1000 * st["rate"] if st["playing"] else 0.0
    )
    m["slack"] = (t1 - t0) / 2000 * st["rate"] if st["playing"] else 0.0
    m["clockError"] = abs(m["serverNow"] - now) - (t1 - t0) / 2
    return m


def in_step(d: Any, playing: bool, within: float, where: float | None = None) -> dict[str, Any] | None:
    m = measure(d)
    if not m or m["paused"] == playing or abs(m["diff"]) >= within:
        return None
    if abs(m["currentTime"] - m["byTestClock"]) >= within + m["slack"]:
        return None
    if where is not None and abs(m["expected"] - where) > (5 if playing else 0.01):
        return None
    return m


def all_in_step(
    pages: dict[str, Any], playing: bool, within: float, what: str, where: float | None = None
) -> None:
    """Every page within ``within`` s of the state, by its own clock estimate and by the test's (bounded)."""
    for name, d in pages.items():
        m = browser.poll(lambda d=d: in_step(d, playing, within, where), bool, 20, 0.1)
        assert m, (what, name, measure(d), d.execute_script("return window.roomState.player;"))
        assert m["clockError"] < 50, (name, m)  # the page's estimate of the server's clock (time.sync)
    # and they stay there: a second reading a moment later
    time.sleep(0.5)
    for name, d in pages.items():
        m = measure(d)
        assert (
            m and abs(m["diff"]) < within and abs(m["currentTime"] - m["byTestClock"]) < within + m["slack"]
        ), (
            what,
            name,
            m,
        )


@pytest.mark.timeout(240)
def test_presenter_and_two_attendees_watch_a_video_and_youtube_in_sync(served, stand_in):  # noqa: F811
    org = Organiser(served)
    ev = org.event(name="Product video")
    file_id = room_upload(org, ev["roomId"], "launch.webm", make_video())
    refuses_sound = ["--autoplay-policy=document-user-activation-required"]
    with browser.chromium() as host, browser.chromium() as ann, browser.chromium(refuses_sound) as bob:
        viewport(host, 1280, 800)
        # Ann's computer clock is 4 s fast: her page follows the server's clock all the same (time.sync)
        ann.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": SKEW})
        join_as(host, host_link(served, ev), "Olga", "host")
        join_as(ann, f"{served}/room/{ev['roomId']}", "Ann", "attendee")
        # Bob's page joins by itself (no typing, no click): his browser has had no gesture to allow sound
        bob.get(f"{served}/room/{ev['roomId']}?name=Bob&email=bob@example.test&autojoin=1")
        assert in_room(bob)["role"] == "attendee"
        pages = {"host": host, "ann": ann, "bob": bob}
        skew = ann.execute_script("return performance.timeOrigin + performance.now()") - time.time() * 1000
        assert 3900 < skew < 4100, skew
        assert not visible(ann, "#player-stage") and not visible(ann, "#player-form")

        # the host picks the room's video in the host panel and plays it to everyone
        click(host, "#btn-present")
        wait(host, lambda d: visible(d, "#player-form"), "the Shared video form")
        host.execute_script("return window.roomPlayer.listVideos();")
        wait(
            host,
            lambda d: d.execute_script("return document.querySelectorAll('#player-file option').length") == 2,
            "the list",
        )
        host.execute_script(f"document.querySelector('#player-file').value = '{file_id}';")
        click(host, "#player-start")
        for name, d in pages.items():
            wait(d, lambda d: visible(d, "#player-stage"), f"{name}: the player on the stage")
        assert visible(host, "#player-controls") and not visible(ann, "#player-controls")
        # the attendee whose browser refuses sound plays muted and is offered the sound
        wait(bob, lambda d: visible(d, "#player-sound") or visible(d, "#sound-on"), "bob: Turn the sound on")
        assert not (visible(bob, "#player-sound") and visible(bob, "#sound-on"))  # one such button at a time
        all_in_step(pages, True, 0.3, "playing")
        assert measure(bob)["muted"] and not measure(ann)["muted"]
        from selenium.webdriver.common.by import By

        button = "#player-sound" if visible(bob, "#player-sound") else "#sound-on"
        bob.find_element(By.CSS_SELECTOR, button).click()  # a real click: the browser allows sound then
        wait(bob, lambda d: not visible(d, button) and not measure(d)["muted"], "bob: the sound on")
        shot(host, "room-player-host-1280x800.png")

        # paused by the host's button: everyone stands on the same frame
        click(host, "#player-toggle")
        all_in_step(pages, False, 0.3, "paused")
        paused_at = measure(ann)["expected"]
        assert host.execute_script("return document.querySelector('#player-toggle').textContent") == "Play"

        # seeked (paused) with the seek bar, then played on from there
        host.execute_script(
            "const b = document.querySelector('#player-seek'); b.value = '17.5';"
            "b.dispatchEvent(new Event('change'));"
        )
        all_in_step(pages, False, 0.3, "seeked", where=17.5)
        assert paused_at != 17.5
        click(host, "#player-toggle")
        all_in_step(pages, True, 0.3, "playing after the seek", where=17.5)
        # and a seek back while playing
        host.execute_script(
            "const b = document.querySelector('#player-seek'); b.value = '3';"
            "b.dispatchEvent(new Event('change'));"
        )
        all_in_step(pages, True, 0.3, "seeked while playing", where=3)
        # Bob comes back (a late joiner): his page opens on the video where it is
        bob.refresh()
        assert in_room(bob)["role"] == "attendee"
        all_in_step({"bob": bob}, True, 0.3, "the late joiner")
        # at the end the host's page pauses the shared state there: everyone stands on the last frame
        host.execute_script(
            "const b = document.querySelector('#player-seek'); b.value = '28.8';"
            "b.dispatchEvent(new Event('change'));"
        )
        all_in_step(pages, False, 0.3, "paused at the end")
        end = measure(ann)["state"]
        assert end["playing"] is False and SECONDS - 0.1 <= end["position"] <= SECONDS, end
        host.execute_script(  # back to 10 s, and play on
            "const b = document.querySelector('#player-seek'); b.value = '10';"
            "b.dispatchEvent(new Event('change'));"
        )
        all_in_step(pages, False, 0.3, "back from the end", where=10)
        click(host, "#player-toggle")
        all_in_step(pages, True, 0.3, "playing again", where=10)
        for name, d in pages.items():
            assert not errors(d), (name, "console errors")

        # a link that is not YouTube's is refused with a message, and the video plays on
        host.execute_script(
            f"document.querySelector('#player-youtube').value = 'https://evil.example/watch?v={YT}';"
        )
        click(host, "#player-start")
        wait(
            host,
            lambda d: text(d, "#player-form-error") == "This is not a YouTube video link.",
            "the refusal",
        )
        assert measure(ann)["state"]["source"]["kind"] == "file" and not measure(ann)["paused"]

        # a YouTube link, through the adapter over the stand-in of the IFrame API, the same file behind it
        stand_in.videos[YT] = measure(ann)["state"]["source"]["url"]
        host.execute_script(
            f"document.querySelector('#player-youtube').value = 'https://www.youtube.com/watch?v={YT}';"
        )
        click(host, "#player-start")
        for name, d in pages.items():
            wait(
                d, lambda d: d.execute_script("return !!document.querySelector('video[data-stand-in]')"), name
            )
        all_in_step(pages, True, 0.3, "youtube playing")
        host.execute_script(
            "const b = document.querySelector('#player-seek'); b.value = '20';"
            "b.dispatchEvent(new Event('change'));"
        )
        all_in_step(pages, True, 0.3, "youtube seeked", where=20)
        calls = ann.execute_script("return window.ytStandIn[0].calls.map((c) => c[0]);")
        assert "playVideo" in calls and "seekTo" in calls, calls
        click(host, "#player-toggle")
        all_in_step(pages, False, 0.3, "youtube paused")
        assert "pauseVideo" in ann.execute_script("return window.ytStandIn[0].calls.map((c) => c[0]);")
        assert stand_in.fetched == 3  # once per page
        shot(ann, "room-player-youtube-attendee-800x600.png")

        click(host, "#player-stop")
        for name, d in pages.items():
            wait(d, lambda d: not visible(d, "#player-stage"), f"{name}: the player leaves the stage")
        for name, d in pages.items():
            assert not errors(d), (name, "console errors")
