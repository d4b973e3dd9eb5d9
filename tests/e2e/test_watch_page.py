"""The watch page of an on-demand event in headless Chromium against a real `mediaserver serve` (issue 7;
R-ROOM-4 "on demand", R-AUTO-2): a WebM made here with PyAV is uploaded over tus, attached to a
password-protected on-demand event, and a viewer with the invitation link and the password actually plays it
(the video's currentTime advances) from the signed watch URL, then leaves a message for the organiser with
the page's form (issue 16), which the organiser reads and answers in the dashboard (the answer is mailed)."""

from __future__ import annotations

import base64
import io
import json
import urllib.parse
import urllib.request
from fractions import Fraction

import pytest

from tests.conftest import mail_spool, serve, signed_up
from tests.e2e import browser

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


def tiny_webm(seconds: float = 4.0, fps: int = 15) -> bytes:
    """A small VP8 WebM (a moving gradient), which Chromium plays without proprietary codecs."""
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, "w", format="webm") as box:
        stream = box.add_stream("libvpx", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(int(seconds * fps)):
            img = np.zeros((120, 160, 3), dtype=np.uint8)
            img[:, :, 0] = (np.arange(160) + i * 8) % 256
            img[:, :, 1] = i * 4 % 256
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    return out.getvalue()


def _request(
    base: str,
    method: str,
    path: str,
    body: object = None,
    headers: dict | None = None,
    data: bytes | None = None,
) -> tuple[int, dict, bytes]:
    if body is not None:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, dict(r.headers), r.read()


@pytest.fixture
def served(tmp_path):
    with serve(tmp_path) as (base, _proc, log):
        yield base, log


def test_a_viewer_plays_the_on_demand_video(served):
    from selenium.webdriver.common.by import By

    base, log = served
    auth = {
        "Cookie": signed_up(
            base, "olga@example.test", "correct horse battery", mail_spool(log.parent / "data")
        )
    }
    video = tiny_webm()
    meta = f"filename {base64.b64encode(b'launch.webm').decode()}"
    _, headers, _ = _request(
        base,
        "POST",
        "/api/v1/uploads",
        headers={**auth, "Tus-Resumable": "1.0.0", "Upload-Length": str(len(video)), "Upload-Metadata": meta},
        data=b"",
    )
    status, _, _ = _request(
        base,
        "PATCH",
        urllib.parse.urlsplit(headers["Location"]).path,
        data=video,
        headers={
            **auth,
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert status == 204
    files = json.loads(_request(base, "GET", "/api/v1/files", headers=auth)[2])
    _, _, body = _request(
        base,
        "POST",
        "/api/v1/events",
        {
            "kind": "on_demand",
            "name": "Launch replay",
            "access": "password",
            "password": "let-me-in",
            "videoFileId": files["items"][0]["id"],
        },
        headers=auth,
    )
    event = json.loads(body)
    assert event["url"].endswith(f"/watch/{event['roomId']}")

    with browser.chromium() as d:
        d.get(f"{base}/room/{event['roomId']}?lang=ru")  # the room link leads to the watch page
        browser.poll(
            lambda: d.execute_script("return window.watchState && window.watchState.phase"),
            lambda phase: phase == "form",
            15,
        )
        assert "/watch/" in d.current_url and d.find_element(By.ID, "row-password").is_displayed()
        d.find_element(By.ID, "name").send_keys("Vera Viewer")
        d.find_element(By.ID, "email").send_keys("vera@example.test")
        d.find_element(By.ID, "password").send_keys("wrong")
        d.find_element(By.ID, "watch").click()
        error = browser.poll(lambda: d.find_element(By.ID, "error").text, bool, 10)
        assert "password" in error
        d.find_element(By.ID, "password").clear()
        d.find_element(By.ID, "password").send_keys("let-me-in")
        d.find_element(By.ID, "watch").click()

        def playing() -> dict:
            return d.execute_script(
                "const v = document.getElementById('video'); return {t: v.currentTime, "
                "paused: v.paused, error: v.error && v.error.code, src: v.currentSrc, "
                "phase: window.watchState.phase};"
            )

        first = browser.poll(playing, lambda s: s["t"] > 0.3 or s["error"], 20, 0.2)
        assert first["error"] is None and first["t"] > 0.3, (first, browser.console(d))
        later = browser.poll(playing, lambda s: s["t"] > first["t"] + 0.5, 10, 0.2)
        assert later["t"] > first["t"] + 0.5 and "/play/" in later["src"], (first, later)

        # R-AUTO-2: the viewer leaves a message for the organiser (the form in the page's language, ?lang=ru)
        assert d.find_element(By.ID, "screen-message").is_displayed()
        assert d.find_element(By.ID, "message-title").text == "Сообщение организатору"
        d.find_element(By.ID, "message-text").send_keys("Где найти слайды? =1+1")
        d.find_element(By.ID, "message-send").click()
        status = browser.poll(lambda: d.find_element(By.ID, "message-status").text, bool, 10)
        assert status.startswith("Спасибо"), (status, browser.console(d))
        assert d.find_element(By.ID, "message-text").get_attribute("value") == ""

        # the organiser reads it in the dashboard and answers: the answer is mailed to the viewer
        d.get(f"{base}/dashboard")
        name, value = auth["Cookie"].split("=", 1)
        d.add_cookie({"name": name, "value": value, "path": "/"})
        d.get(f"{base}/dashboard")
        browser.poll(lambda: d.find_elements(By.CSS_SELECTOR, "#events .act-messages"), bool, 10)[0].click()
        text = browser.poll(lambda: d.find_element(By.ID, "messages").text, bool, 10)
        assert "Vera Viewer" in text and "Где найти слайды? =1+1" in text, text
        d.find_element(By.CSS_SELECTOR, ".viewer-message .answer-text").send_keys("In the library, Vera.")
        d.find_element(By.CSS_SELECTOR, ".viewer-message .answer-send").click()
        answered = browser.poll(
            lambda: d.find_elements(By.CSS_SELECTOR, ".viewer-message .answered"), bool, 10
        )
        assert "In the library, Vera." in answered[0].text
        mails = browser.poll(mail_spool(log.parent / "data"), lambda m: "In the library, Vera." in m, 10)
        assert "to vera@example.test" in mails

    views = json.loads(_request(base, "GET", f"/api/v1/events/{event['id']}/views", headers=auth)[2])
    assert (views["total"], views["uniqueViewers"], views["messages"]) == (1, 1, 1)
    messages = json.loads(_request(base, "GET", f"/api/v1/events/{event['id']}/messages", headers=auth)[2])
    [left] = messages["items"]
    assert (left["name"], left["email"], left["text"]) == (
        "Vera Viewer",
        "vera@example.test",
        "Где найти слайды? =1+1",
    )
