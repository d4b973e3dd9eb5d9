"""The dashboard's automated timeline editor (issue 20 item 3, R-AUTO-1) in headless Chromium against a real
`mediaserver serve`: an organiser opens an automated event's timeline from its row, drags a call to action
along the time scale and stretches a poll by its end edge with the mouse (real pointer input through
Selenium's ActionChains), moves and lengthens another call to action with the keyboard (the component's aria
label says its new start and length), saves, and after a reload the page and the API hold the same times; a
call to action placed over another is refused with the server's words (400 timeline_overlap), the two
components marked. The scrub line previews what is on at a moment. axe-core's rules and Tab over the
section."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.e2e import browser
from tests.e2e.test_dashboard import _wait, served  # noqa: F401  (the signed-up organiser's server)
from tests.e2e.test_dashboard_account import AXE, RULES
from tests.e2e.test_dashboard_polls import Signed
from tests.e2e.test_room_access import shot
from tests.e2e.test_room_page import errors
from tests.e2e.test_room_polls import upload_image

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")

TIMELINE = [
    {"component": "chat", "start": 0, "duration": 600},
    {"component": "call_to_action", "start": 60, "duration": 60, "ref": "offer", "text": "Buy the course",
     "url": "https://example.test/buy", "buttonText": "Buy"},
    {"component": "call_to_action", "start": 200, "duration": 30, "ref": "later", "text": "Join us"},
    {"component": "poll", "start": 300, "duration": 60, "text": "How is it going?"},
]  # fmt: skip


def checked(d: Any, root: str) -> None:
    """axe-core's label, button-name and link-name rules over ``root``, and every visible control of it
    reached with Tab from the skip link (test_dashboard_account's check)."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    if not d.execute_script("return !!window.axe;"):
        d.execute_script(AXE.read_text())
    found = d.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document.querySelector(arguments[0]), {runOnly: {type: 'rule', values: arguments[1]}})"
        ".then((r) => done(r.violations.map((v) => [v.id, v.nodes.map((n) => n.html)])),"
        "      (e) => done([['axe failed', String(e)]]));",
        root,
        RULES,
    )
    assert found == [], (root, found)
    controls = "a[href], button, input, select, textarea, [tabindex='0']"
    count = d.execute_script(
        "window.__seen = new Set();"
        "if (!window.__tabbing) { window.__tabbing = true;"
        "  document.addEventListener('focusin', (e) => window.__seen.add(e.target)); }"
        "document.querySelector('.skip').focus();"
        "return [...document.querySelectorAll(arguments[0])]"
        ".filter((c) => c.getClientRects().length).length;",
        controls,
    )
    ActionChains(d).send_keys(Keys.TAB * (count + 20)).perform()
    missed = d.execute_script(
        "return [...document.querySelector(arguments[0]).querySelectorAll(arguments[1])]"
        ".filter((c) => c.getClientRects().length && !c.disabled && !window.__seen.has(c))"
        ".map((c) => c.outerHTML.slice(0, 120));",
        root,
        controls,
    )
    assert missed == [], (root, missed)


