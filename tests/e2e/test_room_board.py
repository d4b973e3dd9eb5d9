"""The whiteboard on the room page in headless Chromium (issue 17 item 3, R-INT-5), against the installed
server: a presenter (the host) draws with real pointer events, an attendee sees the stroke (in the page's Yjs
document and on its canvas); the attendee's own stroke is refused by the server until collaboration is on,
then seen by the host; a phone-viewport attendee gets no drawing tools. One browser session per person."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from tests.conftest import loopback_only_ice
from tests.e2e import browser
from tests.e2e.test_room_page import (
    base,  # noqa: F401 (the fixture: the server, with its room routes and the SDK)
    browsers,  # noqa: F401 (the fixture)
    click,
    create_room,
    errors,
    room_state,
    shot,
    viewport,
    wait_state,
)

loopback_only_ice()

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def modules_served(url: str) -> None:
    for path in ("/static/room/board.js", "/sdk/board.js", "/static/vendor/yjs/yjs.js"):
        # module scripts run only when served as JavaScript (nosniff and the CSP: signaling/hardening.py)
        with urllib.request.urlopen(url + path, timeout=5) as r:
            assert r.status == 200 and "javascript" in r.headers["Content-Type"], (path, r.headers)


# Every control of the board's toolbar the page shows now: its box, whether it is inside the viewport, and
# what is on top at its centre and at four points around it (a toast, the stage's overlays, the canvas...).
TOOLBAR = """
const out = [];
const vw = window.innerWidth, vh = window.innerHeight;
const controls = [...document.querySelector('#board .board-bar')
  .querySelectorAll('button, select, input[type=text], label')];
for (const e of controls) {
  if (e.closest('[hidden]') || e.closest('label') && e.tagName !== 'LABEL') continue;
  const r = e.getBoundingClientRect();
  const probe = [[0.5, 0.5], [0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]]
    .map(([fx, fy]) => [r.left + fx * r.width, r.top + fy * r.height]);
  const covered = probe.map(([x, y]) => document.elementFromPoint(x, y))
    .filter((t) => !t || !(t === e || e.contains(t)))
    .map((t) => (t ? `${t.tagName.toLowerCase()}#${t.id}.${t.className}` : 'nothing'));
  out.push({
    name: e.id || e.dataset.tool || e.dataset.color || e.tagName,
    box: [r.left, r.top, r.right, r.bottom],
    inside: r.left >= 0 && r.top >= 0 && r.right <= vw && r.bottom <= vh && r.width > 0 && r.height > 0,
    covered,
    label: e.getAttribute('aria-label') || e.textContent.trim(),
  });
}
const c = document.querySelector('#board-canvas').getBoundingClientRect();
return {controls: out, canvas: [c.left, c.top, c.right, c.bottom]};
"""


def toolbar_fits(driver: Any, size: str) -> list[dict[str, Any]]:
    """R-INT-5, issue 17: every control of the toolbar is inside the viewport, labelled, on top where it
    is (no toast, overlay or canvas over it), and no two controls overlap."""
    got = js(driver, TOOLBAR)
    shot(driver, f"room-board-toolbar-{size.replace(' ', '-')}.png")  # to look at when this fails
    controls = got["controls"]

    def overlap(a: list[float], b: list[float]) -> bool:
        return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5

    for c in controls:
        assert c["inside"] and not c["covered"] and c["label"], (size, c)
        assert not overlap(c["box"], got["canvas"]), (size, c, got["canvas"])
    for i, a in enumerate(controls):
        for b in controls[i + 1 :]:
            assert not overlap(a["box"], b["box"]), (size, a, b)
    return controls


def shapes(driver: Any, page: int = 0) -> list[dict[str, Any]]:
    return js(driver, "return window.roomBoard ? window.roomBoard.shapes(arguments[0]) : [];", page)


def wait_shapes(driver: Any, pred, timeout: float = 10) -> list[dict[str, Any]]:
    got = browser.poll(lambda: shapes(driver), pred, timeout)
    assert pred(got), (got, errors(driver, everything=True))
    return got


def pixel(driver: Any, x: float, y: float) -> list[int]:
    """The canvas's colour at board point (x, y) (the canvas is 1600 x 900, the board's own units)."""
    return js(
        driver,
        "const c = document.querySelector('#board-canvas').getContext('2d');"
        "return [...c.getImageData(arguments[0], arguments[1], 1, 1).data];",
        round(x),
        round(y),
    )


def drag(driver: Any, path: list[tuple[float, float]]) -> None:
    """Real pointer events over the canvas: press at the first point, move through the others, release.
    Points are fractions of the canvas's width and height."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    canvas = driver.find_element(By.CSS_SELECTOR, "#board-canvas")
    w, h = canvas.size["width"], canvas.size["height"]

    def offset(p: tuple[float, float]) -> tuple[int, int]:  # selenium's offsets are from the centre
        return round((p[0] - 0.5) * w), round((p[1] - 0.5) * h)

    chain = (
        ActionChains(driver, duration=20)
        .move_to_element_with_offset(canvas, *offset(path[0]))
        .click_and_hold()
    )
    for p in path[1:]:
        chain = chain.move_to_element_with_offset(canvas, *offset(p))
    chain.release().perform()


