"""The room page's interaction panel in headless Chromium (issue 16 item 9: chat R-INT-1, raised hands
R-ROOM-3, reactions), against the installed server: one host and two attendees of a webinar, one of them on a
390x844 phone viewport. One browser session per person does every check, so the whole scenario is one test."""

from __future__ import annotations

from collections.abc import Callable
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
    room_stats,
    self_id,
    shot,
    until,
    viewport,
    wait_state,
)

loopback_only_ice()

_why = browser.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}"),
    pytest.mark.alone,
]


@pytest.fixture(scope="module")
def base(server_process) -> str:
    url = server_process["base_url"]
    status, _ = http("GET", f"{url}/static/room/chat.js")
    assert status == 200, status
    return url


def js(driver: Any, script: str, *args: Any) -> Any:
    return driver.execute_script(script, *args)


def chat_texts(driver: Any) -> list[str]:
    return js(driver, "return [...document.querySelectorAll('#chat-list .text')].map((e) => e.textContent);")


def type_and_enter(driver: Any, *keys: str) -> None:
    """Keys typed into the composer, then Enter (which sends)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, "#chat-text")
    box.send_keys(*keys, Keys.ENTER)


def wait_texts(driver: Any, pred: Callable[[list[str]], bool], timeout: float = 10) -> list[str]:
    got = browser.poll(lambda: chat_texts(driver), pred, timeout)
    assert pred(got), got
    return got


@pytest.mark.timeout(120)
def test_chat_hands_and_reactions_with_a_host_and_two_attendees(base, browsers):  # noqa: F811 (the imported fixture)
    from selenium.webdriver.common.keys import Keys

    room = create_room(base, type="webinar", name="Interaction")
    host, ann, bob = browsers(), browsers(), browsers()
    viewport(host, 1280, 800)
    viewport(ann, 390, 844, phone=True)
    viewport(bob, 1280, 800)
    host.get(f"{base}{room['hostUrl']}&name=Hal&email=hal@example.org&autojoin=1")
    wait_state(host, lambda s: s.get("screen") == "room" and s.get("publishing"))
    for d, name in ((ann, "Ann"), (bob, "Bob")):
        d.get(f"{base}/room/{room['id']}?name={name}&email={name.lower()}@example.org&autojoin=1")
        wait_state(d, lambda s: s.get("screen") == "room" and s.get("role") == "attendee")
    # Attendees get no Hands tab or queue: their button raises a hand; no tab strip for a single tab.
    assert js(ann, "return document.querySelector('#btn-hand-label').textContent;") == "Raise hand"

    # A public message with a link, markup and another scheme; Shift+Enter is a new line, Enter sends.
    click(host, "#btn-chat")
    assert js(host, "return !document.querySelector('#interact-tabs').hidden;")  # Chat and Raised hands
    type_and_enter(
        host,
        "See https://example.org/a?b=1.",
        Keys.SHIFT,
        Keys.ENTER,
        Keys.NULL,
        "<b>x</b> javascript:alert(1) <img src=x onerror=alert(2)>",
    )
    link = "https://example.org/a?b=1"
    wanted = "See https://example.org/a?b=1.\n<b>x</b> javascript:alert(1) <img src=x onerror=alert(2)>"
    for d in (host, ann, bob):
        wait_texts(d, lambda t: t == [wanted])
    msg = js(
        ann,
        """const text = document.querySelector('#chat-list .chat-msg .text');
        const links = [...text.querySelectorAll('a')];
        return {links: links.map((a) => [a.getAttribute('href'), a.textContent, a.target, a.rel]),
                elements: [...text.querySelectorAll('*')].map((e) => e.tagName),
                role: document.querySelector('#chat-list .chat-msg .role').textContent,
                name: document.querySelector('#chat-list .chat-msg .name').textContent};""",
    )
    assert msg == {
        "links": [[link, link, "_blank", "noopener noreferrer nofollow"]],
        "elements": ["A"],
        "role": "Host",
        "name": "Hal",
    }, msg
    # The unread badge: the attendees' panels are closed.
    st = wait_state(ann, lambda s: s["chat"]["unread"] == 1)
    assert js(ann, "return document.querySelector('#chat-unread').textContent;") == "1", st
    assert room_state(host)["chat"]["unread"] == 0
    click(ann, "#btn-chat")
    st = wait_state(ann, lambda s: s["chat"]["unread"] == 0 and s["tab"] == "chat")
    assert js(ann, "return document.querySelector('#chat-unread').hidden;")
    assert js(ann, "return document.querySelector('#interact-tabs').hidden;")  # one tab: no strip

    # A private message to the staff, and the host's private reply: Bob sees neither.
    js(ann, "document.querySelector('#chat-to').value = 'staff';")
    type_and_enter(ann, "A private question")
    wait_texts(host, lambda t: "A private question" in t)
    mark = js(host, "return document.querySelector('#chat-list .private .private-mark').textContent;")
    assert mark == "🔒 privately to the host and presenters", mark
    click(host, "#chat-list .chat-msg.private button[data-chat-act=reply]")
    assert js(host, "return document.querySelector('#chat-reply-name').textContent;") == "Ann"
    type_and_enter(host, "A private answer")
    got = wait_texts(ann, lambda t: "A private answer" in t)
    assert got == [wanted, "A private question", "A private answer"], got
    assert "🔒 privately to you" in js(ann, "return document.querySelector('#chat-list').textContent;")
    wait_state(bob, lambda s: s["chat"]["unread"] == 1)
    assert chat_texts(bob) == [wanted]

    # The host turns the chat off: the attendees are told and cannot write; on again.
    click(host, "#chat-toggle")
    for d in (ann, bob):
        wait_state(d, lambda s: s["chat"]["enabled"] is False)
    off = js(
        ann,
        "const off = document.querySelector('#chat-off');"
        "return [!off.hidden, document.querySelector('#chat-text').disabled, off.textContent];",
    )
    assert off == [True, True, "The host turned the chat off."], off
    click(host, "#chat-toggle")
    wait_state(ann, lambda s: s["chat"]["enabled"] is True)
    assert not js(ann, "return document.querySelector('#chat-text').disabled;")

    # A flood: the server refuses the sixth message at once, and the page says so in words.
    click(bob, "#btn-chat")
    js(
        bob,
        """const box = document.querySelector('#chat-text'), form = document.querySelector('#chat-form');
        for (let i = 1; i <= 7; i++) { box.value = `flood ${i}`; form.requestSubmit(); }""",
    )
    st = wait_state(bob, lambda s: s["chat"]["error"] == "rate_limited")
    assert js(bob, "return document.querySelector('#chat-error').textContent;") == (
        "You are sending messages too fast: wait a moment and send again."
    )
    got = wait_texts(ann, lambda t: "flood 1" in t and "flood 5" in t)
    assert "flood 7" not in got, got  # the budget: 5 at once, then one a second

    # The host deletes a message: gone for everyone, the others stay.
    wait_texts(host, lambda t: "flood 5" in t)
    mid = js(
        host,
        "return [...document.querySelectorAll('#chat-list .chat-msg')]"
        ".find((li) => li.querySelector('.text').textContent === 'flood 3').dataset.id;",
    )
    click(host, f"#chat-list .chat-msg[data-id='{mid}'] button[data-chat-act=delete]")
    for d in (host, ann, bob):
        wait_texts(d, lambda t: "flood 3" not in t and "flood 2" in t and "flood 4" in t)
        assert not js(d, "return !!document.querySelector(`.chat-msg[data-id='${arguments[0]}']`);", mid)

    # The host silences Bob from the people list: his composer closes, Ann's stays open.
    bob_id, ann_id = self_id(bob), self_id(ann)
    silence = f"#people-list [data-chat-act=silence][data-pid='{bob_id}']"
    click(host, "#btn-people")
    browser.poll(
        lambda: js(host, "return !!document.querySelector(arguments[0]);", silence),
        bool,
        10,
    )
    click(host, silence)
    wait_state(bob, lambda s: s["chat"]["silenced"] is True)
    assert js(bob, "return document.querySelector('#chat-text').disabled;")
    assert room_state(ann)["chat"]["silenced"] is False

    # Ann, then Bob raise their hands: Bob is second, and first once Ann lowers hers; the host sees the count
    # and gives him the floor from the queue.
    click(ann, "#btn-hand")
    wait_state(ann, lambda s: s["hand"] == {"raised": True, "position": 1})
    click(bob, "#btn-hand")
    wait_state(bob, lambda s: s["hand"] == {"raised": True, "position": 2})
    assert js(bob, "return document.querySelector('#hand-badge').textContent;") == "#2"
    click(ann, "#btn-hand")
    wait_state(ann, lambda s: s["hand"] == {"raised": False, "position": None})
    st = wait_state(bob, lambda s: s["hand"] == {"raised": True, "position": 1})
    assert js(bob, "return document.querySelector('#hand-badge').textContent;") == "#1"
    wait_state(host, lambda s: s["hands"]["queue"] == 1)
    assert js(host, "return document.querySelector('#hand-badge').textContent;") == "1"
    assert "✋ Bob" in js(host, "return document.querySelector('#people-list').textContent;")
    click(host, "#btn-hand")
    wait_state(host, lambda s: s["tab"] == "hands")
    assert js(host, "return document.querySelector('#hands-list').textContent;").startswith("✋Bob")
    click(host, f"#hands-list button[data-hand-act=grant][data-id='{bob_id}']")
    wait_state(bob, lambda s: s.get("publishing") is True and s["hand"]["raised"] is False)
    wait_state(host, lambda s: s["hands"]["queue"] == 0)
    got = browser.poll(lambda: room_stats(host), lambda s: s.get("framesDecoded", 0) > 20, 20)
    assert got.get("framesDecoded", 0) > 20, got

    # Reactions: Ann claps, everyone sees it float over the stage.
    click(ann, "#btn-react")
    click(ann, "#react-menu button[data-emoji='👏']")
    for d in (host, ann, bob):
        r = wait_state(d, lambda s: s["reactions"]["counts"].get("👏", 0) >= 1)["reactions"]
        assert r["bubbles"] >= 1 and r["events"] >= 1, r
    # 5,000 claps in one event (and events and notifications this page does not know): a few bubbles only.
    before = room_state(ann)["reactions"]["bubbles"]
    js(
        ann,
        """window.roomClient._onMessage({method: 'interaction', params: {events: [
             {kind: 'reactions', counts: {'👏': 5000, '🎉': 2}}, {kind: 'pollLaunched', poll: {id: 'p1'}}]}});
           window.roomClient._onMessage({method: 'somethingNew', params: {x: 1}});""",
    )
    st = room_state(ann)
    assert st["reactions"]["bubbles"] - before == 5 and st["reactions"]["live"] <= 24, st["reactions"]
    labels = js(ann, "return [...document.querySelectorAll('.float-emoji small')].map((e) => e.textContent);")
    assert labels.count("×5000") == 1, labels
    # ... and the page goes on working. The composer counts characters (as the server does) near the limit.
    click(ann, "#chat-list")  # a click elsewhere closes the reactions' row
    assert js(ann, "return document.querySelector('#react-menu').hidden;")
    counter = js(
        ann,
        """const box = document.querySelector('#chat-text'), out = [];
        for (const n of [10, 1990, 2001]) {
          box.value = '😀'.repeat(n); box.dispatchEvent(new Event('input'));
          const c = document.querySelector('#chat-count');
          out.push([c.hidden ? null : c.textContent, document.querySelector('#chat-send').disabled]);
        }
        box.value = ''; box.dispatchEvent(new Event('input'));
        return out;""",
    )
    assert counter == [[None, False], ["1990 / 2000", False], ["2001 / 2000", True]], counter
    js(ann, "document.querySelector('#chat-to').value = '';")
    type_and_enter(ann, "Still here")
    wait_texts(host, lambda t: "Still here" in t)

    # Issue 17 (R-INT-5): the host makes Bob a presenter from the people list; Ann, on a phone, is refused.
    click(host, "#btn-people")
    make = "#people-list button[data-act=setRole][data-id='{}']"
    until(host, f"return !!document.querySelector(`{make.format(ann_id)}`);", bool)
    click(host, make.format(ann_id))
    until(
        host,
        "return document.querySelector('#toast').textContent;",
        lambda t: t == "A participant on a phone or tablet cannot be made a presenter.",
    )
    click(host, make.format(bob_id))
    wait_state(bob, lambda s: s["role"] == "presenter" and s.get("publishing") is True)
    assert js(bob, "return document.querySelector('#toast').textContent;") == "The host made you a presenter."
    until(
        host,
        f"return document.querySelector(`{make.format(bob_id)}`).textContent;",
        lambda t: t == "Make attendee",
    )
    click(host, make.format(bob_id))
    wait_state(bob, lambda s: s["role"] == "attendee" and s.get("publishing") is False)

    # The phone: the panel takes the whole width, nothing scrolls sideways.
    box = js(ann, "const r = document.querySelector('#side').getBoundingClientRect(); return [r.x, r.width];")
    assert box == [0, 390], box
    no_horizontal_scroll(ann)
    shot(ann, "room-chat-phone-390x844.png")
    shot(host, "room-chat-host-1280x800.png")
    for d in (host, ann, bob):
        assert not errors(d), "console errors"
    assert ann_id != bob_id
