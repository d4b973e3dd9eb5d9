"""The room page of an event in headless Chromium against a real `mediaserver serve` (with a real SMTP
server): it asks for what the event needs (R-ROOM-6: password, personal token from the link or typed;
R-ROOM-9: the registration form with the event's custom fields, and the page to go to after registering),
refuses an event that is over or on demand with a message (R-ROOM-4), and sends people to the thank-you
page when they leave or the host ends the event (R-STAT-3). Every test checks both what the page shows and
what the server holds."""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import smtp, text_of  # noqa: F401  (the real SMTP server fixture)
from tests.conftest import API_KEY, activation_token, loopback_only_ice, serve_mailing
from tests.e2e import browser

loopback_only_ice()

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")


# ---------- the server and its API ----------


@pytest.fixture(scope="module")
def served(tmp_path_factory, smtp) -> Iterator[str]:  # noqa: F811
    MAILBOXES.append(smtp)  # the sign-up mails of the Organisers (issue 14 finding 22)
    with serve_mailing(
        tmp_path_factory.mktemp("room-access"),
        smtp.port,
        MEDIASERVER_API_KEY=OPERATOR_KEY,
        # every test signs an organiser up from this one address: more than the default budget a minute
        MEDIASERVER_RATE_LIMIT_SIGNUP="1000/minute",
        MEDIASERVER_RATE_LIMIT_ACTIVATE="1000/minute",
    ) as base:
        yield base


OPERATOR_KEY = API_KEY  # the served server's api_key
MAILBOXES: list[Any] = []  # the SMTP mailbox the served server sends to