@pytest.mark.timeout(150)
def test_presenter_draws_attendees_see_collaboration_and_a_phone_without_tools(base, browsers):  # noqa: F811
    modules_served(base)
    room = create_room(base, type="webinar", name="Board")
    host, ann, pat = browsers(), browsers(), browsers()
    viewport(host, 1280, 720)
    viewport(ann, 1024, 768)
    viewport(pat, 390, 844, phone=True)
    host.get(f"{base}{room['hostUrl']}&name=Hal&email=hal@example.org&autojoin=1")
    wait_state(host, lambda s: s.get("screen") == "room" and s.get("role") == "host")
    for d, name in ((ann, "Ann"), (pat, "Pat")):
        lang = "&lang=ru" if d is ann else ""  # Ann's page in Russian: longer labels
        d.get(f"{base}/room/{room['id']}?name={name}&email={name.lower()}@example.org&autojoin=1{lang}")
        wait_state(d, lambda s: s.get("screen") == "room" and s.get("role") == "attendee")
    for d in (host, ann, pat):
        click(d, "#btn-board")
        wait_state(d, lambda s: s["board"]["open"])
    st = room_state(host)["board"]
    assert st["canDraw"] and st["pages"] == 1, st
    assert js(host, "return !document.querySelector('#board-tools').hidden;")
    # every icon (the board's tools, the room's toolbar) is an inline SVG, never a character that needs an
    # emoji or symbol font (the host's page is in English: its labels are ASCII)
    glyphs = (
        "return [...document.querySelectorAll('#board .board-tool, #toolbar .tool')]"
        ".filter((b) => !b.querySelector('svg') || /[^\\x00-\\x7f]/.test(b.textContent))"
        ".map((b) => b.id || b.dataset.tool);"
    )
    assert js(host, glyphs) == []
    assert not room_state(ann)["board"]["canDraw"]
    assert js(ann, "return document.querySelector('#board-tools').hidden;")

    # the host draws a red pen stroke with the mouse
    click(host, "#board-tools [data-color='#d03030']")
    drag(host, [(0.2, 0.3), (0.3, 0.35), (0.4, 0.45), (0.5, 0.5)])
    [stroke] = wait_shapes(host, lambda s: len(s) == 1 and len(s[0]["points"]) >= 6)
    assert (
        stroke["type"] == "pen"
        and stroke["color"] == "#d03030"
        and stroke["by"] == room_state(host)["self"]["id"]
    )
    # the attendee's page gets it: in its Yjs document and drawn on its canvas
    seen = wait_shapes(ann, lambda s: len(s) == 1 and s[0]["points"] == stroke["points"])
    x, y = seen[0]["points"][-2:]
    red = browser.poll(lambda: pixel(ann, x, y), lambda p: p[0] > 150 and p[1] < 100, 5)
    assert red[0] > 150 and red[1] < 100, red

    # the attendee's stroke, sent from the page while collaboration is off: refused, gone again, and never
    # at the host's
    js(ann, "roomBoard.add(0, {type: 'pen', color: '#2b6cd4', width: 4, points: [10, 10, 60, 60]});")
    js(ann, "roomBoard.flush();")
    wait_state(ann, lambda s: s["board"]["refused"] == 1)
    wait_shapes(ann, lambda s: len(s) == 1)  # the page started again from the server's board
    assert len(shapes(host)) == 1

    # the host turns collaboration on: the attendee gets the tools and draws a rectangle
    click(host, "#board-collab-on")
    wait_state(ann, lambda s: s["board"]["canDraw"] and s["board"]["collaboration"])
    # the toolbar with the toast that says so on top: every control in sight, none under another or the toast
    for d, size in ((host, "1280x720"), (ann, "1024x768")):
        assert js(d, "return !document.querySelector('#toast').hidden;"), size
        names = {c["name"] for c in toolbar_fits(d, size)}
        assert {"pen", "note", "eraser", "#2b6cd4", "board-width", "board-text", "board-undo"} <= names, names
        assert {"board-redo", "board-prev", "board-next", "board-add-page"} <= names, names
        assert ("board-clear" in names) == (d is host) and ("board-collab" in names) == (d is host), names
    # a call to action over the open board stands above the attendee's tools, not on them (R-INT-4)
    js(
        host,
        "window.roomClient.showCta({text: 'Get the slides', button: 'Open', url: 'https://example.org/'});",
    )
    browser.poll(lambda: js(ann, "return !document.querySelector('#cta-card').hidden;"), bool, 5)
    toolbar_fits(ann, "1024x768 and the call to action")
    js(host, "window.roomClient.closeCta();")
    browser.poll(lambda: js(ann, "return document.querySelector('#cta-card').hidden;"), bool, 5)
    pen = "return document.querySelector('#board-tools [data-tool=pen]').getAttribute('aria-label');"
    assert js(host, pen) == "Pen" and js(ann, pen) == "Карандаш"
    click(ann, "#board-tools [data-tool=rect]")
    drag(ann, [(0.6, 0.6), (0.7, 0.7), (0.8, 0.8)])
    got = wait_shapes(host, lambda s: [x["type"] for x in s] == ["pen", "rect"])
    assert got[1]["by"] == room_state(ann)["self"]["id"]
    # undo takes back the attendee's own rectangle only, everywhere
    click(ann, "#board-undo")
    wait_shapes(host, lambda s: [x["type"] for x in s] == ["pen"])

    # a sticky note with text, then the eraser takes it away; a second page
    from selenium.webdriver.common.by import By

    click(host, "#board-tools [data-tool=note]")
    drag(host, [(0.1, 0.6), (0.1, 0.6)])  # no text yet: a toast asks for it, the text field has the focus
    assert js(host, "return document.activeElement.id;") == "board-text"
    toolbar_fits(host, "1280x720 and a toast")
    host.find_element(By.CSS_SELECTOR, "#board-text").send_keys("Итог")
    drag(host, [(0.1, 0.6), (0.1, 0.6)])
    got = wait_shapes(ann, lambda s: [x["type"] for x in s] == ["pen", "note"])
    assert got[1]["text"] == "Итог"
    nx, ny = got[1]["points"][:2]
    yellow = browser.poll(lambda: pixel(ann, nx + 50, ny + 120), lambda p: p[:3] == [255, 236, 140], 5)
    assert yellow[:3] == [255, 236, 140], yellow  # the note's paper on the attendee's canvas
    js(host, "document.querySelector('#toast').hidden = true;")  # the picture for the docs, without the toast
    shot(host, "room-board.png")  # the pen stroke and the note at 1280x720 (docs/room-board.png, docs/sdk.md)
    viewport(host, 1024, 768)
    host.find_element(By.CSS_SELECTOR, "#board-text").clear()
    drag(host, [(0.5, 0.5), (0.5, 0.5)])  # the toast again, at 1024x768
    toolbar_fits(host, "1024x768 and a toast")
    shot(host, "room-board-1024x768.png")
    click(host, "#board-tools [data-tool=eraser]")
    drag(host, [(0.1 + 30 / 1600, 0.6 + 30 / 900), (0.1 + 31 / 1600, 0.6 + 30 / 900)])
    wait_shapes(ann, lambda s: [x["type"] for x in s] == ["pen"])
    click(host, "#board-add-page")
    wait_state(ann, lambda s: s["board"]["pages"] == 2 and s["board"]["page"] == 1)  # following the host

    # the phone: the board shows, but no tools, even with collaboration on
    st = wait_state(pat, lambda s: s["board"]["collaboration"] and s["board"]["page"] == 1)
    assert not st["board"]["canDraw"]
    assert js(pat, "return document.querySelector('#board-tools').hidden;")
    wait_shapes(pat, lambda s: [x["type"] for x in s] == ["pen"])  # page 1's stroke is in its document too
    for d in (host, ann, pat):
        assert errors(d, allow=("board.update", "whiteboard", "favicon")) == [], d
