"""The statistics end to end (issue 20 item 5: R-STAT-1, R-STAT-2) in headless Chromium against a real
`mediaserver serve` behind a trusted proxy (its X-Forwarded-For set by each browser through the DevTools
protocol, so the country comes from a known registry's address): two attendees of a webinar, one on a
computer and one on a phone (an Android user agent with its client hints), join in the room page, answer
the host's poll, one asks a question, both leave at different times and rate the event on the screen they
leave to. The organiser's statistics section then shows the account's month as an SVG bar chart with its
numbers as a table, and the event's attendees with their times attended (within 2 s of what the test
measured), devices, countries, answers and ratings, the rating's average and distribution, and its CSV and
XLSX downloads say the same. axe-core's rules and Tab over the section. The host is a WebSocket client (the
signaling protocol), not a third browser."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import openpyxl
import pytest

from tests.api.conftest import smtp, text_of  # noqa: F401  (the real SMTP server fixture)
from tests.api.test_statistics import DE, RU
from tests.conftest import loopback_only_ice, serve_mailing, signed_up
from tests.e2e import browser
from tests.e2e.test_dashboard import _wait
from tests.e2e.test_dashboard_polls import Signed
from tests.e2e.test_dashboard_timeline import checked
from tests.e2e.test_room_access import click, join_as, shot, state, visible, wait
from tests.e2e.test_room_page import ANDROID_UA, emulate, errors, viewport

loopback_only_ice()

_why = browser.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}"),
    pytest.mark.alone,
]

POLL = {
    "name": "Topics",
    "kind": "poll",
    "questions": [
        {"text": "Which topic next?", "kind": "single", "options": [{"text": "Scaling"}, {"text": "Pricing"}]}
    ],
}  # fmt: skip


@pytest.fixture
def served(tmp_path, smtp):  # noqa: F811
    """A server that trusts a proxy on loopback (the browsers' X-Forwarded-For); an organiser signed up."""
    smtp.messages.clear()
    with serve_mailing(tmp_path, smtp.port, MEDIASERVER_TRUSTED_PROXIES="127.0.0.1") as base:
        signed_up(
            base,
            "olga@example.test",
            "correct horse battery",
            lambda: "".join(f"to {m['To']}\n{text_of(m)}\n" for m in list(smtp.messages)),
        )
        yield base


class Host:
    """The host over the WebSocket in a thread of its own that keeps reading (the server's heartbeat wants
    its pongs); ``ok`` sends a request and returns its result."""

    def __init__(self, base: str, token: str) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.waiting: dict[int, asyncio.Future[Any]] = {}
        self.n = 0
        self._run(self._open(base.replace("http", "ws") + "/ws"))
        self.ok("join", token=token)

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(20)

    async def _open(self, url: str) -> None:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url)
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.waiting:
                self.waiting.pop(data["id"]).set_result(data)

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        self.waiting[self.n] = self.loop.create_future()
        await self.ws.send_json({"id": self.n, "method": method, "params": params})
        got = await asyncio.wait_for(self.waiting[self.n], 10)
        assert "result" in got, got
        return dict(got["result"])

    def ok(self, method: str, **params: Any) -> dict[str, Any]:
        return dict(self._run(self._call(method, params)))

    def close(self) -> None:
        async def shut() -> None:
            await self.ws.close()
            await self.http.close()

        self._run(shut())
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def browsers() -> Iterator[tuple[Any, Any]]:
    with browser.chromium() as ann, browser.chromium() as bob:
        yield ann, bob


def from_proxy(d: Any, address: str) -> None:
    """Every request of this browser carries the proxy's X-Forwarded-For with ``address`` (the server
    trusts loopback as its proxy)."""
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Forwarded-For": address}})


def rate(d: Any, stars: int, comment: str) -> None:
    """On the screen an attendee leaves to: the stars and a comment, sent."""
    wait(d, lambda d: visible(d, "#left-rating form"), "the rating form")
    click(d, f"#left-rating input[type=radio][value='{stars}']")
    from selenium.webdriver.common.by import By

    d.find_element(By.CSS_SELECTOR, "#left-rating textarea").send_keys(comment)
    click(d, "#left-rating button[type=submit]")
    wait(d, lambda d: visible(d, "#left-rating .rating-done"), "rated")


def seconds(text: str) -> int:
    """m:ss or h:mm:ss as seconds."""
    total = 0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return total


