"""The room page's polls and tests (R-INT-3, issue 16 item 9) in headless Chromium against a real `mediaserver
serve`: an event's test (single and multiple choice with correct answers) and poll (a short answer) are saved
through the API; the host's Polls tab lists them (``poll.list``) and launches the test; two attendees (one on
a 390x844 phone viewport) answer it in their Polls tab, which opens by itself; the host watches the live
results (bars with counts and percentages, the correct options marked), closes the test and shows the
results; the attendees see them, the correct options and their own score. Then the poll's short answer
reaches the host as text. One browser session per person; no console errors."""

from __future__ import annotations

import base64
import urllib.parse
import urllib.request
from typing import Any

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.api.test_polls import PNG
from tests.conftest import loopback_only_ice
from tests.e2e import browser
from tests.e2e.test_room_access import (
    Organiser,
    click,
    host_link,
    join_as,
    served,  # noqa: F401  (the server fixture, shared)
    shot,
    state,
    text,
    visible,
    wait,
)
from tests.e2e.test_room_page import errors, no_horizontal_scroll, viewport

loopback_only_ice()

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")

QUIZ = {
    "name": "Arithmetic quiz",
    "kind": "test",
    "questions": [
        {"text": "2 + 2?", "kind": "single", "options": [{"text": "3"}, {"text": "4", "correct": True}]},
        {
            "text": "Primes?",
            "kind": "multiple",
            "options": [{"text": "2", "correct": True}, {"text": "4"}, {"text": "5", "correct": True}],
        },
    ],
}
FEEDBACK = {
    "name": "Feedback",
    "kind": "poll",
    "questions": [{"text": "What did you like?", "kind": "short"}],
}


LOADED = "const i = document.querySelector('#poll-questions img'); return i.complete && i.naturalWidth;"


