"""The organiser's plan and billing page and an on-demand event's viewers (issue 20: every API area has its
page; R-ACC-4, R-AUTO-2, R-STAT-1), in headless Chromium against a real `mediaserver serve`:

- a new account sees its free trial, when it ends and what it gives (GET /api/v1/billing); once the operator
  (the server's api_key) has moved it to a paid plan with an add-on, the page says so, in English and in
  Russian; the page offers no button that the server would refuse (plans are the operator's);
- an on-demand event's statistics list who watched its video and when, with the counts.

axe-core's rules and Tab over both sections, as in test_dashboard_account.py."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.api.conftest import smtp, text_of  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.api.test_on_demand import VIDEO
from tests.conftest import API_KEY, serve_mailing, signed_up
from tests.e2e import browser
from tests.e2e.test_dashboard import _wait
from tests.e2e.test_dashboard_polls import Signed
from tests.e2e.test_dashboard_timeline import checked
from tests.e2e.test_room_access import upload

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


@pytest.fixture
def served(tmp_path, smtp):  # noqa: F811
    """test_dashboard's signed-up organiser, on a server whose api_key the test holds (the operator's)."""
    smtp.messages.clear()
    with serve_mailing(tmp_path, smtp.port, MEDIASERVER_API_KEY=API_KEY) as base:
        signed_up(
            base,
            "olga@example.test",
            "correct horse battery",
            lambda: "".join(f"to {m['To']}\n{text_of(m)}\n" for m in list(smtp.messages)),
        )
        yield base


def operator(base: str, path: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    urllib.request.urlopen(req, timeout=30).close()


def rows(d: Any, body: str) -> dict[str, str]:
    """The key -> shown value of a billing table."""
    return dict(
        d.execute_script(
            "return [...document.querySelectorAll(arguments[0] + ' tr')]"
            ".map((r) => [r.dataset.key, r.cells[0].textContent]);",
            body,
        )
    )


@pytest.mark.timeout(120)
def test_the_plan_page_and_an_on_demand_events_viewers(served):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    org = Signed(served)
    account = org.call("GET", "/api/v1/me")["account"]["id"]
    video = upload(org, "launch.mp4", VIDEO)  # type: ignore[arg-type]  (the same base, opener and call)
    ev = org.call(
        "POST", "/api/v1/events", {"kind": "on_demand", "name": "Replay", "videoFileId": video["id"]}, 201
    )
    for name, email in (("Vera Viewer", "vera@example.test"), ("Petr P", "petr@example.test")):
        req = urllib.request.Request(
            f"{served}/api/v1/public/events/{ev['roomId']}/join",
            data=json.dumps({"name": name, "email": email}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            assert json.loads(r.read())["playback"]

    with browser.chromium() as d:
        find = d.find_element

        def text(el_id: str) -> str:
            return find(By.ID, el_id).text

        d.set_window_size(1280, 1000)
        d.get(served + "/dashboard")
        _wait(lambda: find(By.ID, "login-view").is_displayed())
        find(By.ID, "login-email").send_keys("olga@example.test")
        find(By.ID, "login-password").send_keys("correct horse battery")
        find(By.ID, "login-submit").click()
        _wait(lambda: find(By.ID, "app-view").is_displayed())

        # the trial: what it gives, and when it ends
        find(By.CSS_SELECTOR, ".dash-nav a[data-section='billing']").click()
        _wait(lambda: "Free trial" in text("billing-facts"))
        billing = org.call("GET", "/api/v1/billing")
        assert "Trial ends" in text("billing-facts"), text("billing-facts")
        shown = rows(d, "#billing-limits")
        assert shown["attendees"] == "Attendees in a webinar" and set(shown) == set(billing["limits"]), shown
        cell = find(By.CSS_SELECTOR, "#billing-limits tr[data-key='attendees'] td").text
        assert cell == f"{billing['limits']['attendees']:,}", cell
        assert find(By.ID, "billing-no-addons").is_displayed()
        assert not d.find_elements(By.CSS_SELECTOR, "#section-billing button")  # nothing the server refuses
        checked(d, "#section-billing")

        # the operator moves the account to Live, paid yearly, with an extra camera
        operator(
            served, f"/api/v1/admin/accounts/{account}/billing/plan", {"plan": "live", "period": "annual"}
        )
        operator(served, f"/api/v1/admin/accounts/{account}/billing/addons", {"addon": "extra_cameras"})
        d.refresh()
        _wait(lambda: "Live" in text("billing-facts"))
        billing = org.call("GET", "/api/v1/billing")
        assert "annual" in text("billing-facts") and "Trial" not in text("billing-facts")
        cell = find(By.CSS_SELECTOR, "#billing-limits tr[data-key='cameras'] td").text
        assert cell == str(billing["limits"]["cameras"]), (cell, billing["limits"])
        assert rows(d, "#billing-addons") == {"extra_cameras": "Extra cameras"}
        assert find(By.CSS_SELECTOR, "#billing-addons tr td").text == "1"
        Select(find(By.ID, "dash-lang")).select_by_value("ru")
        _wait(lambda: "Тариф" in text("billing-title"))
        _wait(lambda: "за год" in text("billing-facts"))
        assert find(By.CSS_SELECTOR, "#billing-limits tr[data-key='paid_webinars'] td").text == "да"
        Select(find(By.ID, "dash-lang")).select_by_value("en")

        # the on-demand event's viewers, in its statistics
        d.get(served + "/dashboard#statistics")
        _wait(lambda: d.find_elements(By.CSS_SELECTOR, f"#stats-event option[value='{ev['id']}']"))
        Select(find(By.ID, "stats-event")).select_by_value(str(ev["id"]))
        _wait(lambda: find(By.ID, "stats-viewers").is_displayed())
        _wait(lambda: "2 views by 2 people" in text("stats-viewers-note"))
        emails = [
            r.get_attribute("data-email") for r in d.find_elements(By.CSS_SELECTOR, "#stats-viewers-rows tr")
        ]
        assert sorted(emails) == ["petr@example.test", "vera@example.test"], emails
        checked(d, "#section-statistics")
