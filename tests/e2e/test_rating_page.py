"""The rating page of the thank-you e-mail's link (R-STAT-1, R-STAT-3) in headless Chromium against a real
`mediaserver serve`: the page in Russian (?lang=ru) asks for a rating first, takes 4 stars and a comment with
its form (labelled controls, the stars reached by keyboard), and the event's statistics show the rating; a
page without a token says where the link is. The room page's thank-you screens use the same form
(rating.js)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.conftest import mail_spool, serve, signed_up
from tests.e2e import browser

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


def _call(base: str, method: str, path: str, body: object = None, cookie: str = "") -> dict:
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json", **({"Cookie": cookie} if cookie else {})},
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        got: dict = json.loads(r.read())
        return got


def test_an_attendee_rates_the_event_from_the_e_mails_link(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    with serve(tmp_path) as (base, _proc, log):
        cookie = signed_up(
            base, "olga@example.test", "correct horse battery", mail_spool(log.parent / "data")
        )
        ev = _call(base, "POST", "/api/v1/events", {"kind": "permanent", "name": "Rated"}, cookie)
        joined = _call(
            base, "POST", f"/api/v1/rooms/{ev['roomId']}/join", {"name": "Ann", "email": "a@e.test"}
        )
        with browser.chromium() as d:
            d.get(f"{base}/rate?lang=ru")
            missing = browser.poll(
                lambda: d.find_element(By.ID, "rate-missing"), lambda e: e.is_displayed(), 10
            )
            assert "письма" in missing.text and not d.find_element(By.ID, "rate-form").is_displayed()
            d.get(f"{base}/rate?lang=ru#{joined['ratingToken']}")
            d.refresh()  # a new fragment alone does not load the page again
            form = browser.poll(lambda: d.find_elements(By.CSS_SELECTOR, "#rate-form form"), bool, 10)[0]
            assert d.find_element(By.TAG_NAME, "h1").text == "Оцените мероприятие"
            assert form.find_element(By.TAG_NAME, "legend").text.startswith("Как прошло мероприятие?")
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            status = form.find_element(By.CSS_SELECTOR, ".rating-status")
            assert browser.poll(lambda: status.text, bool, 5) == "Сначала выберите оценку от 1 до 5."
            # keyboard: the first star has the focus; the arrow keys move along the group to 4
            first = d.switch_to.active_element
            assert first.get_attribute("value") == "1"
            for _ in range(3):
                d.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
            assert d.switch_to.active_element.get_attribute("value") == "4"
            comment = form.find_element(By.TAG_NAME, "textarea")
            label = d.find_element(By.CSS_SELECTOR, f"label[for='{comment.get_attribute('id')}']")
            assert label.text == "Комментарий (необязательно)"
            comment.send_keys("Полезно, спасибо")
            form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
            done = browser.poll(lambda: d.find_elements(By.CSS_SELECTOR, ".rating-done"), bool, 10)[0]
            assert done.text == "Спасибо за оценку!"
        stats = _call(base, "GET", f"/api/v1/events/{ev['id']}/statistics", cookie=cookie)
        [ann] = stats["attendees"]
        assert (ann["rating"], ann["comment"], stats["totals"]["averageRating"]) == (
            4,
            "Полезно, спасибо",
            4.0,
        )
