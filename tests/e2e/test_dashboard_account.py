"""The organiser's web app, account side (issue 20 item 1), in headless Chromium against a real `mediaserver
serve` with a real SMTP server (aiosmtpd) and a real webhook receiver on loopback, as a new user goes
through it in one browser session: sign up, the verification mail, activation, settings saved and seen
again after a reload (and the page in Russian), an API key made and revoked, a webhook made and its delivery
log, a password reset, and a sub-account created and logged into. Each section is checked with axe-core
(vendored: signaling/static/vendor/axe-core) for the "label", "button-name" and "link-name" rules, and every
control of it must be reachable with Tab."""

from __future__ import annotations

import json
import re
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mediaserver.outbox import webhooks
from tests.api.conftest import smtp, text_of  # noqa: F401  (the real SMTP server fixture)
from tests.conftest import API_KEY, serve_mailing
from tests.e2e import browser
from tests.e2e.test_dashboard import _wait
from tests.e2e.test_room_access import shot
from tests.e2e.test_room_page import errors

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")

AXE = Path(__file__).resolve().parents[2] / "signaling" / "static" / "vendor" / "axe-core" / "axe.min.js"
RULES = ["label", "button-name", "link-name"]
EMAIL = "nadia@example.test"
FIRST, SECOND = "correct horse battery", "staple paper clip tree"


@pytest.fixture
def hooks() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on loopback: (its URL, the JSON bodies it got)."""
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


def _link(smtp: Any, kind: str, count: int) -> str:  # noqa: F811
    """The link of the count-th mail to EMAIL that carries #kind=<token>."""
    _wait(lambda: len(smtp.to(EMAIL)) >= count)
    found = re.search(rf"(http://\S+/dashboard#{kind}=[\w.-]+)", text_of(smtp.to(EMAIL)[count - 1]))
    assert found, text_of(smtp.to(EMAIL)[count - 1])
    return found.group(1)


def _operator(base: str, path: str, body: dict[str, Any]) -> None:
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {API_KEY}"},
    )
    urllib.request.urlopen(req, timeout=30).close()


