"""The dashboard's polls and tests (R-INT-3: created "through the API (and the dashboard)", issue 16) in
Chromium against a real `mediaserver serve`: an organiser types a test (a single-choice question with a
correct option and a library image, a short answer, a multiple-choice question moved up), sees the server's
error for a question with one option, saves it, edits it (renamed, a question removed), and what the API
stored is exactly what was typed; attendees answer it in the room (the WebSocket) and the dashboard shows
the results, the scores and the CSV and XLSX exports. One browser session."""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.e2e import browser
from tests.e2e.test_dashboard import _wait, served  # noqa: F401  (the signed-up organiser's server)
from tests.e2e.test_room_access import shot
from tests.e2e.test_room_page import errors
from tests.e2e.test_room_polls import upload_image
from tests.signaling.client import Client

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


class Signed:
    """The signed-up organiser through the API, with a session cookie as the dashboard has."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.call(
            "POST", "/api/v1/session", {"email": "olga@example.test", "password": "correct horse battery"}
        )

    def call(self, method: str, path: str, body: Any = None, status: int | None = 200) -> Any:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with self.opener.open(req, timeout=30) as r:
                got, raw = r.status, r.read()
        except urllib.error.HTTPError as e:
            got, raw = e.code, e.read()
        assert status is None or got == status, (method, path, got, raw)
        return json.loads(raw) if raw else None


async def answer_in_the_room(base: str, host_token: str, ann_token: str, poll_id: int) -> dict[str, Any]:
    """The host launches the test, Ann answers it (all right), the host closes it: the close's summary."""
    async with aiohttp.ClientSession() as s:
        async with (
            s.ws_connect(base.replace("http", "ws") + "/ws") as h,
            s.ws_connect(base.replace("http", "ws") + "/ws") as a,
        ):
            host, ann = Client(h), Client(a)
            await host.ok("join", token=host_token)
            await ann.ok("join", token=ann_token)
            await host.ok("poll.launch", poll=poll_id)
            got = await ann.ok(
                "poll.answer",
                answers=[
                    {"question": 1, "options": [2]},
                    {"question": 2, "options": [1, 3]},
                    {"question": 3, "text": "paris"},
                ],
            )
            assert got["score"] == 4.0, got
            return await host.ok("poll.close")


