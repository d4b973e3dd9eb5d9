"""The organisers' dashboard in headless Chromium against a real `mediaserver serve` with a real SMTP server:
sign in, plan an event, invite, see the history (issue 7, part 8)."""

from __future__ import annotations

import time

import pytest

from tests.api.conftest import smtp, text_of  # noqa: F401  (the real SMTP server fixture)
from tests.conftest import serve_mailing, signed_up
from tests.e2e import browser

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


@pytest.fixture
def served(tmp_path, smtp):  # noqa: F811
    smtp.messages.clear()
    with serve_mailing(tmp_path, smtp.port) as base:
        # sign up, and follow the e-mailed link that sets the password (issue 14 finding 22)
        signed_up(
            base,
            "olga@example.test",
            "correct horse battery",
            lambda: "".join(f"to {m['To']}\n{text_of(m)}\n" for m in list(smtp.messages)),
        )
        smtp.messages.clear()
        yield base


def _wait(fn, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_sign_in_plan_invite_and_history(served, smtp):  # noqa: F811
    from selenium.webdriver.common.by import By

    with browser.chromium() as d:
        d.get(served + "/dashboard")
        _wait(lambda: d.find_element(By.ID, "login-view").is_displayed())
        d.find_element(By.ID, "login-email").send_keys("olga@example.test")
        d.find_element(By.ID, "login-password").send_keys("wrong password")
        d.find_element(By.ID, "login-submit").click()
        _wait(lambda: "wrong" in d.find_element(By.ID, "login-error").text)
        d.find_element(By.ID, "login-password").clear()
        d.find_element(By.ID, "login-password").send_keys("correct horse battery")
        d.find_element(By.ID, "login-submit").click()
        _wait(lambda: d.find_element(By.ID, "app-view").is_displayed())
        assert "Olga" in d.find_element(By.ID, "who").text

        # plan a permanent event and an instant one
        for name, kind in (("Weekly sync", "permanent"), ("Quick call", "instant")):
            d.find_element(By.ID, "event-name").send_keys(name)
            d.find_element(By.CSS_SELECTOR, f"#event-kind option[value='{kind}']").click()
            d.find_element(By.ID, "event-submit").click()
            _wait(lambda name=name: name in d.find_element(By.ID, "events").text)
        rows = {
            r.find_elements(By.TAG_NAME, "td")[0].text: r
            for r in d.find_elements(By.CSS_SELECTOR, "#events tr")
        }
        assert "live" in rows["Quick call"].text and "planned" in rows["Weekly sync"].text

        # invite two people to the permanent event: real e-mails leave through SMTP
        rows["Weekly sync"].find_element(By.CLASS_NAME, "act-invite").click()
        d.find_element(By.ID, "invite-emails").send_keys("ann@example.test, bob@example.test")
        d.find_element(By.ID, "invite-submit").click()
        _wait(lambda: "Sent 2" in d.find_element(By.ID, "invite-result").text)
        _wait(lambda: len(smtp.to("ann@example.test")) == 1 and len(smtp.to("bob@example.test")) == 1)
        room_id = rows["Weekly sync"].find_elements(By.TAG_NAME, "td")[3].text
        assert room_id in smtp.to("ann@example.test")[0].get_body(preferencelist=("plain",)).get_content()

        # end the live one: it goes to the history
        rows["Quick call"].find_element(By.CLASS_NAME, "act-end").click()
        _wait(lambda: "Quick call" in d.find_element(By.ID, "history").text)
        _wait(lambda: "Quick call" not in d.find_element(By.ID, "events").text)

        # issue 16 (R-INT-1): the session's chat downloads from the history, with the signed-in cookie
        link = d.find_element(By.CSS_SELECTOR, "#history a.chat-csv")
        assert "/sessions/" in link.get_attribute("href") and link.get_attribute("href").endswith("/chat.csv")
        got = d.execute_script(
            "const a = document.querySelectorAll('#history a'); return Promise.all([...a].map((x) => "
            "fetch(x.href).then((r) => [r.status, r.headers.get('Content-Type')])));"
        )
        assert [g[0] for g in got] == [200, 200, 200, 200], got  # the chat's and the Q&A list's
        assert got[0][1].startswith("text/csv") and "spreadsheetml" in got[1][1], got
        assert got[2][1].startswith("text/csv") and "spreadsheetml" in got[3][1], got
        q = d.find_element(By.CSS_SELECTOR, "#history a.questions-csv").get_attribute("href")
        assert q.endswith("/questions.csv"), q
        assert d.find_element(By.CSS_SELECTOR, "#history tr td:nth-child(5)").text == "0"  # CTA clicks
