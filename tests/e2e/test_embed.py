"""Embedding (R-ROOM-12) in headless Chromium: the snippet the API gives for an event is pasted into a page of
another site (another origin, 127.0.0.2), and a visitor of that site joins the event's room inside the iframe,
camera and microphone included, while the server counts them in."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.conftest import loopback_only_ice
from tests.e2e import browser
from tests.e2e.test_room_access import (
    Organiser,
    click,
    host_link,
    in_room,
    join_as,
    person,
    seated,
    served,  # noqa: F401  (the server fixture, shared)
    shot,
    state,
    wait,
)

loopback_only_ice()

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


@contextlib.contextmanager
def partner_site(html: str) -> Iterator[str]:
    """Another web site (127.0.0.2: another origin than the server's 127.0.0.1) whose page holds ``html``."""
    page = (
        "<!doctype html><html><head><title>Partner</title></head>"
        f"<body><h1>Our webinar</h1>{html}</body></html>"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802  (http.server's name)
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.2:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.timeout(120)
def test_the_snippet_embeds_the_room_in_another_site(served):  # noqa: F811
    org = Organiser(served)
    ev = org.event(name="Embedded talk")
    snippet = org.call("GET", f"/api/v1/events/{ev['id']}/embed", None, 200)["html"]
    assert f"{served}/room/{ev['roomId']}" in snippet
    with partner_site(snippet) as site, browser.chromium() as host, browser.chromium() as visitor:
        join_as(host, host_link(served, ev), "Olga", "host")

        visitor.get(site)
        assert visitor.execute_script("return location.origin;") == site.rstrip("/")
        frame = visitor.find_element("css selector", "iframe")
        assert frame.get_attribute("allow").startswith("camera; microphone")
        visitor.switch_to.frame(frame)
        wait(visitor, lambda d: state(d).get("event"), "the embedded page loads the event")
        person(visitor, "Vera", "vera@example.test")
        click(visitor, "#join-submit")
        me = in_room(visitor)
        assert me["role"] == "attendee"
        assert seated(served, ev["roomId"]) == 2
        # the iframe's allow list lets the embedded room use the camera and microphone on the partner's page
        kinds = visitor.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "navigator.mediaDevices.getUserMedia({audio: true, video: true})"
            ".then(s => { const k = s.getTracks().map(t => t.kind).sort(); s.getTracks().forEach(t => "
            "t.stop());"
            " done(k); }, e => done(String(e)));"
        )
        assert kinds == ["audio", "video"], kinds
        visitor.switch_to.default_content()
        shot(visitor, "embed-partner-site.png")