@pytest.mark.timeout(150)
def test_a_new_organiser_signs_up_sets_up_the_account_and_resets_the_password(tmp_path, smtp, hooks):  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    hook_url, delivered = hooks
    smtp.messages.clear()
    env = {"MEDIASERVER_OUTBOUND_ALLOW": "127.0.0.1", "MEDIASERVER_API_KEY": API_KEY}
    with serve_mailing(tmp_path, smtp.port, **env) as base, browser.chromium() as d:
        find = d.find_element

        def shown(id_: str) -> bool:
            return bool(find(By.ID, id_).is_displayed())

        def text(id_: str) -> str:
            return str(find(By.ID, id_).text)

        def checked(root: str) -> None:
            """axe-core's rules and Tab over the visible part of ``root`` (a CSS selector)."""
            if not d.execute_script("return !!window.axe;"):
                d.execute_script(AXE.read_text())
            found = d.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "const only = {runOnly: {type: 'rule', values: arguments[1]}};"
                "axe.run(document.querySelector(arguments[0]), only)"
                ".then((r) => done(r.violations.map((v) => [v.id, v.nodes.map((n) => n.html)])),"
                "      (e) => done([['axe failed', String(e)]]));",
                root,
                RULES,
            )
            assert found == [], (root, found)
            # Tab from the first control of the page (the skip link) through everything: every visible,
            # enabled control of root gets the focus once
            count = d.execute_script(
                "window.__seen = new Set();"
                "if (!window.__tabbing) { window.__tabbing = true;"
                "  document.addEventListener('focusin', (e) => window.__seen.add(e.target)); }"
                "document.querySelector('.skip').focus();"
                "return [...document.querySelectorAll('a[href], button, input, select, textarea')]"
                ".filter((c) => c.getClientRects().length).length;"
            )
            ActionChains(d).send_keys(Keys.TAB * (count + 20)).perform()
            missed = d.execute_script(
                "return [...document.querySelector(arguments[0])"
                ".querySelectorAll('a[href], button, input, select, textarea')]"
                ".filter((c) => c.getClientRects().length && !c.disabled && !window.__seen.has(c))"
                ".map((c) => c.outerHTML.slice(0, 120));",
                root,
            )
            assert missed == [], (root, missed)

        def click(css: str) -> None:
            """Click the element, found again if the list it is in was drawn anew meanwhile."""

            def once() -> bool:
                try:
                    find(By.CSS_SELECTOR, css).click()
                except StaleElementReferenceException:
                    return False
                return True

            _wait(once)

        def section(name: str) -> None:
            find(By.CSS_SELECTOR, f".dash-nav a[data-section='{name}']").click()
            _wait(lambda: shown(f"section-{name}"))

        # ---- sign up: the form, the verification mail, the link that activates
        d.get(base + "/dashboard")
        _wait(lambda: shown("login-view"))
        checked("#login-view")
        find(By.ID, "to-signup").click()
        _wait(lambda: shown("signup-view"))
        checked("#signup-view")
        find(By.ID, "signup-name").send_keys("Nadia")
        find(By.ID, "signup-email").send_keys(EMAIL)
        find(By.ID, "signup-page").send_keys("Nadia's webinars")
        find(By.ID, "signup-submit").click()
        _wait(lambda: shown("signup-result"))
        assert EMAIL in text("signup-result") and not shown("signup-form")
        d.get(_link(smtp, "activate", 1))
        _wait(lambda: shown("activate-view"))
        checked("#activate-view")
        find(By.ID, "activate-password").send_keys(FIRST)
        find(By.ID, "activate-submit").click()
        _wait(lambda: shown("section-events"))
        assert "Nadia" in text("who") and d.execute_script("return location.hash;") == ""
        checked("#app-view")

        # ---- account settings: saved, and the same after a reload (the page then speaks Russian)
        section("account")
        _wait(lambda: find(By.ID, "settings-name").get_attribute("value") == "Nadia")
        assert "trial" in text("account-facts") and EMAIL in text("account-facts")
        checked("#app-view")
        find(By.ID, "settings-name").clear()
        find(By.ID, "settings-name").send_keys("Nadia Petrova")
        find(By.ID, "settings-signature").send_keys("Nadia, Webinars Ltd")
        find(By.ID, "settings-autorecord").click()
        Select(find(By.ID, "settings-language")).select_by_value("ru")
        find(By.ID, "settings-save").click()
        _wait(lambda: text("settings-note") == "Сохранено.")
        d.refresh()
        _wait(lambda: find(By.ID, "settings-signature").get_attribute("value") == "Nadia, Webinars Ltd")
        assert find(By.ID, "settings-name").get_attribute("value") == "Nadia Petrova"
        assert find(By.ID, "settings-autorecord").is_selected()
        assert find(By.ID, "settings-language").get_attribute("value") == "ru"
        assert d.execute_script("return document.documentElement.lang;") == "ru"
        assert text("settings-title") == "Настройки" and "Nadia Petrova" in text("who")
        checked("#app-view")  # in Russian too
        Select(find(By.ID, "dash-lang")).select_by_value("en")  # the header's choice, kept in the browser
        _wait(lambda: text("settings-title") == "Settings")

        # ---- an API key: made, shown once, works, revoked, then refused
        section("integrations")
        checked("#app-view")
        find(By.ID, "key-name").send_keys("CI pipeline")
        find(By.ID, "key-create").click()
        _wait(lambda: shown("key-new"))
        key = find(By.ID, "key-secret").get_attribute("value")
        assert key.startswith("msk_"), key
        _wait(lambda: "CI pipeline" in text("keys"))
        assert key[:12] in text("keys")

        def status_with(k: str) -> int:
            return int(
                d.execute_async_script(
                    "const done = arguments[arguments.length - 1];"
                    "const headers = {Authorization: 'Bearer ' + arguments[0]};"
                    "fetch('/api/v1/me', {credentials: 'omit', headers})"
                    ".then((r) => done(r.status));",
                    k,
                )
            )

        assert status_with(key) == 200
        d.execute_script("window.confirm = () => true;")
        click("#keys .key-revoke")
        _wait(lambda: text("keys-note") == 'The key "CI pipeline" is revoked.' and not text("keys"))
        assert status_with(key) == 401

        # ---- a webhook: made (its secret shown once), an event planned, the delivery in its log
        page_events = d.execute_script(
            "return import('/static/dashboard/integrations.js').then((m) => m.HOOK_EVENTS);"
        )
        assert page_events == list(webhooks.EVENT_TYPES)
        find(By.ID, "hook-url").send_keys(hook_url)
        find(By.ID, "hook-ev-event-created").click()
        find(By.ID, "hook-create").click()
        _wait(lambda: shown("hook-new"))
        assert len(find(By.ID, "hook-secret").get_attribute("value")) == 64
        _wait(lambda: hook_url in text("hooks"))
        checked("#app-view")
        section("events")
        find(By.ID, "event-name").send_keys("Launch party")
        Select(find(By.ID, "event-kind")).select_by_value("permanent")
        find(By.ID, "event-submit").click()
        _wait(lambda: "Launch party" in text("events"))
        _wait(lambda: [h["type"] for h in delivered] == ["event.created"])
        assert delivered[0]["data"]["event"]["name"] == "Launch party", delivered
        section("integrations")
        _wait(lambda: hook_url in text("hooks"))
        click("#hooks .hook-log")
        _wait(lambda: shown("deliveries-view"))

        def logged() -> list[list[str]]:
            find(By.ID, "deliveries-refresh").click()
            return list(
                d.execute_script(
                    "return [...document.querySelectorAll('#deliveries tr')]"
                    ".map((r) => [...r.cells].map((c) => c.textContent));"
                )
            )

        _wait(lambda: [r[1:4] for r in logged()] == [["event.created", "delivered", "1"]])
        assert "HTTP 200" in logged()[0][4]
        checked("#app-view")
        shot(d, "dashboard-integrations.png")

        # ---- a password reset: signed out, the mail, the link, the new password signs in
        find(By.ID, "logout").click()
        _wait(lambda: shown("login-view"))
        find(By.ID, "login-email").send_keys(EMAIL)
        find(By.ID, "to-forgot").click()
        _wait(lambda: shown("forgot-view"))
        assert find(By.ID, "forgot-email").get_attribute("value") == EMAIL
        checked("#forgot-view")
        find(By.ID, "forgot-submit").click()
        _wait(lambda: shown("forgot-result"))
        reset = _link(smtp, "reset", 2)
        d.get(reset)
        _wait(lambda: shown("reset-view"))
        checked("#reset-view")
        find(By.ID, "reset-password").send_keys(SECOND)
        find(By.ID, "reset-submit").click()
        _wait(lambda: shown("login-view") and "password is changed" in text("login-note"))
        d.get(reset)  # the link works once
        _wait(lambda: shown("reset-view"))
        find(By.ID, "reset-password").send_keys("a third passphrase")
        find(By.ID, "reset-submit").click()
        _wait(lambda: "not valid" in text("reset-error"))
        d.get(base + "/dashboard")
        _wait(lambda: shown("login-view"))
        find(By.ID, "login-email").clear()
        find(By.ID, "login-email").send_keys(EMAIL)
        find(By.ID, "login-password").send_keys(SECOND)
        find(By.ID, "login-submit").click()
        _wait(lambda: shown("section-events") and "Launch party" in text("events"))

        # ---- users and sub-accounts: the operator sells a sub-account; it is made and logged into
        account = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('/api/v1/me').then((r) => r.json()).then((m) => done(m.account.id));"
        )
        _operator(base, f"/api/v1/admin/accounts/{account}/billing/plan", {"plan": "live"})
        _operator(base, f"/api/v1/admin/accounts/{account}/billing/addons", {"addon": "sub_accounts"})
        section("users")
        _wait(lambda: EMAIL in text("users"))
        checked("#app-view")

        # on a phone's width every section fits: no sideways scrolling of the page (wide tables scroll in
        # their own box)
        def too_wide() -> list[str]:  # what sticks out of the page sideways (scrolling boxes aside)
            return list(
                d.execute_script(
                    "const w = document.documentElement.clientWidth;"
                    "if (document.documentElement.scrollWidth <= w) return [];"
                    "return [...document.querySelectorAll('body *')].filter((e) => e.getClientRects().length"
                    "  && e.getBoundingClientRect().right > w + 1 && !e.closest('.table-wrap, .dash-nav'))"
                    "  .map((e) => `${e.tagName}#${e.id}.${e.className}`).slice(0, 8).concat(['(page)']);"
                )
            )

        d.set_window_size(360, 740)
        for name in ("events", "account", "integrations", "users"):
            section(name)
            wide = browser.poll(too_wide, lambda v: not v, timeout=5, interval=0.2)
            assert not wide, (name, wide)
        shot(d, "dashboard-phone.png")
        d.set_window_size(800, 600)
        find(By.ID, "sub-page").send_keys("Kazan office")
        find(By.ID, "sub-user").send_keys("Timur")
        find(By.ID, "sub-email").send_keys("timur@example.test")
        Select(find(By.ID, "sub-package")).select_by_value("medium")
        find(By.ID, "sub-create").click()
        _wait(lambda: "Kazan office" in text("subs"))
        assert Select(find(By.CSS_SELECTOR, "#subs .sub-package")).first_selected_option.text == "Medium"
        _wait(lambda: len(smtp.to("timur@example.test")) == 1)  # the sub-account's user is invited
        checked("#app-view")
        click("#subs .sub-login")
        _wait(lambda: shown("impersonation") and "Kazan office" in text("who"))
        assert "Launch party" not in text("events")  # the sub-account's own, empty list
        shot(d, "dashboard-subaccount.png")
        # allowed: the signed-out start's and the revoked key's 401, the used reset link's 400
        assert not errors(d, allow=("/api/v1/me ", "/password-reset/confirm ")), "console errors"