@pytest.mark.timeout(90)
def test_an_organiser_drags_resizes_and_keys_components_saves_and_sees_them_again(served):  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    org = Signed(served)
    upload_image(org, "notes.docx")  # type: ignore[arg-type]  (not a slide: not offered)
    slide = upload_image(org, "slide.png")  # type: ignore[arg-type]
    starts = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).isoformat()
    ev = org.call(
        "POST",
        "/api/v1/events",
        {"kind": "automated", "name": "Robot webinar", "startsAt": starts, "options": {"timeline": TIMELINE}},
        201,
    )

    def stored() -> list[tuple[str, int, int]]:
        got = org.call("GET", f"/api/v1/events/{ev['id']}")["options"]["timeline"]
        return [(i.get("ref") or i["component"], i["start"], i["duration"]) for i in got]

    with browser.chromium() as d:
        find = d.find_element
        css = By.CSS_SELECTOR

        def item(n: int) -> Any:
            return find(css, f"#tl-lanes .tl-item[data-n='{n}']")

        def labels() -> list[str]:
            return list(
                d.execute_script(
                    "return [...document.querySelectorAll('#tl-lanes .tl-item')]"
                    ".map((e) => e.getAttribute('aria-label'));"
                )
            )

        def boxes() -> list[list[float]]:  # each component's left and width, in seconds of the scale
            return list(
                d.execute_script(
                    "const s = Number(document.querySelector('#tl-canvas').dataset.scale);"
                    "return [...document.querySelectorAll('#tl-lanes .tl-item')]"
                    ".map((e) => [Math.round(e.offsetLeft / s), Math.round(e.offsetWidth / s)]);"
                )
            )

        d.set_window_size(1280, 1000)
        d.get(served + "/dashboard")
        _wait(lambda: find(By.ID, "login-view").is_displayed())
        find(By.ID, "login-email").send_keys("olga@example.test")
        find(By.ID, "login-password").send_keys("correct horse battery")
        find(By.ID, "login-submit").click()
        _wait(lambda: "Robot webinar" in find(By.ID, "events").text)
        find(css, f"#events tr[data-id='{ev['id']}'] .act-timeline").click()
        _wait(lambda: len(labels()) == 4)
        assert d.execute_script("return location.hash;") == "#timeline"
        assert labels() == [
            "Chat: starts at 0:00, lasts 10:00, ends at 10:00",
            "Call to action “offer”: starts at 1:00, lasts 1:00, ends at 2:00",
            "Call to action “later”: starts at 3:20, lasts 0:30, ends at 3:50",
            "Poll “How is it going?”: starts at 5:00, lasts 1:00, ends at 6:00",
        ], labels()
        assert boxes() == [[0, 600], [60, 60], [200, 30], [300, 60]], boxes()
        checked(d, "#section-timeline")
        scale = float(find(By.ID, "tl-canvas").get_attribute("data-scale"))

        # the scrub line: what is on at a moment (a click on the time scale)
        ruler = find(By.ID, "tl-ruler")
        ActionChains(d).move_to_element_with_offset(
            ruler, round(90 * scale - ruler.size["width"] / 2), 0
        ).click().perform()
        _wait(lambda: "Call to action “offer”" in find(By.ID, "tl-now").text)
        assert find(By.ID, "tl-now").text.startswith("At 1:3") and "Chat" in find(By.ID, "tl-now").text

        # the mouse: the first call to action dragged right by about 50 s, the poll stretched by its end edge
        offer = item(1)
        (
            ActionChains(d)
            .move_to_element(offer)
            .click_and_hold()
            .move_by_offset(round(25 * scale), 0)
            .move_by_offset(round(25 * scale), 0)
            .release()
            .perform()
        )
        _wait(lambda: boxes()[1][0] != 60)
        moved = boxes()[1]
        assert abs(moved[0] - 110) <= 1 and moved[1] == 60, moved
        grip = item(3).find_element(css, ".tl-grip-end")
        ActionChains(d).move_to_element(grip).click_and_hold().move_by_offset(
            round(40 * scale), 0
        ).release().perform()
        _wait(lambda: boxes()[3][1] != 60)
        stretched = boxes()[3]
        assert stretched[0] == 300 and abs(stretched[1] - 100) <= 1, stretched

        # the keyboard: the second call to action 3 s + 10 s later and 2 s longer; its label says so
        later = item(2)
        later.send_keys(Keys.ARROW_RIGHT * 3)
        later.send_keys(Keys.SHIFT + Keys.ARROW_RIGHT)
        later.send_keys(Keys.ARROW_UP * 2)
        _wait(lambda: labels()[2] == "Call to action “later”: starts at 3:33, lasts 0:32, ends at 4:05")
        assert d.execute_script("return document.activeElement.dataset.n;") == "2"
        live = d.execute_script("return document.querySelector('#tl-live').textContent;")
        assert live == labels()[2], live  # said to a screen reader (aria-live)
        shot(d, "dashboard-timeline.png")

        # saved; the API has exactly what the page shows; after a reload the page shows the same
        find(By.ID, "tl-save").click()
        _wait(lambda: find(By.ID, "tl-note").text.startswith("Saved: 4 components"))
        shown = [(r, *b) for r, b in zip(["chat", "offer", "later", "poll"], boxes(), strict=True)]
        assert stored() == shown, (stored(), shown)
        assert shown[1][1] == moved[0] and shown[3][2] == stretched[1] and shown[2][1:] == (213, 32)
        before = labels()
        d.refresh()
        _wait(lambda: labels() == before)
        assert [(r, *b) for r, b in zip(["chat", "offer", "later", "poll"], boxes(), strict=True)] == shown

        # an invalid placement: "later" moved over "offer" (its start typed in the details); the server's
        # message is shown and both components are marked; the stored timeline is unchanged
        item(2).send_keys(Keys.ENTER)
        _wait(lambda: find(By.ID, "tl-details").is_displayed())
        assert d.execute_script("return document.activeElement.id;") == "tl-kind"
        start = find(By.ID, "tl-start")
        start.clear()
        start.send_keys(str(shown[1][1] + 10))
        find(By.ID, "tl-save").click()
        _wait(lambda: find(By.ID, "tl-error").text)
        a, b = shown[1][1], shown[1][1] + 10
        clock = lambda s: f"{s // 60}:{s % 60:02}"  # noqa: E731
        assert find(By.ID, "tl-error").text == (
            f"timeline items 2 ('offer') and 3 ('later') overlap: {clock(a)}-{clock(a + 60)} and "
            f"{clock(b)}-{clock(b + 32)}; a room shows one call to action at a time: the second would "
            "replace the first, so let one end before the next starts"
        ), find(By.ID, "tl-error").text
        marked = d.execute_script(
            "return [...document.querySelectorAll('#tl-lanes .tl-item[aria-invalid=true]')]"
            ".map((e) => e.getAttribute('aria-label').split(':')[0]);"
        )
        assert marked == ["Call to action “offer”", "Call to action “later”"], marked
        assert stored() == shown
        checked(d, "#section-timeline")
        shot(d, "dashboard-timeline-refused.png")

        # put right (its start typed back), and a presentation added at the scrub line's moment with a slide
        # of the library (only files a presentation can show are offered); saved, the refusal's marks gone
        start.clear()
        start.send_keys("213")
        find(By.ID, "tl-at").send_keys(Keys.HOME)
        _wait(lambda: find(By.ID, "tl-now").text.startswith("At 0:00: Chat"))
        Select(find(By.ID, "tl-add-kind")).select_by_value("presentation")
        find(By.ID, "tl-add").click()
        _wait(lambda: len(labels()) == 5)
        assert labels()[4] == "Presentation: starts at 0:00, lasts 1:00, ends at 1:00", labels()
        files = Select(find(By.ID, "tl-file"))
        assert [o.text for o in files.options] == ["No file", "slide.png"]
        files.select_by_visible_text("slide.png")
        find(By.ID, "tl-save").click()
        _wait(lambda: find(By.ID, "tl-note").text.startswith("Saved: 5 components"))
        assert not find(By.ID, "tl-error").text and not d.find_elements(css, "#tl-lanes [aria-invalid]")
        got = org.call("GET", f"/api/v1/events/{ev['id']}")["options"]["timeline"]
        assert [(i["component"], i["start"], i.get("fileId")) for i in got][:2] == [
            ("presentation", 0, slide),  # in the order they start (the shorter first)
            ("chat", 0, None),
        ], got
        assert [(i["ref"] or None, i["start"], i["duration"]) for i in got[2:]] == [
            ("offer", *shown[1][1:]),
            ("later", 213, 32),
            (None, *shown[3][1:]),
        ], got
        # in Russian, the labels too; on a phone's width the page does not scroll sideways
        Select(find(By.ID, "dash-lang")).select_by_value("ru")
        _wait(lambda: find(By.ID, "tl-title").text == "Сценарий автовебинара")
        _wait(
            lambda: (
                labels()[2]
                == f"Призыв к действию “offer”: начало в {clock(a)}, длится 1:00, конец в {clock(a + 60)}"
            )
        )
        d.set_window_size(360, 740)
        wide = browser.poll(
            lambda: d.execute_script("return document.documentElement.scrollWidth - innerWidth;"),
            lambda v: v <= 0,
            5,
        )
        assert wide <= 0, wide
        narrow = float(find(By.ID, "tl-canvas").get_attribute("data-scale"))
        find(By.ID, "tl-zoom-in").click()  # twice the pixels a second; the track scrolls in its own box
        _wait(lambda: float(find(By.ID, "tl-canvas").get_attribute("data-scale")) == 2 * narrow)
        assert d.execute_script("return document.documentElement.scrollWidth - innerWidth;") <= 0
        assert d.execute_script(
            "const s = document.querySelector('#tl-scroll'); return s.scrollWidth > s.clientWidth;"
        )
        shot(d, "dashboard-timeline-phone.png")
        assert not errors(d, allow=("status of 400", "/api/v1/me ", "favicon")), "console errors"