@pytest.mark.timeout(90)
def test_two_attendees_stay_answer_ask_and_rate_and_the_organiser_sees_it(served, browsers):
    from selenium.webdriver.common.by import By

    ann, bob = browsers
    org = Signed(served)
    ev = org.call("POST", "/api/v1/events", {"kind": "permanent", "name": "Launch webinar"}, 201)
    poll = org.call("POST", f"/api/v1/events/{ev['id']}/polls", POLL, 201)
    [question] = poll["questions"]
    scaling, pricing = (o["id"] for o in question["options"])
    host = Host(served, org.call("POST", f"/api/v1/events/{ev['id']}/start")["hostToken"])
    try:
        viewport(ann, 1280, 900)
        emulate(bob, ANDROID_UA, mobile=True)  # a phone: its user agent and client hints
        from_proxy(ann, RU)
        from_proxy(bob, DE)
        room = f"{served}/room/{ev['roomId']}"
        joined = {}
        for d, name in ((ann, "Ann"), (bob, "Bob")):
            join_as(d, room, name, "attendee")
            joined[name] = time.time()
        host.ok("qa.open")
        host.ok("poll.launch", poll=poll["id"])
        for d, option in ((ann, scaling), (bob, pricing)):
            wait(d, lambda d: visible(d, "#poll-form"), "the poll form")
            click(d, f'#poll-questions input[name="poll-q-{question["id"]}"][value="{option}"]')
            click(d, "#poll-submit")
            wait(d, lambda d: visible(d, "#poll-thanks"), "the answer taken")
        host.ok("poll.close")
        # Bob asks in the Q&A tab
        if bob.execute_script("return document.querySelector('#panel-interact').hidden;"):
            click(bob, "#btn-chat")
        wait(bob, lambda d: visible(d, "#interact-tabs button[data-tab='qa']"), "the Q&A tab")
        click(bob, "#interact-tabs button[data-tab='qa']")
        bob.find_element(By.CSS_SELECTOR, "#qa-text").send_keys("Is there a recording?")
        click(bob, "#qa-send")
        wait(
            bob,
            lambda d: (
                len(state(d).get("qa", {}).get("questions") or []) == 1 or visible(d, "#qa-list .question")
            ),
            "asked",
        )
        # Ann leaves first (after 5 s), Bob 5 s later; each rates on the screen they leave to
        time.sleep(max(0.0, joined["Ann"] + 5 - time.time()))
        click(ann, "#btn-leave")
        left = {"Ann": time.time()}
        rate(ann, 4, "Good pace")
        time.sleep(max(0.0, left["Ann"] + 5 - time.time()))
        click(bob, "#btn-leave")
        left["Bob"] = time.time()
        rate(bob, 5, "")
        stay = {k: left[k] - joined[k] for k in left}
    finally:
        host.close()

    # ---- the organiser's statistics section (in Ann's browser, now a computer's again)
    d = ann
    d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})
    d.get(served + "/dashboard")
    find = d.find_element
    _wait(lambda: find(By.ID, "login-view").is_displayed())
    find(By.ID, "login-email").send_keys("olga@example.test")
    find(By.ID, "login-password").send_keys("correct horse battery")
    find(By.ID, "login-submit").click()
    _wait(lambda: "Launch webinar" in find(By.ID, "events").text)
    find(By.CSS_SELECTOR, f"#events tr[data-id='{ev['id']}'] .act-statistics").click()
    _wait(lambda: find(By.ID, "stats-event-view").is_displayed() and find(By.ID, "stats-attendees").text)
    assert d.execute_script("return location.hash;") == "#statistics"
    assert find(By.ID, "stats-event").get_attribute("value") == str(ev["id"])

    # the account: this month has one webinar, drawn as a bar and said in the chart's table
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    assert find(By.ID, "stats-to").get_attribute("value") == month
    chart = d.execute_script(
        "const f = document.querySelector('#stats-charts .stats-months');"
        "const bars = [...f.querySelectorAll('svg g.bar')];"
        "const last = bars[bars.length - 1];"
        "return {n: bars.length, parts: [...last.querySelectorAll('rect')]"
        " .map((r) => [r.getAttribute('class'), r.getAttribute('data-value')]), name: f.querySelector('svg')"
        ".getAttribute('aria-labelledby'),"
        " title: f.querySelector('svg title').textContent, rows: [...f.querySelectorAll('table tbody tr')]"
        ".slice(-1).map((r) => [...r.cells].map((c) => c.textContent))};"
    )
    assert chart["n"] == 12 and chart["parts"] == [["part webinars", "1"]], chart
    assert chart["title"] == "Events per month: meetings and webinars" and chart["name"], chart
    assert chart["rows"][0][1:] == ["0", "1"], chart
    facts = find(By.ID, "stats-facts").text
    assert "Webinars\n1" in facts and "Attendees\n2" in facts, facts

    # the event: each attendee's row
    rows = {
        r[1]: r
        for r in d.execute_script(
            "return [...document.querySelectorAll('#stats-attendees tr')]"
            ".map((r) => [...r.cells].map((c) => c.textContent));"
        )
    }
    a, b = rows["ann@example.test"], rows["bob@example.test"]
    assert abs(seconds(a[4]) - stay["Ann"]) <= 2 and abs(seconds(b[4]) - stay["Bob"]) <= 2, (a, b, stay)
    assert seconds(b[4]) >= seconds(a[4]) + 3
    assert (a[7], a[8], a[9]) == ("computer", "RU", "4 ★ “Good pace”"), a
    assert (b[7], b[8], b[9]) == ("phone", "DE", "5 ★"), b
    assert b[6] == "Android 14" and (a[10], b[10]) == ("0", "1"), (a, b)
    answers = d.execute_script(
        "return [...document.querySelectorAll('#stats-answers tr')]"
        ".map((r) => [...r.cells].map((c) => c.textContent));"
    )
    assert sorted(answers) == [
        ["Ann", "Topics", "Which topic next?: Scaling", ""],
        ["Bob", "Topics", "Which topic next?: Pricing", ""],
    ], answers
    picked = _wait(
        lambda: d.execute_script(
            "const f = document.querySelector('#stats-poll-charts .stats-poll');"
            "return f && [f.querySelector('svg title').textContent,"
            " [...f.querySelectorAll('tbody tr')].map((r) => [...r.cells].map((c) => c.textContent))];"
        )
    )
    assert picked == ["Topics: Which topic next?", [["Scaling", "1"], ["Pricing", "1"]]], picked
    efacts = find(By.ID, "stats-event-facts").text
    assert "4.5 of 5 (2 ratings)" in efacts and "Questions\n1" in efacts, efacts
    stars = d.execute_script(
        "return [...document.querySelectorAll('#stats-event-charts .stats-rating tbody tr')]"
        ".map((r) => r.cells[1].textContent);"
    )
    assert stars == ["0", "0", "0", "1", "1"], stars
    checked(d, "#section-statistics")
    shot(d, "dashboard-statistics.png")
    d.execute_script("document.getElementById('stats-event-title').scrollIntoView();")
    shot(d, "dashboard-statistics-event.png")
    # on a phone's width the page does not scroll sideways (charts and tables scroll in their own box)
    viewport(d, 360, 740)
    wide = browser.poll(
        lambda: d.execute_script("return document.documentElement.scrollWidth - innerWidth;"),
        lambda v: v <= 0,
        5,
    )
    assert wide <= 0, wide
    shot(d, "dashboard-statistics-phone.png")
    assert d.execute_script("return innerWidth;") == 360
    viewport(d, 1280, 900)

    # the downloads say the same
    got = d.execute_script(
        "return Promise.all(['stats-csv', 'stats-xlsx'].map((id) => fetch(document.getElementById(id).href)"
        ".then(async (r) => [r.status, r.headers.get('Content-Type'),"
        " btoa(String.fromCharCode(...new Uint8Array(await r.arrayBuffer())))])));"
    )
    import base64

    (cs, ctype, cbody), (xs, xtype, xbody) = got
    assert cs == 200 and ctype.startswith("text/csv") and xs == 200 and "spreadsheetml" in xtype
    table = list(csv.reader(io.StringIO(base64.b64decode(cbody).decode("utf-8-sig"))))
    sheet = openpyxl.load_workbook(io.BytesIO(base64.b64decode(xbody))).active
    book = [[c if c is not None else "" for c in r] for r in sheet.iter_rows(values_only=True)]
    for rows_ in (table, book):
        head = list(rows_[0])
        by = {r[head.index("email")]: r for r in rows_[1:]}
        for who, email, device, country, rating in (
            ("Ann", "ann@example.test", "desktop", "RU", 4),
            ("Bob", "bob@example.test", "phone", "DE", 5),
        ):
            r = by[email]
            assert abs(int(r[head.index("seconds attended")]) - stay[who]) <= 2, (r, stay)
            assert (r[head.index("device")], r[head.index("country")]) == (device, country), r
            assert int(r[head.index("rating")]) == rating, r
            answer = "Scaling" if who == "Ann" else "Pricing"
            assert r[head.index("poll answers")] == f"Topics: Which topic next?: {answer}", r
    # in Russian: the section, the chart's title and the devices in words of the page's language
    from selenium.webdriver.support.ui import Select

    Select(find(By.ID, "dash-lang")).select_by_value("ru")
    _wait(lambda: find(By.ID, "stats-title").text == "Статистика")
    _wait(lambda: "телефон" in find(By.ID, "stats-attendees").text)
    title = d.execute_script(
        "return document.querySelector('#stats-charts .stats-months svg title').textContent;"
    )
    assert title == "Мероприятия по месяцам: встречи и вебинары", title
    assert not errors(d, allow=("/api/v1/me ", "favicon")), "console errors"