def upload_image(org: Organiser, name: str) -> int:
    """A PNG into the account's file library (tus, with the organiser's cookie); its file id."""
    meta = f"filename {base64.b64encode(name.encode()).decode()}"
    head = {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(PNG)), "Upload-Metadata": meta}
    req = urllib.request.Request(f"{org.base}/api/v1/uploads", data=b"", method="POST", headers=head)
    with org.opener.open(req, timeout=30) as r:
        assert r.status == 201
        location = urllib.parse.urljoin(org.base + "/", r.headers["Location"])
    send = {"Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}
    with org.opener.open(
        urllib.request.Request(location, data=PNG, method="PATCH", headers=send), timeout=30
    ) as r:
        assert r.status == 204
    files = org.call("GET", "/api/v1/files", None, 200)["items"]
    return int(next(f["id"] for f in files if f["name"] == name))


def texts(d: Any, css: str) -> list[str]:
    return js(d, "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent);", css)


def js(d: Any, script: str, *args: Any) -> Any:
    return d.execute_script(script, *args)


def tap(d: Any, css: str) -> None:
    """A real click (the element must be visible and not covered: usable on a phone)."""
    from selenium.webdriver.common.by import By

    d.find_element(By.CSS_SELECTOR, css).click()


def option_rows(d: Any, where: str) -> list[list[Any]]:
    """[question, option, text, counts, correct?] of each results bar under ``where``."""
    return js(
        d,
        """return [...document.querySelectorAll(arguments[0] + ' .poll-opt')].map((e) => [
             Number(e.closest('.poll-q').dataset.question), Number(e.dataset.option),
             e.querySelector('.poll-opt-text').textContent, e.querySelector('.poll-count').textContent,
             e.classList.contains('correct')]);""",
        where,
    )


def answer(d: Any, choices: dict[int, list[int]], real_clicks: bool) -> None:
    for q, opts in choices.items():
        for o in opts:
            css = f'#poll-questions input[name="poll-q-{q}"][value="{o}"]'
            tap(d, css) if real_clicks else click(d, css)


@pytest.mark.timeout(150)
def test_the_host_runs_a_test_and_a_poll_and_attendees_answer(served):  # noqa: F811
    org = Organiser(served)
    ev = org.event(name="Quiz talk")
    four = {"text": "4", "correct": True, "imageFileId": upload_image(org, "four.png")}  # an option's image
    body = {
        **QUIZ,
        "questions": [{**QUIZ["questions"][0], "options": [{"text": "3"}, four]}, QUIZ["questions"][1]],
    }
    quiz = org.call("POST", f"/api/v1/events/{ev['id']}/polls", body, 201)
    feedback = org.call("POST", f"/api/v1/events/{ev['id']}/polls", FEEDBACK, 201)
    q1, q2 = (q["id"] for q in quiz["questions"])
    [o3, o4], [p2, p4, p5] = ([o["id"] for o in q["options"]] for q in quiz["questions"])
    with browser.chromium() as host, browser.chromium() as ann, browser.chromium() as bob:
        viewport(host, 1280, 800)
        viewport(ann, 390, 844, phone=True)
        viewport(bob, 1280, 800)
        join_as(host, host_link(served, ev), "Olga", "host")
        join_as(ann, f"{served}/room/{ev['roomId']}", "Ann", "attendee")
        join_as(bob, f"{served}/room/{ev['roomId']}", "Bob", "attendee")
        assert not js(ann, "return !!document.querySelector('#interact-tabs [data-tab=polls]');")

        # The host's Polls tab lists the event's saved polls (poll.list) and launches the test.
        click(host, "#btn-chat")
        wait(host, lambda d: visible(d, "#interact-tabs [data-tab=polls]"), "the Polls tab")
        click(host, "#interact-tabs [data-tab=polls]")
        saved = wait(
            host,
            lambda d: js(
                d, "return [...document.querySelectorAll('#poll-saved li')].map((e) => e.textContent);"
            ),
            "the saved polls",
        )
        assert saved == [
            "Arithmetic quiz · test · 2 question(s)Launch",
            "Feedback · poll · 1 question(s)Launch",
        ], saved
        click(host, f"#poll-saved button[data-launch='{quiz['id']}']")
        wait(host, lambda d: visible(d, "#poll-live") and text(d, "#poll-live-name").endswith("open"), "live")
        assert js(host, "return document.querySelector('#poll-saved button').disabled;")  # one at a time

        # The attendees' Polls tab opens by itself with the form: radios, checkboxes.
        for d in (ann, bob):
            wait(d, lambda d: visible(d, "#poll-form"), "the poll form")
            assert text(d, "#poll-form-name") == "Arithmetic quiz"
            kinds = js(  # radios for the single choice, checkboxes for the multiple one
                d, "return [...document.querySelectorAll('#poll-questions input')].map((i) => i.type);"
            )
            assert kinds == ["radio", "radio", "checkbox", "checkbox", "checkbox"], kinds
            img = js(
                d, "const i = document.querySelector('#poll-questions img'); return i && [i.alt, i.src];"
            )
            assert img and img[0] == "4" and "/play/" in img[1], img
            wait(d, lambda d: js(d, LOADED) == 1, "the option's image loads")  # the 1x1 PNG, signed URL
        no_horizontal_scroll(ann)
        tap(ann, "#poll-submit")  # nothing chosen: asked to answer everything, nothing sent
        wait(ann, lambda d: text(d, "#poll-error") == "Answer every question first.", "the incomplete note")
        answer(ann, {q1: [o4], q2: [p2, p5]}, real_clicks=True)
        shot(ann, "room-poll-phone-390x844.png")
        tap(ann, "#poll-submit")
        answer(bob, {q1: [o3], q2: [p2]}, real_clicks=False)
        click(bob, "#poll-submit")
        for d, score in ((ann, "Your score: 2 of 2"), (bob, "Your score: 0 of 2")):
            wait(d, lambda d, s=score: visible(d, "#poll-thanks") and text(d, "#poll-score") == s, score)
            assert not visible(d, "#poll-form") and not visible(d, "#poll-results")
        # Bob reloads the page and joins again: answered, with his score (from the server's snapshot)
        join_as(bob, f"{served}/room/{ev['roomId']}", "Bob", "attendee")
        click(bob, "#btn-chat")
        wait(bob, lambda d: visible(d, "#interact-tabs [data-tab=polls]"), "the Polls tab")
        click(bob, "#interact-tabs [data-tab=polls]")
        wait(
            bob,
            lambda d: visible(d, "#poll-thanks") and text(d, "#poll-score") == "Your score: 0 of 2",
            "the score",
        )

        # Live results reach the host: counts and percentages per option, the correct ones marked.
        want = [
            [q1, o3, "3", "1 · 50%", False],
            [q1, o4, "✓ 4", "1 · 50%", True],
            [q2, p2, "✓ 2", "2 · 100%", True],
            [q2, p4, "4", "0 · 0%", False],
            [q2, p5, "✓ 5", "1 · 50%", True],
        ]
        wait(host, lambda d: option_rows(d, "#poll-live-results") == want, "the live results")
        assert text(host, "#poll-live-results .poll-respondents") == "2 answered"
        assert "Average score 1 of 2" in text(host, "#poll-live-results")
        shot(host, "room-poll-host-1280x800.png")

        # Closed and shown: the attendees see the results, the correct options and keep their score.
        click(host, "#poll-close")
        wait(
            host,
            lambda d: text(d, "#poll-live-name").endswith("closed") and not visible(d, "#poll-close"),
            "closed",
        )
        assert not visible(ann, "#poll-results")  # not shown yet
        click(host, "#poll-show")
        wait(host, lambda d: text(d, "#poll-show") == "Hide results", "the hide button")
        for d in (ann, bob):
            wait(d, lambda d: option_rows(d, "#poll-results-body") == want, "the shown results")
        assert text(ann, "#poll-score") == "Your score: 2 of 2"
        no_horizontal_scroll(ann)
        shot(ann, "room-poll-results-phone-390x844.png")

        # The poll with a short answer (a textarea of at most 500 characters) reaches the host as text.
        click(host, f"#poll-saved button[data-launch='{feedback['id']}']")
        wait(ann, lambda d: visible(d, "#poll-form") and text(d, "#poll-form-name") == "Feedback", "the poll")
        assert not visible(ann, "#poll-results") and not visible(ann, "#poll-thanks")
        box = '#poll-questions textarea[name="poll-q-1"]'
        assert js(ann, f"return document.querySelector('{box}').maxLength;") == 500
        from selenium.webdriver.common.by import By

        ann.find_element(By.CSS_SELECTOR, box).send_keys("<b>The</b> examples")
        tap(ann, "#poll-submit")
        wait(ann, lambda d: visible(d, "#poll-thanks") and not visible(d, "#poll-score"), "thanks, no score")
        shorts = wait(
            host,
            lambda d: js(
                d, "return [...document.querySelectorAll('#poll-short li')].map((e) => e.textContent);"
            ),
            "the short answer",
        )
        assert shorts == ["Ann: <b>The</b> examples"], shorts
        assert js(host, "return document.querySelectorAll('#poll-short li *').length;") == 1  # the name's <b>
        assert state(host)["polls"]["respondents"] == 1
        for d in (host, ann, bob):
            assert not errors(d), "console errors"
