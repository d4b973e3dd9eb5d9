"""The organiser's event editor and branding (issue 20 items 1 and 2; R-ROOM-4, -6, -8..-12, R-ACC-6), in
headless Chromium against a real `mediaserver serve` with a real SMTP server (aiosmtpd), as one organiser goes
through it in one browser session: a new account signs in and plans its first event with the full form
(start in a time zone, duration, password access, lobby message, agenda, an option, the registration form
builder with custom fields added, reordered and removed); the reload shows it all again and the public
registration (the room page's data and its refusal) asks for the custom field; invitations go out from
pasted addresses and from a contact group of the address book (the mails arrive); the event is edited (a
new time and an option), the page says the reminder was sent (the mail arrives) and the invitations are
re-sent; the embed snippet; the account's branding changes the live preview before it is saved and the room
page after. The form and the branding are checked with axe-core ("label", "button-name", "link-name") and
every control of them must be reachable with Tab."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest

from tests.api.conftest import smtp, text_of  # noqa: F401  (the real SMTP server fixture)
from tests.conftest import activation_token, serve_mailing
from tests.e2e import browser
from tests.e2e.test_dashboard import _wait
from tests.e2e.test_dashboard_account import AXE, RULES
from tests.e2e.test_room_access import shot
from tests.e2e.test_watch_page import tiny_webm

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")

EMAIL = "vera@example.test"
PASSWORD = "correct horse battery"
TZ = "Asia/Tokyo"  # UTC+9 all year: the wall clock in the form is the zone's, not the browser's
NEW_PRIMARY = "#d35400"
EVENT_ACCENT = "#16a085"
NUMBER = "Berlin +49 30 1234567"


def rgb(hex_colour: str) -> str:
    n = int(hex_colour[1:], 16)
    return f"rgb({n >> 16}, {(n >> 8) & 255}, {n & 255})"


@pytest.mark.timeout(150)
def test_an_organiser_plans_edits_invites_and_brands_an_event(tmp_path, smtp):  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    smtp.messages.clear()
    dial_in = {"MEDIASERVER_DIAL_IN_NUMBERS": f"{NUMBER}"}
    with serve_mailing(tmp_path, smtp.port, **dial_in) as base, browser.chromium() as d:
        find = d.find_element

        def read_mail() -> str:
            return "".join(f"to {m['To']}\n{text_of(m)}\n" for m in list(smtp.messages))

        token = activation_token(base, EMAIL, read_mail)

        def call(method: str, path: str, body: Any = None) -> Any:
            """The API from the page, with its session cookie: [status, JSON]."""
            return d.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "fetch('/api/v1' + arguments[0], {method: arguments[1], credentials: 'same-origin',"
                "  headers: {'Content-Type': 'application/json'}, body: arguments[2]})"
                ".then(async (r) => done([r.status, r.status === 204 ? null : await r.json()]));",
                path,
                method,
                None if body is None else json.dumps(body),
            )

        def shown(id_: str) -> bool:
            return bool(find(By.ID, id_).is_displayed())

        def text(id_: str) -> str:
            return str(find(By.ID, id_).text)

        def value(id_: str) -> str:
            return str(find(By.ID, id_).get_attribute("value"))

        def typed(id_: str, words: str) -> None:
            e = find(By.ID, id_)
            e.clear()
            e.send_keys(words)

        def checked(root: str) -> None:
            """axe-core's rules and Tab over the visible part of ``root`` (as test_dashboard_account)."""
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

        def row_action(name: str, action: str) -> None:
            def once() -> bool:
                try:
                    for r in d.find_elements(By.CSS_SELECTOR, "#events tr"):
                        cells = r.find_elements(By.TAG_NAME, "td")
                        if cells and cells[0].text == name:
                            r.find_element(By.CLASS_NAME, f"act-{action}").click()
                            return True
                except StaleElementReferenceException:  # the list was drawn anew meanwhile
                    pass
                return False

            _wait(once)

        def fields_drawn() -> list[Any]:
            return list(d.find_elements(By.CSS_SELECTOR, "#event-reg-fields li"))

        def set_color(id_: str, colour: str) -> None:
            d.execute_script(
                "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                "e.dispatchEvent(new Event('input', {bubbles: true}));",
                id_,
                colour,
            )

        # ---- a new organiser (activated by the mailed link) signs in
        d.get(base + "/dashboard")
        assert call("POST", "/activate", {"token": token, "password": PASSWORD})[0] == 200
        d.get(base + "/dashboard")
        _wait(lambda: shown("section-events"))
        # the address book: two contacts in a group, one contact outside it
        people = {}
        for name, mail in (
            ("Gleb", "gleb@example.test"),
            ("Inna", "inna@example.test"),
            ("Oleg", "oleg@example.test"),
        ):
            status, c = call("POST", "/contacts", {"name": name, "email": mail})
            assert status == 201, c
            people[name] = c["id"]
        status, group = call("POST", "/groups", {"name": "Partners"})
        assert status == 201, group
        assert call(
            "POST", f"/groups/{group['id']}/members", {"contactIds": [people["Gleb"], people["Inna"]]}
        )[0] in (200, 201, 204)

        # ---- the first event, with the whole form
        _wait(lambda: value("event-timezone") != "")
        checked("#plan-panel")
        typed("event-name", "Product launch")
        Select(find(By.ID, "event-kind")).select_by_value("scheduled")
        Select(find(By.ID, "event-room-type")).select_by_value("webinar")
        Select(find(By.ID, "event-timezone")).select_by_value(TZ)
        day = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3)).date()
        d.execute_script(
            "const e = document.getElementById('event-start'); e.value = arguments[0];"
            "e.dispatchEvent(new Event('input', {bubbles: true}));",
            f"{day.isoformat()}T10:30",
        )
        typed("event-duration", "90")
        Select(find(By.ID, "event-access")).select_by_value("password")
        _wait(lambda: shown("event-password"))
        typed("event-password", "launch-2026")
        typed("event-agenda", "1. News\n2. Questions")
        typed("event-lobby", "We start at half past ten sharp.")
        find(By.ID, "event-opt-chat").click()  # chat off
        # the registration form builder: three fields added, one removed, two reordered
        find(By.ID, "event-reg-on").click()
        for label in ("Company", "Team size", "Promo code"):
            find(By.ID, "event-reg-add").click()
            n = len(d.find_elements(By.CSS_SELECTOR, "#event-reg-fields li")) - 1
            typed(f"event-reg-label-{n}", label)
        assert value("event-reg-name-0") == "company" and value("event-reg-name-1") == "teamSize"
        Select(find(By.ID, "event-reg-type-1")).select_by_value("select")
        typed("event-reg-options-1", "1-10\n11+")
        find(By.ID, "event-reg-required-0").click()
        find(By.CSS_SELECTOR, "#event-reg-fields li:nth-child(3) .reg-remove").click()
        find(By.CSS_SELECTOR, "#event-reg-fields li:nth-child(2) .reg-up").click()  # team size first
        assert [value("event-reg-label-0"), value("event-reg-label-1")] == ["Team size", "Company"]
        find(By.ID, "event-brand-toggle").click()
        checked("#plan-panel")  # with the fields and the event's branding open
        # the event's own accent colour and its lobby message in the live preview, before saving
        set_color("event-brand-color-accent", EVENT_ACCENT)
        _wait(
            lambda: (
                d.execute_script(
                    "const p = document.getElementById('event-brand-preview');"
                    "return [getComputedStyle(p.querySelector('.bp-link')).color,"
                    "        p.querySelector('.bp-lobby-message').textContent];"
                )
                == [rgb(EVENT_ACCENT), "We start at half past ten sharp."]
            )
        )
        d.execute_script("document.getElementById('event-reg').scrollIntoView();")
        shot(d, "dashboard-event-form.png")
        # the registration screen of the preview asks what the form will ask
        fields = d.execute_script(
            "return [...document.querySelectorAll('#event-brand-preview .bp-registration .bp-field')]"
            ".map((e) => e.textContent);"
        )
        assert fields == ["First name *", "Last name *", "E-mail *", "Team size", "Company *"], fields
        # refusals of the server are shown next to the form in words: paid tickets on the trial (402), and
        # a field the server refuses, named and marked
        Select(find(By.ID, "event-access")).select_by_value("paid")
        typed("event-price", "10")
        typed("event-currency", "EUR")
        find(By.ID, "event-submit").click()
        _wait(lambda: text("event-error") == "Paid tickets are not available on the free trial.")
        Select(find(By.ID, "event-access")).select_by_value("password")
        typed("event-thanks", "ftp://example.test/thanks")
        d.execute_script("document.getElementById('event-thanks').type = 'text';")  # past the browser's check
        find(By.ID, "event-submit").click()
        _wait(lambda: "Thank-you page" in text("event-error"))
        assert find(By.ID, "event-thanks").get_attribute("aria-invalid") == "true"
        typed("event-thanks", "https://example.test/thanks")
        find(By.ID, "event-submit").click()
        _wait(lambda: text("event-note") == "The event “Product launch” is planned.")
        _wait(lambda: "Product launch" in text("events"))
        status, listed = call("GET", "/events")
        ev = next(e for e in listed["items"] if e["name"] == "Product launch")
        assert ev["startsAt"].startswith(f"{day.isoformat()}T01:30:00") and ev["timezone"] == TZ, ev
        assert (ev["durationMinutes"], ev["access"], ev["options"]["chat"]) == (90, "password", False), ev
        assert (
            ev["lobbyMessage"] == "We start at half past ten sharp."
            and ev["thankYouUrl"] == "https://example.test/thanks"
        )
        assert ev["branding"] == {"colors": {"accent": EVENT_ACCENT}}, ev

        # ---- after a reload the Edit action shows it all again
        d.refresh()
        _wait(lambda: "Product launch" in text("events"))
        row_action("Product launch", "edit")
        _wait(lambda: value("event-name") == "Product launch" and len(fields_drawn()) == 2)
        assert text("plan-title") == "Edit: Product launch"
        assert (value("event-start"), value("event-timezone"), value("event-duration")) == (
            f"{day.isoformat()}T10:30",
            TZ,
            "90",
        )
        assert value("event-access") == "password" and not find(By.ID, "event-opt-chat").is_selected()
        assert find(By.ID, "event-reg-on").is_selected()
        assert [value("event-reg-label-0"), value("event-reg-label-1"), value("event-reg-options-0")] == [
            "Team size",
            "Company",
            "1-10\n11+",
        ]
        assert (
            find(By.ID, "event-reg-required-1").is_selected()
            and not find(By.ID, "event-reg-required-0").is_selected()
        )
        # the public registration asks for the custom fields, and refuses without the required one
        status, public = call("GET", f"/public/events/{ev['roomId']}")
        assert [f["name"] for f in public["registration"]["fields"]] == [
            "firstName",
            "lastName",
            "email",
            "teamSize",
            "company",
        ]
        status, refused = call(
            "POST",
            f"/public/events/{ev['roomId']}/registrations",
            {"firstName": "Ann", "lastName": "Lee", "email": "ann@example.test"},
        )
        assert status == 400 and "Company" in refused["error"]["message"], refused
        person = {"firstName": "Ann", "lastName": "Lee", "email": "ann@example.test"}
        answers = {"teamSize": "11+", "company": "ACME"}
        status, _ = call(
            "POST", f"/public/events/{ev['roomId']}/registrations", {**person, "fields": answers}
        )
        assert status == 201
        # the Registrations action lists who registered, a column per field of the form
        row_action("Product launch", "registrations")
        _wait(lambda: text("regs-note") == "1 registered.")
        cells = d.execute_script(
            "return [...document.querySelectorAll('#regs-view th, #regs tr.registration td')]"
            ".map((c) => c.textContent);"
        )
        assert cells[:4] == ["Name", "E-mail", "Team size", "Company"], cells
        assert cells[5:9] == ["Ann Lee", "ann@example.test", "11+", "ACME"], cells

        # ---- invitations: a pasted address and a contact group; the mails arrive
        row_action("Product launch", "invite")
        _wait(lambda: shown("invite-view") and d.find_elements(By.CSS_SELECTOR, "input.invite-group"))
        checked("#invite-view")
        typed("invite-emails", "ann@example.test")
        find(By.ID, f"invite-group-{group['id']}").click()
        find(By.ID, "invite-submit").click()
        _wait(lambda: text("invite-result") == "Sent 3 invitation(s).")
        _wait(
            lambda: all(
                len(smtp.to(a)) == 1 for a in ("ann@example.test", "gleb@example.test", "inna@example.test")
            )
        )
        assert not smtp.to("oleg@example.test")
        assert ev["roomId"] in text_of(smtp.to("gleb@example.test")[0])
        _wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#invitations tr")) == 3)

        # ---- edited: a new time and an option; the reminder is said and mailed, the invitations re-sent
        row_action("Product launch", "edit")
        _wait(lambda: value("event-name") == "Product launch" and len(fields_drawn()) == 2)
        _wait(lambda: "reminder" in text("event-note"))  # invitations were sent: the page says what follows
        d.execute_script(
            "const e = document.getElementById('event-start'); e.value = arguments[0];"
            "e.dispatchEvent(new Event('input', {bubbles: true}));",
            f"{day.isoformat()}T12:00",
        )
        find(By.ID, "event-opt-chat").click()  # chat on again
        find(By.ID, "event-thanks").clear()  # back to the server's own thank-you page
        find(By.ID, "event-dialin").click()  # phone dial-in on
        # the invitation e-mail as the server renders it, with blocks being edited (not saved)
        find(By.ID, "event-brand-toggle").click()
        find(By.ID, "event-brand-add-block").click()
        typed("event-brand-block-value-8", "Bring your questions")
        find(By.ID, "event-mail-preview").click()
        _wait(lambda: text("event-mail-subject") == "Subject: Invitation: Product launch")
        mail_html = find(By.ID, "event-mail-frame").get_attribute("srcdoc")
        assert "Bring your questions" in mail_html and ev["roomId"] in mail_html, mail_html
        find(By.ID, "event-brand-standard").click()  # the event keeps the account's layout
        assert not d.find_elements(By.CSS_SELECTOR, "#event-brand-blocks li")
        find(By.ID, "event-submit").click()
        _wait(lambda: text("event-note").startswith("The settings changed: 3 invitee(s)"))
        _wait(lambda: len(smtp.to(EMAIL)) == 2)  # the activation, then the reminder to re-send
        assert "Product launch" in text_of(smtp.to(EMAIL)[1])
        d.refresh()
        _wait(lambda: "Product launch" in text("events"))
        row_action("Product launch", "edit")
        _wait(lambda: value("event-name") == "Product launch" and len(fields_drawn()) == 2)
        assert (
            value("event-start") == f"{day.isoformat()}T12:00" and find(By.ID, "event-opt-chat").is_selected()
        )
        assert value("event-thanks") == "" and find(By.ID, "event-dialin").is_selected()
        _wait(lambda: text("event-dialin-note") == f"Dial-in numbers of this server: {NUMBER}")
        row_action("Product launch", "invite")
        _wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#invitations tr.outdated")) == 3)
        find(By.ID, "invite-resend-all").click()
        _wait(lambda: text("invite-result") == "Re-sent 3 invitation(s).")
        _wait(lambda: not d.find_elements(By.CSS_SELECTOR, "#invitations tr.outdated"))
        _wait(lambda: len(smtp.to("inna@example.test")) == 2)
        assert "12:00" in text_of(smtp.to("inna@example.test")[1]) and NUMBER in text_of(
            smtp.to("inna@example.test")[1]
        )

        # ---- the embed snippet, with its copy button
        row_action("Product launch", "embed")
        _wait(lambda: ev["roomId"] in value("embed-code"))
        assert "<iframe" in value("embed-code")
        find(By.ID, "embed-copy").click()
        _wait(lambda: text("embed-note") != "")
        checked("#section-events")

        # ---- an on-demand event plays a video of the library, chosen in the form, with its options
        video = base64.b64encode(tiny_webm(seconds=1.0, fps=5)).decode()
        uploaded = d.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "const bytes = Uint8Array.from(atob(arguments[0]), (c) => c.charCodeAt(0));"
            "const tus = {'Tus-Resumable': '1.0.0'};"
            "fetch('/api/v1/uploads', {method: 'POST', headers: {...tus,"
            "  'Upload-Length': String(bytes.length), 'Upload-Metadata': 'filename ' + btoa('intro.webm')}})"
            ".then((r) => fetch(r.headers.get('Location'), {method: 'PATCH', body: bytes, headers: {...tus,"
            "  'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream'}}))"
            ".then((r) => done(r.status));",
            video,
        )
        assert uploaded == 204, uploaded
        find(By.ID, "event-cancel").click()
        _wait(lambda: text("plan-title") == "Plan an event" and value("event-name") == "")
        typed("event-name", "Intro replay")
        Select(find(By.ID, "event-kind")).select_by_value("on_demand")
        _wait(lambda: "intro.webm" in text("event-video"))
        Select(find(By.ID, "event-video")).select_by_visible_text("intro.webm")
        find(By.ID, "event-opt-seek").click()  # no seeking
        find(By.ID, "event-opt-leads").click()  # lead capture on
        find(By.ID, "event-submit").click()
        _wait(lambda: text("event-note") == "The event “Intro replay” is planned.")
        status, listed = call("GET", "/events")
        replay = next(e for e in listed["items"] if e["name"] == "Intro replay")
        files = call("GET", "/files")[1]["items"]
        assert replay["videoFileId"] == next(f["id"] for f in files if f["name"] == "intro.webm"), replay
        assert (replay["options"]["allowSeek"], replay["options"]["leadCapture"]) == (False, True), replay

        # ---- branding: the preview follows the edit before saving; the room shows it after
        find(By.CSS_SELECTOR, ".dash-nav a[data-section='account']").click()
        _wait(lambda: shown("acct-brand-panel"))
        checked("#acct-brand-panel")

        def preview_button() -> str:
            return str(
                d.execute_script(
                    "const b = document.querySelector('#acct-brand-preview .bp-room .bp-button');"
                    "return b ? getComputedStyle(b).backgroundColor : '';"
                )
            )

        _wait(lambda: preview_button() == "rgb(61, 126, 255)")  # room.css's own blue
        set_color("acct-brand-color-primary", NEW_PRIMARY)
        _wait(lambda: preview_button() == rgb(NEW_PRIMARY))
        assert find(By.ID, "acct-brand-own-primary").is_selected()
        assert call("GET", "/account/settings")[1]["branding"] == {}  # not saved yet
        # the invitation e-mail's layout: the standard blocks, a text added and moved above the buttons
        find(By.ID, "acct-brand-add-block").click()
        blocks = ["logo", "link", "room_id", "token", "dial_in", "agenda", "presenter", "buttons"]
        _wait(lambda: len(d.find_elements(By.CSS_SELECTOR, "#acct-brand-blocks li")) == len(blocks) + 1)
        typed(f"acct-brand-block-value-{len(blocks)}", "See you there!")
        find(By.CSS_SELECTOR, f"#acct-brand-blocks li:nth-child({len(blocks) + 1}) button").click()  # up
        assert value(f"acct-brand-block-value-{len(blocks) - 1}") == "See you there!"
        shot(d, "dashboard-branding.png")
        checked("#acct-brand-panel")
        find(By.ID, "acct-brand-save").click()
        _wait(lambda: text("acct-brand-note") == "The branding is saved.")
        saved = call("GET", "/account/settings")[1]["branding"]
        layout = [{"type": b} for b in blocks[:-1]] + [
            {"type": "text", "value": "See you there!"},
            {"type": "buttons"},
        ]
        assert saved == {"colors": {"primary": NEW_PRIMARY}, "emailBlocks": layout}, saved
        # the next invitation is laid out so
        find(By.CSS_SELECTOR, ".dash-nav a[data-section='events']").click()
        row_action("Product launch", "invite")
        _wait(lambda: shown("invite-view"))
        typed("invite-emails", "zoe@example.test")
        find(By.ID, "invite-submit").click()
        _wait(lambda: len(smtp.to("zoe@example.test")) == 1)
        mail = text_of(smtp.to("zoe@example.test")[0])
        assert ev["roomId"] in mail and mail.index("See you there!") < mail.index("Accept:"), mail
        d.get(f"{base}/room/{ev['roomId']}")
        _wait(
            lambda: (
                d.execute_script(
                    "const b = document.querySelector('button.primary:not([hidden])');"
                    "return b && b.getClientRects().length ? getComputedStyle(b).backgroundColor : null;"
                )
                == rgb(NEW_PRIMARY)
            )
        )

        # ---- on a phone: nothing scrolls sideways, the form and the preview take the width
        d.set_window_size(390, 844)
        d.get(base + "/dashboard#events")
        _wait(lambda: "Product launch" in text("events"))
        row_action("Product launch", "edit")
        _wait(lambda: value("event-name") == "Product launch" and len(fields_drawn()) == 2)
        find(By.ID, "event-brand-toggle").click()
        _wait(lambda: shown("event-brand-preview"))

        def sideways() -> int:
            return int(d.execute_script("return document.documentElement.scrollWidth - window.innerWidth;"))

        assert sideways() <= 0
        shot(d, "dashboard-events-phone.png")
        find(By.CSS_SELECTOR, ".dash-nav a[data-section='account']").click()
        _wait(lambda: shown("acct-brand-preview"))
        assert sideways() <= 0

        # ---- in Russian: the editor's own strings, the labels drawn by the script too
        Select(find(By.ID, "dash-lang")).select_by_value("ru")
        find(By.CSS_SELECTOR, ".dash-nav a[data-section='events']").click()

        def label(for_: str) -> str:
            return str(
                d.execute_script(
                    "return document.querySelector(`label[for=${arguments[0]}]`).textContent;", for_
                )
            )

        _wait(lambda: label("event-reg-on").strip() == "Перед входом нужно зарегистрироваться")
        assert label("event-timezone") == "Часовой пояс"
        assert text("plan-title") == "Изменить: Product launch"
        assert label("event-brand-color-primary") == "Кнопки и выделение"
        assert label("event-reg-label-0") == "Вопрос (поле 1)"  # drawn by editor.js, drawn again