@pytest.mark.timeout(90)
def test_an_organiser_writes_edits_and_reads_a_test_in_the_dashboard(served):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.ui import Select

    org = Signed(served)
    upload_image(org, "notes.pdf")  # not an image: the editor does not offer it
    image = upload_image(org, "four.png")  # type: ignore[arg-type]  (the same base, opener and call)
    ev = org.call("POST", "/api/v1/events", {"kind": "permanent", "name": "Maths class"}, 201)

    with browser.chromium() as d:
        find = d.find_element
        css = By.CSS_SELECTOR

        def q(n: int, sel: str) -> Any:  # an element of the editor's question n (from 1)
            return find(css, f"#poll-questions fieldset.poll-q:nth-of-type({n}) {sel}")

        def opt(n: int, m: int, sel: str) -> Any:
            return q(n, f".poll-opt:nth-of-type({m}) {sel}")

        def cells(row: str) -> list[str]:  # read by the page: the list may be drawn again meanwhile
            return list(
                d.execute_script(
                    "const r = document.querySelector(arguments[0]);"
                    "return r ? [...r.cells].map((c) => c.textContent) : [];",
                    row,
                )
            )

        def save_and_see(words: str) -> None:
            find(By.ID, "poll-save").click()
            _wait(lambda: words in find(By.ID, "polls-note").text or find(By.ID, "poll-error").text)
            assert words in find(By.ID, "polls-note").text, find(By.ID, "poll-error").text

        d.set_window_size(1280, 1000)
        d.get(served + "/dashboard")
        _wait(lambda: find(By.ID, "login-view").is_displayed())
        find(By.ID, "login-email").send_keys("olga@example.test")
        find(By.ID, "login-password").send_keys("correct horse battery")
        find(By.ID, "login-submit").click()
        _wait(lambda: "Maths class" in find(By.ID, "events").text)
        find(css, f"#events tr[data-id='{ev['id']}'] .act-polls").click()
        _wait(lambda: find(By.ID, "polls-note").text == "No polls or tests yet.")

        # A new test: the first question keeps one option, and the server's error shows next to the form.
        find(By.ID, "poll-new").click()
        _wait(lambda: find(By.ID, "poll-form").is_displayed())
        find(By.ID, "poll-name").send_keys("Quiz")
        Select(find(By.ID, "poll-kind")).select_by_value("test")
        q(1, ".q-text").send_keys("2 + 2?")
        opt(1, 1, ".o-text").send_keys("3")
        opt(1, 2, ".o-remove").click()
        find(By.ID, "poll-save").click()
        _wait(lambda: find(By.ID, "poll-error").text)
        assert find(By.ID, "poll-error").text == "question 1: a choice question has 2 to 20 options"

        # ... its second option again: "4", the correct one, with the library's image; 2 points.
        q(1, ".o-add").click()
        opt(1, 2, ".o-text").send_keys("4")
        opt(1, 2, ".o-correct").click()
        offered = [o.text for o in Select(opt(1, 2, ".o-image")).options]
        assert offered == ["No image", "four.png"], offered
        Select(opt(1, 2, ".o-image")).select_by_visible_text("four.png")
        _wait(lambda: d.execute_script("return arguments[0].naturalWidth;", opt(1, 2, "img")) == 1)
        q(1, ".q-points").clear()
        q(1, ".q-points").send_keys("2")
        # a short answer with its accepted answer, a multiple choice moved above it, and a spare question
        find(By.ID, "poll-add-question").click()
        q(2, ".q-text").send_keys("Capital of France?")
        Select(q(2, ".q-kind")).select_by_value("short")
        q(2, ".q-accepted").send_keys("Paris")
        find(By.ID, "poll-add-question").click()
        q(3, ".q-text").send_keys("Primes?")
        Select(q(3, ".q-kind")).select_by_value("multiple")
        opt(3, 1, ".o-text").send_keys("2")
        opt(3, 2, ".o-text").send_keys("4")
        q(3, ".o-add").click()
        opt(3, 3, ".o-text").send_keys("5")
        opt(3, 1, ".o-correct").click()
        opt(3, 3, ".o-correct").click()
        q(3, ".q-up").click()
        find(By.ID, "poll-add-question").click()
        q(4, ".q-text").send_keys("Anything else?")
        Select(q(4, ".q-kind")).select_by_value("short")
        shot(d, "dashboard-poll-editor.png")
        save_and_see('Saved "Quiz".')
        [saved] = org.call("GET", f"/api/v1/events/{ev['id']}/polls")["items"]
        assert [x["text"] for x in saved["questions"]] == [
            "2 + 2?",
            "Primes?",
            "Capital of France?",
            "Anything else?",
        ]
        row = f"#polls tr[data-id='{saved['id']}']"
        _wait(lambda: cells(row) == ["Quiz", "test", "4", "not launched", "Edit Results Delete "])

        # Edited: renamed, the spare question removed; the API has exactly what was typed.
        find(css, f"{row} .poll-edit").click()
        _wait(lambda: find(By.ID, "poll-form").is_displayed())
        assert find(By.ID, "poll-name").get_attribute("value") == "Quiz"
        assert opt(1, 2, ".o-correct").is_selected() and q(3, ".q-accepted").get_attribute("value") == "Paris"
        find(By.ID, "poll-name").clear()
        find(By.ID, "poll-name").send_keys("Arithmetic quiz")
        q(4, ".q-remove").click()
        save_and_see('Saved "Arithmetic quiz".')
        got = org.call("GET", f"/api/v1/events/{ev['id']}/polls/{saved['id']}")
        o = lambda i, text, correct, img=None: {"id": i, "text": text, "imageFileId": img, "correct": correct}  # noqa: E731
        assert got["name"] == "Arithmetic quiz" and got["kind"] == "test"
        assert got["questions"] == [
            {"id": 1, "text": "2 + 2?", "kind": "single", "points": 2, "accepted": [],
             "options": [o(1, "3", False), o(2, "4", True, image)]},
            {"id": 2, "text": "Primes?", "kind": "multiple", "points": 1, "accepted": [],
             "options": [o(1, "2", True), o(2, "4", False), o(3, "5", True)]},
            {"id": 3, "text": "Capital of France?", "kind": "short", "points": 1, "accepted": ["Paris"],
             "options": []},
        ], got["questions"]  # fmt: skip

        # Answered in the room; the dashboard shows the results, the score and the exports.
        start = org.call("POST", f"/api/v1/events/{ev['id']}/start")
        guest = urllib.request.Request(
            f"{served}/api/v1/rooms/{ev['roomId']}/join",
            data=json.dumps({"name": "Ann", "email": "ann@example.test"}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(guest, timeout=30) as r:
            ann = json.loads(r.read())["token"]
        closed = asyncio.run(answer_in_the_room(served, start["hostToken"], ann, saved["id"]))
        assert closed["respondents"] == 1, closed

        def results() -> str:
            find(css, f"#polls tr[data-id='{saved['id']}'] .poll-results").click()
            _wait(lambda: find(By.ID, "poll-results").is_displayed())
            return str(find(By.ID, "poll-launches").text)

        _wait(lambda: "1 answered, average score 4 of 4" in results())
        rows = d.execute_script(
            "return [...document.querySelectorAll('#poll-launches .result-opt')].map((e) => e.textContent);"
        )
        assert rows == ["3: 0", "✓ 4: 1", "✓ 2: 1", "4: 0", "✓ 5: 1"], rows
        assert "Capital of France? (1 answered)" in results()
        who = d.execute_script(
            "return [...document.querySelectorAll('#poll-answers tr')]"
            ".map((r) => [...r.cells].map((c) => c.textContent));"
        )
        assert [w[:2] + w[3:] for w in who] == [["Ann", "ann@example.test", "4 of 4"]], who
        links = [find(By.ID, f"poll-export-{x}").get_attribute("href") for x in ("csv", "xlsx")]
        assert links[0].endswith(f"/polls/{saved['id']}/export?format=csv") and links[1].endswith("=xlsx")
        csv, xlsx = d.execute_script(
            "return Promise.all([...document.querySelectorAll('#poll-results a')].map((a) => fetch(a.href)"
            ".then(async (r) => [r.status, r.headers.get('Content-Type'), await r.text()])));"
        )
        assert csv[0] == 200 and csv[1].startswith("text/csv") and "ann@example.test" in csv[2], csv
        assert "paris" in csv[2] and xlsx[0] == 200 and "spreadsheetml" in xlsx[1], xlsx[:2]
        assert cells(row)[3] == "1 (closed)"  # the list says it: launched once, closed
        shot(d, "dashboard-poll-results.png")
        # Opened again: the same (once the list is drawn anew).
        old = find(css, row)
        find(css, f"#events tr[data-id='{ev['id']}'] .act-polls").click()
        _wait(lambda: staleness_of(old)(d))
        _wait(lambda: cells(row)[:4] == ["Arithmetic quiz", "test", "3", "1 (closed)"])

        # Deleted (after the browser's confirmation) with its results.
        d.execute_script("window.confirm = () => true;")
        find(css, f"{row} .poll-delete").click()
        _wait(lambda: find(By.ID, "polls-note").text == "No polls or tests yet.")
        assert org.call("GET", f"/api/v1/events/{ev['id']}/polls")["total"] == 0
        allowed = ("status of 400", "/api/v1/me ", "favicon")  # the refused save, the signed-out start
        assert not errors(d, allow=allowed), "console errors"
