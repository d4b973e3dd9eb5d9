"""The room page's live streaming in headless Chromium against a real `mediaserver serve` and Debian's
nginx-rtmp (R-REC-6): the host types the service's ingest URL and stream key and presses one button; the
blinking LIVE indicator appears for the host and an attendee; nginx gets the stream (PyAV plays H.264 and
AAC from it); a bad URL is refused with a message on the page; stopping takes the indicator away."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture)
from tests.conftest import loopback_only_ice, serve_mailing
from tests.e2e import browser
from tests.e2e.rtmp_server import Player, available, rtmp_server
from tests.e2e.test_room_access import (
    MAILBOXES,
    Organiser,
    blinking,
    click,
    fill,
    host_link,
    join_as,
    shot,
    text,
    visible,
    wait,
)

loopback_only_ice()

_why = browser.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}"),
    pytest.mark.skipif(not available(), reason="nginx with the RTMP module is not installed"),
    pytest.mark.alone,
]


@pytest.fixture(scope="module")
def served(tmp_path_factory, smtp) -> Iterator[str]:  # noqa: F811
    MAILBOXES.append(smtp)  # where the Organisers' sign-up mails arrive (issue 14 finding 22)
    with serve_mailing(
        tmp_path_factory.mktemp("streaming"),
        smtp.port,
        MEDIASERVER_STREAM_SIZE="320x180",
        MEDIASERVER_OUTBOUND_ALLOW="127.0.0.1",  # nginx-rtmp listens on loopback (issue 14 finding 5)
        MEDIASERVER_RATE_LIMIT_SIGNUP="1000/minute",
        MEDIASERVER_RATE_LIMIT_ACTIVATE="1000/minute",
    ) as base:
        yield base


@pytest.mark.timeout(150)
def test_the_host_goes_live_with_one_button_and_everyone_sees_live(served, tmp_path):
    org = Organiser(served)
    ev = org.event(name="Streamed talk")
    with rtmp_server(tmp_path / "nginx") as port, browser.chromium() as host, browser.chromium() as att:
        join_as(host, host_link(served, ev), "Olga", "host")
        join_as(att, f"{served}/room/{ev['roomId']}", "Mark", "attendee")
        assert not visible(att, "#room-live") and not visible(host, "#room-live")
        assert not visible(att, "#host-stream")  # the controls are the host's
        click(host, "#btn-host")
        assert text(host, "#host-stream") == "Start live stream"

        fill(host, "#host-stream-url", "http://127.0.0.1/live")  # not an RTMP URL: said on the page
        fill(host, "#host-stream-key", "k1")
        click(host, "#host-stream")
        wait(host, lambda d: "RTMP" in text(d, "#toast"), "the refusal")
        assert not visible(host, "#room-live")

        fill(host, "#host-stream-url", f"rtmp://127.0.0.1:{port}/live")
        click(host, "#host-stream")
        for d in (host, att):
            blinking(d, "#room-live", "LIVE")
        wait(host, lambda d: text(d, "#host-stream") == "Stop live stream", "the stop button")
        assert host.execute_script("return document.querySelector('#host-stream-key').disabled;")
        shot(att, "room-live-1280x800.png")

        player = Player(f"rtmp://127.0.0.1:{port}/live/k1", seconds=3)
        player.run()  # here: the pages keep running meanwhile
        assert player.codecs == {"video": "h264", "audio": "aac"}, (player.codecs, player.error)
        assert player.sizes == {(320, 180)} and player.video >= 30, (player.video, player.error)

        click(host, "#host-stream")
        for d in (host, att):
            wait(d, lambda d: not visible(d, "#room-live"), "the indicator goes")
        wait(host, lambda d: text(d, "#host-stream") == "Start live stream", "the start button again")
