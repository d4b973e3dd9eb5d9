"""The room page's Q&A (R-INT-2) and call to action (R-INT-4) in headless Chromium (issue 16 item 9), against
the installed server: one host and two attendees of a webinar, one of them on a 390x844 phone viewport. One
browser session per person does every check, so the whole scenario is one test."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import loopback_only_ice
from tests.e2e import browser
from tests.e2e.test_room_page import (
    browsers,  # noqa: F401 (the fixture)
    click,
    create_room,
    errors,
    http,
    no_horizontal_scroll,
    room_state,
    shot,
    until,
    viewport,
    wait_state,
)

loopback_only_ice()

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


@pytest.fixture(scope="module")
def base(server_process) -> str:
    url = server_process["base_url"]
    status, _ = http("GET", f"{url}/static/room/qa.js")
    assert status == 200, status
    return url


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


QUESTIONS = """return [...document.querySelectorAll('#qa-list .question')].map((li) => [
  li.querySelector('.text').textContent, li.querySelector('.votes').textContent, li.className]);"""
TABS = "return [...document.querySelectorAll('#interact-tabs button')].map((b) => b.dataset.tab);"
BANNER = """const b = document.querySelector('#qa-banner'), r = b.getBoundingClientRect();
if (b.hidden) return null;
const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
return [document.querySelector('#qa-banner-text').textContent, r.left >= 0, r.right <= window.innerWidth,
  r.height > 0, b.contains(top)];"""
CARD = """const c = document.querySelector('#cta-card'), a = document.querySelector('#cta-card-go');
if (c.hidden) return null;
const r = a.getBoundingClientRect(), top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
return [document.querySelector('#cta-card-text').textContent, a.textContent, a.target, a.rel,
  a.getAttribute('href'), document.querySelector('#cta-countdown').textContent, top === a,
  r.left >= 0 && r.right <= window.innerWidth];"""


def tab(driver: Any, key: str) -> None:
    """Open the interaction panel on tab key."""
    if js(driver, "return document.querySelector('#panel-interact').hidden;"):
        click(driver, "#btn-chat")
    until(driver, TABS, lambda t: key in t)
    click(driver, f"#interact-tabs button[data-tab='{key}']")
    wait_state(driver, lambda s: s["tab"] == key)


def type_in(driver: Any, css: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.CSS_SELECTOR, css)
    box.clear()
    box.send_keys(text)


@pytest.mark.timeout(120)
def test_qa_and_call_to_action_with_a_host_and_two_attendees(base, browsers):  # noqa: F811 (the imported fixture)
    from selenium.webdriver.common.keys import Keys

    room = create_room(base, type="webinar", name="Q&A")
    host, ann, bob = browsers(), browsers(), browsers()
    viewport(host, 1280, 800)
    viewport(ann, 390, 844, phone=True)
    viewport(bob, 1280, 800)
    host.get(f"{base}{room['hostUrl']}&name=Hal&email=hal@example.org&autojoin=1")
    wait_state(host, lambda s: s.get("screen") == "room")
    for d, name in ((ann, "Ann"), (bob, "Bob")):
        d.get(f"{base}/room/{room['id']}?name={name}&email={name.lower()}@example.org&autojoin=1")
        wait_state(d, lambda s: s.get("screen") == "room" and s.get("role") == "attendee")
    everyone = (host, ann, bob)

    # Q&A is closed: the host has its tab (with "Open Q&A"), the attendees have none.
    tab(host, "qa")
    assert js(host, "return document.querySelector('#qa-toggle').textContent;") == "Open Q&A"
    click(ann, "#btn-chat")
    assert js(ann, TABS) == ["chat"] and room_state(ann)["qa"]["open"] is False
    click(host, "#qa-toggle")
    for d in everyone:
        wait_state(d, lambda s: s["qa"]["open"] is True)
    assert js(host, "return document.querySelector('#qa-toggle').textContent;") == "Close Q&A"

    # Bob asks (markup stays text); Ann upvotes it, the count shows on every page; her toggle takes it back.
    tab(bob, "qa")
    asked = "How does it <b>scale</b>?"
    type_in(bob, "#qa-text", asked)
    click(bob, "#qa-send")
    tab(ann, "qa")
    for d in everyone:
        until(d, QUESTIONS, lambda q: [x[:2] for x in q] == [[asked, "0"]])
    assert js(ann, "return document.querySelectorAll('#qa-list .text *').length;") == 0
    click(ann, "#qa-list .question button.vote")
    for d in everyone:
        until(d, QUESTIONS, lambda q: [x[:2] for x in q] == [[asked, "1"]])
    assert js(ann, "return document.querySelector('#qa-list .vote').getAttribute('aria-pressed');") == "true"
    click(ann, "#qa-list .question button.vote")
    until(bob, QUESTIONS, lambda q: q[0][1] == "0")
    click(ann, "#qa-list .question button.vote")
    until(host, QUESTIONS, lambda q: q[0][1] == "1")

    # Ann marks her chat message as a question; on Bob's page her message has no such action, the host's has.
    tab(ann, "chat")
    box = ann.find_element("css selector", "#chat-text")
    box.send_keys("Is there a recording?", Keys.ENTER)
    mark = "#chat-list .chat-msg.mine button[data-qa-mark]"
    until(ann, f"const b = document.querySelector('{mark}'); return !!b && !!b.offsetParent;", bool)
    tab(bob, "chat")
    until(bob, "return document.querySelectorAll('#chat-list .chat-msg').length;", lambda n: n == 1)
    assert js(bob, "return document.querySelectorAll('#chat-list [data-qa-mark]').length;") == 0
    tab(host, "chat")
    until(host, "return document.querySelectorAll('#chat-list [data-qa-mark]').length;", lambda n: n == 1)
    click(ann, mark)
    wait_state(ann, lambda s: s["tab"] == "qa" and s["qa"]["asked"] == 1 and s["qa"]["error"] is None)
    tab(host, "qa")
    tab(bob, "qa")
    for d in everyone:
        until(d, QUESTIONS, lambda q: [x[:2] for x in q] == [[asked, "1"], ["Is there a recording?", "0"]])
        wait_state(d, lambda s: s["qa"]["count"] == 2)
    click(ann, mark.replace(".mine", ""))  # a second time: the server's refusal, in words
    wait_state(ann, lambda s: s["qa"]["error"] == "already_asked")
    said = js(ann, "return document.querySelector('#qa-error').textContent;")
    assert said == "That message is a question already.", said

    # The host publishes it: a banner over the stage on every page (the phone too, without sideways scroll;
    # there the side panel covers the stage, so Ann closes it), and in a late joiner's snapshot (Bob reloads).
    click(ann, "#side-close")
    click(host, "#qa-list .question:nth-child(2) button[data-qa-act=publish]")
    for d in everyone:
        got = until(d, BANNER, bool)
        assert got == ["Is there a recording?", True, True, True, True], got
        wait_state(d, lambda s: s["qa"]["published"] is not None)
    assert js(ann, "return document.querySelector('#qa-banner-name').textContent;") == "Ann"
    no_horizontal_scroll(ann)
    shot(ann, "room-qa-banner-phone-390x844.png")
    shot(host, "room-qa-host-1280x800.png")
    bob.get(f"{base}/room/{room['id']}?name=Bob&email=bob@example.org&autojoin=1")
    wait_state(bob, lambda s: s.get("screen") == "room" and s["qa"]["open"] is True)
    assert until(bob, BANNER, bool)[0] == "Is there a recording?"
    tab(bob, "qa")
    until(bob, QUESTIONS, lambda q: [x[:2] for x in q] == [[asked, "1"], ["Is there a recording?", "0"]])
    click(host, "#qa-list .question.published button[data-qa-act=unpublish]")
    for d in everyone:
        until(d, BANNER, lambda b: b is None)

    # The host dismisses Bob's question: gone from Ann's list, marked on Bob's (his own) and the host's.
    click(host, "#qa-list .question:nth-child(1) button[data-qa-act=dismiss]")
    tab(ann, "qa")
    until(ann, QUESTIONS, lambda q: [x[0] for x in q] == ["Is there a recording?"])
    until(bob, QUESTIONS, lambda q: len(q) == 2 and any("dismissed" in x[2] and x[0] == asked for x in q))
    until(host, QUESTIONS, lambda q: any("dismissed" in x[2] for x in q))
    wait_state(ann, lambda s: s["qa"]["count"] == 1)

    # The host closes Q&A: the attendees' tab goes (their panel back on the chat), the host's stays.
    click(host, "#qa-toggle")
    for d in (ann, bob):
        wait_state(d, lambda s: s["qa"]["open"] is False and s["tab"] == "chat")
        until(d, TABS, lambda t: "qa" not in t)
        assert js(d, "return document.querySelector('#tab-qa').hidden;")
    assert js(host, "return document.querySelector('#qa-closed').hidden;") is False
    assert js(ann, "return getComputedStyle(document.querySelector('[data-qa-mark]')).display;") == "none"

    # The call to action: the form refuses 55 Cyrillic letters (counted as characters), accepts 54.
    click(host, "#btn-host")
    type_in(host, "#cta-text", "Я" * 55)
    got = js(
        host,
        "const q = (s) => document.querySelector(s);"
        "return [q('#cta-count').textContent, q('#cta-show').disabled, q('#cta-error').textContent];",
    )
    refusal = "The description is at most 54 characters, spaces included: shorten it."
    assert got == ["55/54", True, refusal], got
    js(host, "document.querySelector('#cta-form').requestSubmit();")
    assert room_state(host)["cta"]["shown"] is False
    host.find_element("css selector", "#cta-text").send_keys(Keys.BACKSPACE)
    assert js(host, "return document.querySelector('#cta-count').textContent;") == "54/54"
    # 53 letters and one written as two code points (и + breve): 54 characters once composed (NFC)
    js(
        host,
        "const b = document.querySelector('#cta-text'); b.value = 'Я'.repeat(53) + 'и\\u0306';"
        "b.dispatchEvent(new Event('input'));",
    )
    assert js(host, "return document.querySelector('#cta-count').textContent;") == "54/54"
    type_in(host, "#cta-button", "Открыть")
    type_in(host, "#cta-url", f"{base}/healthz")
    type_in(host, "#cta-seconds", "600")
    click(host, "#cta-show")
    wait_state(host, lambda s: s["cta"]["shown"] is True and s["cta"]["error"] is None)
    text = "Я" * 53 + "й"
    for d in (ann, bob):
        got = until(d, CARD, bool)
        assert got[:5] == [text, "Открыть", "_blank", "noopener", f"{base}/healthz"], got
        assert got[5] in ("Closes in 600 s", "Closes in 599 s", "Closes in 598 s"), got
        assert got[6:] == [True, True], got  # in sight: over the chat panel that covers a phone's stage
    # Ann presses the button: counted in the host's view; Bob closes it for himself only.
    click(ann, "#cta-card-go")
    until(host, "return document.querySelector('#cta-clicks').textContent;", lambda t: t == "Clicks: 1")
    wait_state(host, lambda s: s["cta"]["clicks"] == 1)
    click(bob, "#cta-card-x")
    wait_state(bob, lambda s: s["cta"]["shown"] is False)
    assert room_state(ann)["cta"]["shown"] is True
    no_horizontal_scroll(ann)
    shot(ann, "room-cta-phone-390x844.png")
    click(host, "#cta-close")
    until(ann, CARD, lambda c: c is None)
    wait_state(host, lambda s: s["cta"]["shown"] is False)
    # A new one for 2 seconds: Bob's "×" hid the last one only; it goes by itself, for the host too.
    type_in(host, "#cta-text", "Short offer")
    type_in(host, "#cta-seconds", "2")
    click(host, "#cta-show")
    for d in (ann, bob):
        assert until(d, CARD, bool)[0] == "Short offer"
    for d in everyone:
        wait_state(d, lambda s: s["cta"]["shown"] is False, timeout=6)
    # Every string of this feature is in English and in Russian.
    keys = host.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/static/i18n.js').then((m) => done(['en', 'ru'].map((l) => Object.keys(m.STRINGS[l])"
        ".filter((k) => /^(qa|cta)\\./.test(k)).sort())));"
    )
    assert keys[0] == keys[1] and len(keys[0]) > 40, keys
    for d in everyone:
        assert not errors(d), "console errors"
