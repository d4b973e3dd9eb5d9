"""Issue 14 finding 16 in headless Chromium: a room embedded in another site's page (R-ROOM-12) does not turn
on the camera and microphone by itself, even for a host link that joins without the form; it shows "Join
with camera" and sends only after that click. The pages run under their Content-Security-Policy without a
violation (the embedded room, the dashboard). One browser session."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.e2e import browser
from tests.e2e.test_embed import partner_site
from tests.e2e.test_room_access import (
    Organiser,
    host_link,
    in_room,
    served,  # noqa: F401  (the server fixture)
    state,
    visible,
    wait,
)

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


def csp_violations(d) -> list[str]:
    return [m for m in browser.console(d) if "Content Security Policy" in m]


@pytest.mark.timeout(120)
def test_embedded_room_waits_for_a_click_before_the_camera(served):  # noqa: F811
    from selenium.webdriver.common.by import By

    org = Organiser(served)
    ev = org.event(name="Embedded meeting")
    src = host_link(served, ev) + "&name=Olga&email=olga@example.test&autojoin=1"
    frame = f'<iframe src="{src}" width="960" height="600" allow="camera; microphone; autoplay"></iframe>'
    with partner_site(frame) as site, browser.chromium() as d:
        d.get(site)
        d.switch_to.frame(d.find_element(By.CSS_SELECTOR, "iframe"))
        assert in_room(d)["role"] == "host"
        time.sleep(3)  # longer than auto-publishing took before: the camera stays off without the click
        st = state(d)
        assert not st["publishing"], st
        assert st["embedded"] and st["cameraOffer"] and visible(d, "#embed-camera"), st
        assert d.execute_script("return window.roomClient.localTracks('camera').length;") == 0
        d.find_element(By.CSS_SELECTOR, "#embed-camera").click()  # a real click: the person's gesture
        wait(d, lambda d: state(d).get("publishing"), "publishing after the click", 20)
        assert not state(d)["cameraOffer"] and not visible(d, "#embed-camera")
        assert csp_violations(d) == [], csp_violations(d)
        d.switch_to.default_content()
        d.get(served + "/dashboard")
        wait(d, lambda d: visible(d, "#login-view") or visible(d, "form"), "the dashboard")
        for path in ("/", f"/watch/{ev['roomId']}", "/demo"):  # their inline scripts run (CSP hashes)
            d.get(served + path)
            time.sleep(0.5)
        assert csp_violations(d) == [], csp_violations(d)