def _request(
    opener: Any, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with opener.open(req, timeout=30) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    return status, json.loads(raw) if raw else None


class Organiser:
    """A fresh account (one live event per account, R-ROOM-5) signed in with a cookie, like the dashboard."""

    def __init__(self, base: str, read_mail: Callable[[], str] | None = None) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        # sign up and follow the e-mailed activation link (issue 14 finding 22), with a cookie like the
        # dashboard's
        if read_mail is None:  # the SMTP mailbox of the served server
            box = MAILBOXES[-1]
            read_mail = lambda: "".join(f"to {m['To']}\n{text_of(m)}\n" for m in list(box.messages))  # noqa: E731
        token = activation_token(base, f"olga-{uuid.uuid4().hex[:8]}@example.test", read_mail)
        self.call("POST", "/api/v1/activate", {"token": token, "password": "correct horse battery"}, 200)

    def call(self, method: str, path: str, body: Any = None, status: int | None = None) -> Any:
        got, data = _request(self.opener, method, self.base + path, body)
        assert status is None or got == status, (method, path, got, data)
        return data

    def event(self, **data: Any) -> dict[str, Any]:
        return self.call("POST", "/api/v1/events", {"kind": "instant", "name": "Talk", **data}, 201)

    def operator(self, what: str, body: Any, status: int = 200) -> Any:
        """The operator's billing call (the server's api_key; issue 14 finding 1) for this account."""
        account = self.call("GET", "/api/v1/me", status=200)["account"]["id"]
        path = f"{self.base}/api/v1/admin/accounts/{account}/billing/{what}"
        got, data = _request(self.opener, "POST", path, body, {"Authorization": f"Bearer {OPERATOR_KEY}"})
        assert got == status, (path, got, data)
        return data


def upload(org: Organiser, name: str, data: bytes) -> dict[str, Any]:
    """A tus upload into the organiser's file library (R-FILE-1..4); the library's row of it."""
    import base64

    meta = f"filename {base64.b64encode(name.encode()).decode()}"
    req = urllib.request.Request(
        org.base + "/api/v1/uploads",
        data=b"",
        method="POST",
        headers={"Tus-Resumable": "1.0.0", "Upload-Length": str(len(data)), "Upload-Metadata": meta},
    )
    with org.opener.open(req, timeout=30) as r:
        location = urllib.parse.urlsplit(r.headers["Location"]).path
    req = urllib.request.Request(
        org.base + location,
        data=data,
        method="PATCH",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Offset": "0",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    with org.opener.open(req, timeout=30) as r:
        assert r.status == 204
    files = org.call("GET", "/api/v1/files", None, 200)
    return next(f for f in files["items"] if f["name"] == name)


def guest(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return _request(urllib.request.build_opener(), method, base + path, body)


def seated(base: str, room_id: str) -> int:
    status, info = guest(base, "GET", f"/api/v1/rooms/{room_id}")
    assert status == 200, info
    return info["participants"]


# ---------- the page ----------


def state(d: Any) -> dict[str, Any]:
    return (
        d.execute_script("return window.roomState ? JSON.parse(JSON.stringify(window.roomState)) : {};") or {}
    )


def wait(d: Any, pred: Any, what: str, timeout: float = 15) -> Any:
    value = browser.poll(lambda: pred(d), bool, timeout, 0.2)
    assert value, (what, state(d), browser.console(d))
    return value


def visible(d: Any, css: str) -> bool:
    return d.execute_script(
        "const e = document.querySelector(arguments[0]);return !!e && e.getClientRects().length > 0;", css
    )


def text(d: Any, css: str) -> str:
    return d.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", css
    )


def blinking(d: Any, selector: str, label: str) -> None:
    """The indicator ``selector`` (REC, LIVE) appears on the page, says ``label`` and blinks."""
    wait(d, lambda d: visible(d, selector), f"the {label} indicator")
    assert text(d, selector) == label
    style = f"return getComputedStyle(document.querySelector('{selector}')).animationName;"
    assert d.execute_script(style) == "rec-blink"


def fill(d: Any, css: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    e = d.find_element(By.CSS_SELECTOR, css)
    e.clear()
    e.send_keys(value)


def click(d: Any, css: str) -> None:
    d.execute_script("document.querySelector(arguments[0]).click();", css)


def shot(d: Any, name: str) -> None:
    """A screenshot in tests/artifacts/ (ignored by git) to look at the page."""
    folder = Path(__file__).resolve().parent.parent / "artifacts"
    folder.mkdir(exist_ok=True)
    d.save_screenshot(str(folder / name))


def open_room(d: Any, url: str) -> None:
    """Open an event's room link and wait until the page knows the event (its public info)."""
    d.get(url)
    wait(d, lambda d: state(d).get("event"), "the page loads the event's public info")


def person(d: Any, name: str, email: str) -> None:
    fill(d, "#join-name", name)
    fill(d, "#join-email", email)


def join_as(d: Any, url: str, name: str, role: str) -> dict[str, Any]:
    """Open an event's room link, join with a name and e-mail, and check the role the server gave."""
    open_room(d, url)
    person(d, name, f"{name.lower()}@example.test")
    click(d, "#join-submit")
    me = in_room(d)
    assert me["role"] == role, me
    return me


def host_link(served: str, ev: dict[str, Any]) -> str:
    return f"{served}/room/{ev['roomId']}?host={ev['hostUrl'].split('host=')[1]}"


def join_error(d: Any, code: str) -> str:
    wait(
        d,
        lambda d: (
            visible(d, "#join-error")
            and d.execute_script("return document.querySelector('#join-error').dataset.code;") == code
        ),
        f"join error {code}",
    )
    return text(d, "#join-error")


def in_room(d: Any) -> dict[str, Any]:
    return wait(
        d,
        lambda d: (lambda s: s if s.get("screen") == "room" and s.get("status") == "joined" else None)(
            state(d)
        ),
        "in the room",
        20,
    )


# ---------- tests ----------


@pytest.mark.timeout(120)
def test_password_event_wrong_password_then_right(served):
    """R-ROOM-6: a password event asks for the password; a wrong one is refused with a clear message and the
    person retries; the right one lets them in."""
    org = Organiser(served)
    ev = org.event(name="Password talk", access="password", password="open sesame")
    with browser.chromium() as d:
        open_room(d, f"{served}/room/{ev['roomId']}")
        assert visible(d, "#join-password") and not visible(d, "#join-token"), state(d)
        assert "password" in text(d, "#join-access"), text(d, "#join-access")
        person(d, "Pavel", "pavel@example.test")
        click(d, "#join-submit")  # no password yet: asked for, nothing sent
        assert "enter it" in join_error(d, "password_required")
        fill(d, "#join-password", "not the password")
        click(d, "#join-submit")
        assert join_error(d, "bad_password") == "The password is wrong. Check it and try again."
        shot(d, "access-password.png")
        assert state(d)["screen"] == "join" and visible(d, "#join-password")
        assert seated(served, ev["roomId"]) == 0
        fill(d, "#join-password", "open sesame")
        click(d, "#join-submit")
        st = in_room(d)
        assert st["role"] == "attendee" and st["self"]["name"] == "Pavel"
        assert browser.poll(lambda: seated(served, ev["roomId"]), lambda n: n == 1, 10) == 1


@pytest.mark.timeout(150)
def test_token_event_uses_the_link_token_or_a_typed_one(served):
    """R-ROOM-6: a token event takes the personal token from the invitation link without asking; without it
    the page asks for the token; another invitee's token is refused; the person's own token lets them in."""
    org = Organiser(served)
    ev = org.event(name="Invitees only", access="token")
    invs = org.call(
        "POST",
        f"/api/v1/events/{ev['id']}/invitations",
        {"emails": ["ann@example.test", "bob@example.test"]},
        201,
    )
    tok = {i["email"]: i["token"] for i in invs["items"]}
    link = {i["email"]: i["link"] for i in invs["items"]}
    assert link["ann@example.test"].endswith(f"/room/{ev['roomId']}?token={tok['ann@example.test']}")
    with browser.chromium() as a, browser.chromium() as b:
        open_room(a, f"{served}/room/{ev['roomId']}?token={tok['ann@example.test']}")
        assert not visible(a, "#join-token") and visible(a, "#join-token-link"), state(a)
        person(a, "Ann", "ann@example.test")
        click(a, "#join-submit")
        assert in_room(a)["self"]["name"] == "Ann"

        open_room(b, f"{served}/room/{ev['roomId']}")
        assert visible(b, "#join-token") and not visible(b, "#join-password")
        assert text(b, "label[for=join-token]") == "Personal token from your invitation"
        shot(b, "access-token.png")
        person(b, "Bob", "bob@example.test")
        click(b, "#join-submit")
        assert "invitees" in join_error(b, "token_required")
        fill(b, "#join-token", tok["ann@example.test"])  # someone else's token
        click(b, "#join-submit")
        assert "another person" in join_error(b, "bad_token")
        assert seated(served, ev["roomId"]) == 1
        fill(b, "#join-token", tok["bob@example.test"])
        click(b, "#join-submit")
        assert in_room(b)["self"]["name"] == "Bob"
        assert browser.poll(lambda: seated(served, ev["roomId"]), lambda n: n == 2, 10) == 2


@pytest.mark.timeout(120)
def test_registration_form_with_custom_fields_then_join(served):
    """R-ROOM-9: an unregistered person gets the registration form (the defaults, prefilled from the join
    form, then the event's custom fields); a missing required field is named; registering joins them."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    org = Organiser(served)
    ev = org.event(
        name="Registered webinar",
        registration={
            "enabled": True,
            "fields": [
                {"name": "company", "label": "Company", "required": True},
                {"name": "size", "label": "Team size", "type": "select", "options": ["1-10", "11+"]},
            ],
        },
    )
    with browser.chromium() as d:
        open_room(d, f"{served}/room/{ev['roomId']}")
        assert "Registration is required" in text(d, "#join-access")
        person(d, "Kate Smirnova", "kate@example.test")
        click(d, "#join-submit")
        wait(d, lambda d: state(d).get("screen") == "register", "the registration form")
        names = d.execute_script(
            "return [...document.querySelectorAll('#reg-fields [data-field]')].map((e) => e.dataset.field);"
        )
        assert names == ["firstName", "lastName", "email", "company", "size"]
        values = d.execute_script(
            "return ['firstName', 'lastName', 'email'].map((n) => document.getElementById('reg-' + n).value);"
        )
        assert values == ["Kate", "Smirnova", "kate@example.test"]
        assert (
            text(d, "label[for=reg-company]") == "Company *"
            and text(d, "label[for=reg-firstName]") == "First name *"
        )
        click(d, "#reg-submit")  # the company is required
        wait(d, lambda d: visible(d, "#reg-error"), "the registration error")
        assert text(d, "#reg-error") == "Fill in “Company”."
        shot(d, "access-registration.png")
        assert org.call("GET", f"/api/v1/events/{ev['id']}/registrations", status=200)["total"] == 0
        fill(d, "#reg-company", "ACME")
        Select(d.find_element(By.ID, "reg-size")).select_by_value("11+")
        click(d, "#reg-submit")
        assert in_room(d)["self"]["name"] == "Kate Smirnova"
    regs = org.call("GET", f"/api/v1/events/{ev['id']}/registrations", status=200)
    assert regs["total"] == 1
    row = regs["items"][0]
    assert (row["email"], row["firstName"], row["lastName"], row["fields"]) == (
        "kate@example.test",
        "Kate",
        "Smirnova",
        {"company": "ACME", "size": "11+"},
    )


@pytest.mark.timeout(120)
def test_registration_redirects_to_the_organisers_page(served):
    """R-ROOM-9: after registering, the person goes to the page the organiser set (the server names it)
    instead of joining; they are registered."""
    org = Organiser(served)
    after = f"{served}/?registered=1"
    ev = org.event(name="Sign-up first", registration={"enabled": True, "redirectUrl": after})
    with browser.chromium() as d:
        open_room(d, f"{served}/room/{ev['roomId']}")
        person(d, "Ivan Petrov", "ivan@example.test")
        click(d, "#join-submit")
        wait(d, lambda d: state(d).get("screen") == "register", "the registration form")
        click(d, "#reg-submit")
        wait(d, lambda d: d.current_url == after, "the redirect after registering")
    regs = org.call("GET", f"/api/v1/events/{ev['id']}/registrations", status=200)
    assert [r["email"] for r in regs["items"]] == ["ivan@example.test"]
    assert seated(served, ev["roomId"]) == 0


@pytest.mark.timeout(120)
def test_leaving_goes_to_the_thank_you_page_or_says_you_left(served):
    """R-STAT-3: leaving an event with a thank-you page opens it; without one the page says the person left;
    leaving the lobby before the start (R-ROOM-8) is not "after the event": no redirect."""
    thanks = f"{served}/?thanks=leave"
    org = Organiser(served)
    ev = org.event(name="With thanks", thankYouUrl=thanks)
    later = org.event(kind="permanent", name="Not started", thankYouUrl=thanks)
    plain = Organiser(served).event(name="Without thanks")
    with browser.chromium() as d:
        open_room(d, f"{served}/room/{ev['roomId']}")
        person(d, "Lena", "lena@example.test")
        click(d, "#join-submit")
        in_room(d)
        assert seated(served, ev["roomId"]) == 1
        click(d, "#btn-leave")
        wait(d, lambda d: d.current_url == thanks, "the thank-you page after leaving")
        assert browser.poll(lambda: seated(served, ev["roomId"]), lambda n: n == 0, 10) == 0

        open_room(d, f"{served}/room/{plain['roomId']}")
        click(d, "#join-submit")  # the person is remembered from before
        in_room(d)
        click(d, "#btn-leave")
        wait(d, lambda d: state(d).get("screen") == "left", "the left screen")
        assert text(d, "#screen-left h1") == "You left the event" and not visible(d, "#left-redirect")
        time.sleep(1.5)
        assert d.current_url == f"{served}/room/{plain['roomId']}"
        assert seated(served, plain["roomId"]) == 0

        open_room(d, f"{served}/room/{later['roomId']}")
        click(d, "#join-submit")
        wait(d, lambda d: state(d).get("screen") == "lobby", "the lobby")
        click(d, "#screen-lobby .leave-btn")
        wait(d, lambda d: state(d).get("screen") == "left", "the left screen")
        time.sleep(1.5)
        assert d.current_url == f"{served}/room/{later['roomId']}" and not visible(d, "#left-redirect")


@pytest.mark.timeout(150)
def test_host_ending_the_event_sends_attendees_to_the_thank_you_page(served):
    """R-STAT-3 and R-ROOM-13: the host presses "end the session"; the attendee goes to the thank-you page,
    the host stays on the ended screen; the room is over on the server."""
    thanks = f"{served}/?thanks=end"
    org = Organiser(served)
    ev = org.event(name="Ended by host", thankYouUrl=thanks)
    with browser.chromium() as host, browser.chromium() as att:
        open_room(host, f"{served}/room/{ev['roomId']}?host={ev['hostUrl'].split('host=')[1]}")
        person(host, "Olga", "olga@example.test")
        click(host, "#join-submit")
        assert in_room(host)["role"] == "host"
        open_room(att, f"{served}/room/{ev['roomId']}")
        person(att, "Mark", "mark@example.test")
        click(att, "#join-submit")
        assert in_room(att)["role"] == "attendee"
        host.execute_script("window.confirm = () => true;")
        click(host, "#btn-host")
        click(host, "#panel-host .end-btn")
        wait(att, lambda d: d.current_url == thanks, "the attendee's thank-you page")
        wait(host, lambda d: state(d).get("screen") == "ended", "the host's ended screen")
        assert text(host, "#ended-title") == "The session has ended" and "/room/" in host.current_url
    status, info = guest(served, "GET", f"/api/v1/rooms/{ev['roomId']}")
    assert status == 200 and info["state"] == "ended" and info["participants"] == 0, info


@pytest.mark.timeout(120)
def test_ended_and_on_demand_events_show_a_message_instead_of_the_form(served):
    """R-ROOM-4 and R-ROOM-14: an event that is over says so in the room's language (Russian here), with no
    join form; an on-demand event's room link leads to its watch page (tests/e2e/test_watch_page.py)."""
    org = Organiser(served)
    ev = org.event(name="Прошедший вебинар", language="ru")
    org.call("POST", f"/api/v1/events/{ev['id']}/end", status=200)
    status, err = guest(
        served, "POST", f"/api/v1/rooms/{ev['roomId']}/join", {"name": "A", "email": "a@example.test"}
    )
    assert status == 410 and err["error"]["code"] == "ended"
    od = org.event(kind="on_demand", name="Replay")
    with browser.chromium() as d:
        open_room(d, f"{served}/room/{ev['roomId']}")
        wait(d, lambda d: state(d).get("screen") == "ended", "the ended screen")
        assert text(d, "#ended-title") == "Мероприятие завершено"
        assert text(d, "#ended-text").startswith("Оно закончилось")
        assert not visible(d, "#join-form") and state(d)["error"] == "ended"
        shot(d, "access-ended-ru.png")

        d.get(f"{served}/room/{od['roomId']}")
        assert browser.poll(lambda: d.current_url.endswith(f"/watch/{od['roomId']}"), bool, 15, 0.2), (
            d.current_url
        )
    # no video attached yet: joining says so (R-AUTO-2)
    status, err = guest(
        served, "POST", f"/api/v1/rooms/{od['roomId']}/join", {"name": "A", "email": "a@example.test"}
    )
    assert status == 409 and err["error"]["code"] == "no_video"


@pytest.mark.timeout(120)
def test_the_host_records_with_one_button_and_everyone_sees_rec(served):
    """R-REC-1: the host's REC button starts recording an event's room; the blinking red REC indicator appears
    for the host and the attendee, and goes when the host stops; the recording lands in the account's list."""
    org = Organiser(served)
    ev = org.event(name="Recorded talk")
    with browser.chromium() as host, browser.chromium() as att:
        join_as(host, host_link(served, ev), "Olga", "host")
        join_as(att, f"{served}/room/{ev['roomId']}", "Mark", "attendee")
        assert not visible(att, "#room-rec") and not visible(host, "#room-rec")
        click(host, "#btn-host")
        assert text(host, "#host-rec") == "Start recording"
        click(host, "#host-rec")
        for d in (host, att):
            blinking(d, "#room-rec", "REC")
        wait(host, lambda d: text(d, "#host-rec") == "Stop recording", "the stop button")
        shot(att, "room-recording-1280x800.png")
        time.sleep(2)
        click(host, "#host-rec")
        for d in (host, att):
            wait(d, lambda d: not visible(d, "#room-rec"), "the indicator goes")
    recs = org.call("GET", "/api/v1/recordings", None, 200)
    assert recs["total"] == 1 and recs["items"][0]["eventId"] == ev["id"]
