"""The landing page and the room page in headless Chromium, against the installed server.

Creates a room through the landing page's form, joins it as the host and as an attendee in a second
browser, checks the attendee sees and hears the host, walks through the refusals (wrong ID, lobby,
waiting, locked, removed, ended) and the host controls, and saves screenshots at 1280x800 and 390x844
to tests/artifacts/. Skips (with the reason) while the server lacks the room routes.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import loopback_only_ice
from tests.e2e import browser

loopback_only_ice()

_why = browser.missing()
# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = [
    pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}"),
    pytest.mark.alone,
]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
ANDROID_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Mobile Safari/537.36"
)
DESKTOP_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
)


# ---------- helpers ----------


def http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw or b"null")
    except ValueError:
        return status, raw.decode(errors="replace")


@pytest.fixture(scope="module")
def base(server_process) -> str:
    """The server's URL, or a skip while it does not serve the room protocol and the SDK yet."""
    url = server_process["base_url"]
    status, _ = http("POST", f"{url}/api/v1/rooms", {})
    if status == 404:
        pytest.skip("the server has no room routes yet (POST /api/v1/rooms answers 404)")
    for path in ("/sdk/mediaserver.js", "/static/room.html"):
        try:
            with urllib.request.urlopen(url + path, timeout=5):
                pass
        except urllib.error.HTTPError as e:
            pytest.skip(f"the server does not serve {path} yet ({e.code})")
    return url


@pytest.fixture
def browsers() -> Iterator[Callable[[], Any]]:
    """A factory of headless Chromiums; every one quits when the test ends, pass or fail."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(browser.chromium())


def create_room(base: str, **opts: Any) -> dict[str, Any]:
    status, room = http("POST", f"{base}/api/v1/rooms", opts)
    assert status == 201, (status, room)
    return room


def until(driver: Any, script: str, pred: Callable[[Any], bool], timeout: float = 10) -> Any:
    """Run script in the page until pred(its result) holds."""
    got = browser.poll(lambda: driver.execute_script(script), pred, timeout, 0.1)
    assert pred(got), got
    return got


def viewport(driver: Any, width: int, height: int, phone: bool = False) -> None:
    """An exact CSS viewport and, for a phone, an iPhone's user agent (no client hints, as Safari) through the
    DevTools protocol; a computer's viewport puts the browser's own user agent back (the server refuses hosts
    and presenters whose user agent is a phone's, R-INT-5)."""
    ua = PHONE_UA if phone else driver.execute_cdp_cmd("Browser.getVersion", {})["userAgent"]
    driver.execute_cdp_cmd("Emulation.setUserAgentOverride", {"userAgent": ua})
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": phone},
    )


def emulate(driver: Any, user_agent: str, mobile: bool) -> None:
    """Chromium's own mobile emulation: a user agent with its client hints (userAgentMetadata), so that
    navigator.userAgentData.mobile and the Sec-CH-UA-Mobile header say ``mobile``; a 390x844 viewport."""
    meta = {
        "brands": [{"brand": "Chromium", "version": "126"}],
        "fullVersion": "126.0.0.0",
        "platform": "Android" if mobile else "Linux",
        "platformVersion": "14" if mobile else "",
        "architecture": "" if mobile else "x86",
        "model": "Pixel 8" if mobile else "",
        "mobile": mobile,
    }
    driver.execute_cdp_cmd(
        "Emulation.setUserAgentOverride", {"userAgent": user_agent, "userAgentMetadata": meta}
    )
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": mobile},
    )


def shot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path


def room_state(driver: Any) -> dict[str, Any]:
    return (
        driver.execute_script("return window.roomState ? JSON.parse(JSON.stringify(window.roomState)) : {};")
        or {}
    )


def room_stats(driver: Any) -> dict[str, Any]:
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "if (!window.roomStats) { done({error: 'no roomStats yet'}); return; }"
        "window.roomStats().then(done, (e) => done({error: String(e)}));"
    )


def wait_state(driver: Any, pred: Callable[[dict[str, Any]], bool], timeout: float = 15) -> dict[str, Any]:
    st = browser.poll(lambda: room_state(driver), pred, timeout)
    assert pred(st), (st, errors(driver, everything=True))
    return st


def errors(driver: Any, everything: bool = False, allow: tuple[str, ...] = ()) -> list[str]:
    """Console errors since the last call (everything: all messages), minus expected ones."""
    try:
        entries = driver.get_log("browser")
    except Exception as e:  # the log API is best effort
        return [f"(no console log: {e})"]
    out = []
    for e in entries:
        msg = e.get("message", "")
        if (everything or e.get("level") == "SEVERE") and not any(a in msg for a in allow):
            out.append(msg)
    return out


def click(driver: Any, css: str) -> None:
    driver.execute_script("document.querySelector(arguments[0]).click();", css)


def fill(driver: Any, css: str, value: str) -> None:
    from selenium.webdriver.common.by import By

    el = driver.find_element(By.CSS_SELECTOR, css)
    el.clear()
    el.send_keys(value)


def join_form(driver: Any, name: str, email: str) -> None:
    browser.poll(
        lambda: driver.execute_script(
            "return !!window.roomState && !document.querySelector('#join-form').closest('section').hidden;"
        ),
        bool,
        10,
    )
    fill(driver, "#join-name", name)
    fill(driver, "#join-email", email)
    click(driver, "#join-submit")


def grant_floor(host: Any, pid: str) -> None:
    """The host opens the people list and gives participant pid the floor."""
    click(host, "#btn-people")
    browser.poll(
        lambda: host.execute_script(
            "return !!document.querySelector(`#people-list "
            "button[data-act=grantFloor][data-id='${arguments[0]}']`);",
            pid,
        ),
        bool,
        10,
    )
    click(host, f"#people-list button[data-act=grantFloor][data-id='{pid}']")


def no_horizontal_scroll(driver: Any) -> None:
    w = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth];")
    assert w[0] <= w[1], f"horizontal scroll: content {w[0]}px wide in a {w[1]}px viewport"


def self_id(driver: Any) -> str:
    return room_state(driver)["self"]["id"]


# ---------- tests ----------


@pytest.mark.timeout(120)
def test_landing_creates_a_room_that_host_and_attendee_join_with_media(base, browsers):
    land = browsers()
    viewport(land, 1280, 800)
    land.get(f"{base}/")
    browser.poll(lambda: land.execute_script("return !!window.landingState;"), bool, 10)
    assert not errors(land), "landing page console errors"
    click(land, 'input[name="type"][value="meeting"]')
    fill(land, "#create-name", "Smoke meeting")
    click(land, "#create-submit")
    created = browser.poll(lambda: land.execute_script("return window.landingState.created;"), bool, 10)
    assert created and len(created["id"]) == 9 and created["id"].isdigit(), (created, errors(land, True))
    assert (
        land.execute_script("return document.querySelector('#res-id').textContent.replace(/ /g, '');")
        == created["id"]
    )
    assert (
        land.execute_script("return document.querySelector('#res-url').textContent;")
        == f"{base}/room/{created['id']}"
    )
    assert "?host=" in land.execute_script("return document.querySelector('#res-host').textContent;")
    shot(land, "landing-1280x800.png")
    viewport(land, 390, 844, phone=True)
    no_horizontal_scroll(land)
    shot(land, "landing-390x844.png")
    viewport(land, 1280, 800)

    # The landing page's "Join as host" button opens the host link; the form joins as host.
    click(land, "#res-join-host")
    host = land
    browser.poll(lambda: host.current_url, lambda u: "/room/" in u and "host=" in u, 10)
    join_form(host, "Hanna Host", "hanna@example.org")
    st = wait_state(host, lambda s: s.get("screen") == "room" and s.get("publishing"))
    assert st["role"] == "host" and st["status"] == "joined" and st["room"]["type"] == "meeting", st
    assert not host.execute_script("return document.querySelector('#btn-host').hidden;")

    # An attendee in another browser, by the room link.
    att = browsers()
    viewport(att, 1280, 800)
    att.get(f"{base}/room/{created['id']}")
    join_form(att, "Artem Attendee", "artem@example.org")
    st = wait_state(att, lambda s: s.get("screen") == "room")
    # A meeting starts in discussion mode: the attendee comes in with camera and microphone too.
    assert st["role"] == "attendee" and st["audioMode"] == "discussion", st
    got = browser.poll(
        lambda: room_stats(att),
        lambda s: s.get("error") or (s.get("framesDecoded", 0) > 20 and s.get("audioLevel", 0) > 0),
        25,
    )
    assert got.get("framesDecoded", 0) > 20 and got.get("audioLevel", 0) > 0, (
        got,
        room_state(att),
        errors(att, True),
    )
    assert room_stats(host).get("framesSent", 0) > 20
    # Both see each other: two tiles with video on each side.
    got = browser.poll(lambda: room_stats(host), lambda s: s.get("framesDecoded", 0) > 20, 20)
    assert got.get("framesDecoded", 0) > 20, got
    for d in (host, att):
        tiles = browser.poll(
            lambda d=d: d.execute_script(
                "return [...document.querySelectorAll('#media .tile')].map(t => "
                "t.classList.contains('has-video'));"
            ),
            lambda t: t == [True, True],
            15,
        )
        assert tiles == [True, True], tiles
    host_tile_playing = att.execute_script(
        "const v = document.querySelector('#media .tile.has-video video'); return v && v.videoWidth > 0 && "
        "!v.paused;"
    )
    assert host_tile_playing
    shot(host, "room-host-1280x800.png")
    shot(att, "room-attendee-1280x800.png")

    # The same attendee on a phone: no horizontal scroll, no screen-share button, still receiving.
    viewport(att, 390, 844, phone=True)
    att.refresh()
    join_form(att, "Artem Attendee", "artem@example.org")
    st = wait_state(att, lambda s: s.get("screen") == "room")
    assert st["mobile"], st
    got = browser.poll(lambda: room_stats(att), lambda s: s.get("framesDecoded", 0) > 20, 20)
    assert got.get("framesDecoded", 0) > 20, got
    assert att.execute_script("return document.querySelector('#btn-screen').hidden;")
    no_horizontal_scroll(att)
    shot(att, "room-attendee-390x844.png")
    click(att, "#btn-mydata")
    no_horizontal_scroll(att)
    shot(att, "room-attendee-mydata-390x844.png")

    # "My data" for the host: link, ID, PIN, embed snippet (R-INT-6, R-ROOM-12).
    click(host, "#btn-mydata")
    md = host.execute_script(
        "return {link: document.querySelector('#md-link').textContent, id: "
        "document.querySelector('#md-id').textContent,"
        " pin: document.querySelector('#md-pin').textContent, embed: "
        "document.querySelector('#md-embed').value};"
    )
    assert md["link"] == f"{base}/room/{created['id']}" and md["id"].replace(" ", "") == created["id"], md
    assert md["pin"] == created["pin"], md
    assert md["embed"].startswith(f'<iframe src="{base}/room/{created["id"]}"'), md
    assert 'allow="camera; microphone; display-capture; autoplay"' in md["embed"], md
    shot(host, "room-host-mydata-1280x800.png")
    assert not errors(host), "host console errors"
    assert not errors(att), "attendee console errors"


@pytest.mark.timeout(120)
def test_refusals_lobby_waiting_lock_remove_end(base, browsers):
    # The landing page's "Join by room ID": 9 digits, and an ID that exists.
    a = browsers()
    viewport(a, 1280, 800)
    a.get(f"{base}/")
    browser.poll(lambda: a.execute_script("return !!window.landingState;"), bool, 10)
    for typed, code in (("12345", "invalid_id"), ("012 345 678", "not_found")):
        fill(a, "#id-input", typed)
        click(a, "#id-submit")
        assert (
            browser.poll(
                lambda: a.execute_script("return window.landingState.error;"),
                lambda e, code=code: e == code,
                5,
            )
            == code
        )
        assert a.execute_script("return !document.querySelector('#id-error').hidden;")
    room = create_room(base, type="meeting", name="By ID")
    fill(a, "#id-input", room["id"])
    click(a, "#id-submit")
    assert browser.poll(lambda: a.current_url, lambda u: u.endswith(f"/room/{room['id']}"), 10).endswith(
        room["id"]
    )
    wait_state(a, lambda s: s.get("screen") == "join" and (s.get("room") or {}).get("name") == "By ID")

    # A wrong ID on the room page: a clear message on the join form.
    a.get(f"{base}/room/012345678")
    st = wait_state(a, lambda s: s.get("error") == "not_found")
    assert st["screen"] == "join"
    assert "9 digits" in a.execute_script("return document.querySelector('#join-error').textContent;")
    errors(a)

    # Lobby (R-ROOM-8): agenda and message until the host starts.
    room = create_room(
        base,
        type="meeting",
        capacity=2,
        start="lobby",
        name="Lobby test",
        agenda="1. Welcome\n2. Demo",
        message="We start at ten.",
    )
    a.get(f"{base}/room/{room['id']}")
    join_form(a, "Early Bird", "early@example.org")
    st = wait_state(a, lambda s: s.get("screen") == "lobby")
    assert st["status"] == "lobby"
    text = a.execute_script("return document.querySelector('#screen-lobby').innerText;")
    assert "2. Demo" in text and "We start at ten." in text, text
    shot(a, "lobby-1280x800.png")

    host = browsers()
    viewport(host, 1280, 800)
    host.get(f"{base}{room['hostUrl']}&name=Host&email=host@example.org&autojoin=1")
    wait_state(host, lambda s: s.get("screen") == "room" and s.get("role") == "host")
    host.execute_script("window.confirm = () => true;")
    click(host, "#btn-host")
    assert not host.execute_script("return document.querySelector('#host-start-box').hidden;")
    click(host, "#host-start")
    wait_state(a, lambda s: s.get("screen") == "room" and s.get("status") == "joined")

    # Full room (capacity 2: host + early bird): a newcomer waits; raising the capacity lets them in.
    b = browsers()
    viewport(b, 1280, 800)
    b.get(f"{base}/room/{room['id']}")
    join_form(b, "Late Comer", "late@example.org")
    wait_state(b, lambda s: s.get("screen") == "waiting")
    shot(b, "waiting-1280x800.png")
    fill(host, "#host-capacity", "3")
    click(host, "#host-capacity-set")
    wait_state(b, lambda s: s.get("screen") == "room")
    wait_state(host, lambda s: s.get("room", {}).get("capacity") == 3)

    # Remove (the host's participant list): the attendee sees why.
    click(host, "#btn-people")
    late = self_id(b)
    browser.poll(
        lambda: host.execute_script(
            "return !!document.querySelector(`#people-list "
            "button[data-act=remove][data-id='${arguments[0]}']`);",
            late,
        ),
        bool,
        10,
    )
    click(host, f"#people-list button[data-act=remove][data-id='{late}']")
    st = wait_state(b, lambda s: s.get("screen") == "removed")
    assert st["error"] == "removed", st
    shot(b, "removed-1280x800.png")

    # Lock: newcomers are refused with a clear message; unlock lets them in again.
    click(host, "#btn-host")
    click(host, "#panel-host .lock-btn")
    wait_state(host, lambda s: s.get("room", {}).get("locked") is True)
    b.get(f"{base}/room/{room['id']}")
    join_form(b, "Late Comer", "late@example.org")
    st = wait_state(b, lambda s: s.get("error") == "locked")
    assert st["screen"] == "join"
    assert "locked" in b.execute_script("return document.querySelector('#join-error').textContent;")

    # End the session: everyone sees it ended; the room refuses joins afterwards (R-ROOM-13).
    click(host, "#panel-host .end-btn")
    wait_state(a, lambda s: s.get("screen") == "ended")
    wait_state(host, lambda s: s.get("screen") == "ended")
    b.get(f"{base}/room/{room['id']}")
    wait_state(b, lambda s: s.get("screen") == "ended")
    shot(b, "ended-1280x800.png")
    expected = ("Failed to load resource",)  # the 404 / 403 / 410 answers this test provokes
    for d in (a, b, host):
        assert not errors(d, allow=expected), "console errors"


@pytest.mark.timeout(120)
def test_webinar_stage_floor_and_audio_modes_in_russian(base, browsers):
    room = create_room(base, type="webinar", name="Вебинар", language="ru")
    host = browsers()
    viewport(host, 1280, 800)
    host.get(f"{base}{room['hostUrl']}&name=Ольга Ведущая&email=olga@example.org&autojoin=1")
    st = wait_state(host, lambda s: s.get("screen") == "room" and s.get("publishing"))
    assert host.execute_script("return document.documentElement.lang;") == "ru"
    assert host.execute_script("return document.querySelector('#btn-leave span').textContent;") == "Выйти"

    att = browsers()
    viewport(att, 390, 844, phone=True)
    att.get(f"{base}/room/{room['id']}")
    assert att.execute_script("return document.querySelector('#join-submit').textContent;") in (
        "Войти",
        "Join",
    )
    join_form(att, "Пётр Зритель", "petr@example.org")
    st = wait_state(att, lambda s: s.get("screen") == "room")
    assert st["role"] == "attendee" and st["room"]["type"] == "webinar" and st["audioMode"] == "listen", st
    assert att.execute_script("return document.querySelector('#join-submit').textContent;") == "Войти"
    # Webinar stage: the presenter big; an attendee cannot use the microphone in listen-only mode.
    assert att.execute_script("return document.querySelector('#media').classList.contains('stage');")
    assert att.execute_script("return document.querySelector('#btn-mic').disabled;")
    got = browser.poll(lambda: room_stats(att), lambda s: s.get("framesDecoded", 0) > 20, 20)
    assert got.get("framesDecoded", 0) > 20, got
    assert att.execute_script("return !!document.querySelector('#stage-main .tile.has-video');")
    no_horizontal_scroll(att)
    shot(att, "webinar-attendee-ru-390x844.png")

    # Grant the floor (R-ROOM-3): the attendee publishes, the host receives them; revoke stops it.
    pid = self_id(att)
    grant_floor(host, pid)
    wait_state(att, lambda s: s.get("publishing") is True)
    got = browser.poll(lambda: room_stats(host), lambda s: s.get("framesDecoded", 0) > 20, 20)
    assert got.get("framesDecoded", 0) > 20, got
    shot(host, "webinar-host-floor-ru-1280x800.png")
    click(host, f"#people-list button[data-act=revokeFloor][data-id='{pid}']")
    wait_state(att, lambda s: s.get("publishing") is False)

    # Audio mode "presenters only" (R-ROOM-2): the attendee is told and gets nothing.
    click(host, "#btn-host")
    click(host, '#panel-host input[name="audio-mode"][value="presenters"]')
    wait_state(att, lambda s: s.get("audioMode") == "presenters")
    assert att.execute_script("return !document.querySelector('#media-empty').hidden;")
    shot(host, "webinar-host-panel-ru-1280x800.png")
    click(host, '#panel-host input[name="audio-mode"][value="listen"]')
    wait_state(att, lambda s: s.get("audioMode") == "listen")
    assert not errors(host), "host console errors"
    assert not errors(att), "attendee console errors"


@pytest.mark.timeout(60)
def test_sdk_helpers_in_the_browser(base, browsers):
    page = browsers()
    page.get(f"{base}/static/room.html?id=123456789")  # any page of ours: the modules load from it
    res = page.execute_async_script("""
        const done = arguments[arguments.length - 1];
        Promise.all([import('/sdk/embed.js'), import('/sdk/mediaserver.js')]).then(([embed, sdk]) => done({
          snippet: embed.embedSnippet('https://meet.example.org', '123456789', {width: 800, height: 450}),
          speaker: sdk.pickSpeaker({a: 0.1, b: 0.3}, 'a'),
          keep: sdk.pickSpeaker({a: 0.25, b: 0.3}, 'a'),
          silent: sdk.pickSpeaker({a: 0.001}, null),
          ws: sdk.wsUrl('https://meet.example.org'),
        }), (e) => done({error: String(e)}));""")
    assert res.get("snippet") == (
        '<iframe src="https://meet.example.org/room/123456789" width="800" height="450" '
        'allow="camera; microphone; display-capture; autoplay" allowfullscreen style="border:0" '
        'title="Room 123456789"></iframe>'
    ), res
    assert res["speaker"] == "b" and res["keep"] == "a" and res["silent"] is None, res
    assert res["ws"] == "wss://meet.example.org/ws", res


@pytest.mark.timeout(150)
def test_four_pages_host_presenter_two_attendees(base, browsers):
    """The issue's scenario: a host, a presenter and two attendees. Attendees see and hear the presenter;
    presenters-only mode stops their media (R-ROOM-2), listen-only keeps their microphones off, and the
    floor lets one of them speak to everyone (R-ROOM-3)."""
    room = create_room(base, type="meeting", name="Four pages", audioMode="listen")
    host, pres, a1, a2 = browsers(), browsers(), browsers(), browsers()
    for d in (host, pres, a1, a2):
        viewport(d, 1280, 800)
    host.get(f"{base}{room['hostUrl']}&name=Hal&email=hal@example.org&autojoin=1")
    wait_state(host, lambda s: s.get("screen") == "room" and s.get("publishing"))
    pres.get(f"{base}{room['presenterUrl']}&name=Pia&email=pia@example.org&autojoin=1")
    st = wait_state(pres, lambda s: s.get("screen") == "room" and s.get("publishing"))
    assert st["role"] == "presenter", st
    for d, name in ((a1, "Ann"), (a2, "Bob")):
        d.get(f"{base}/room/{room['id']}")
        join_form(d, name, f"{name.lower()}@example.org")
        st = wait_state(d, lambda s: s.get("screen") == "room")
        assert st["role"] == "attendee" and not st.get("publishing"), st
    # Both attendees receive both speakers: two videos decoding, audio with a level.
    for d in (a1, a2):
        got = browser.poll(
            lambda d=d: room_stats(d),
            lambda s: s.get("framesDecoded", 0) > 60 and s.get("audioLevel", 0) > 0,
            30,
        )
        assert got.get("framesDecoded", 0) > 60 and got.get("audioLevel", 0) > 0, got
        assert d.execute_script("return document.querySelector('#btn-mic').disabled;")  # listen-only
    shot(a1, "four-pages-attendee-1280x800.png")

    # Presenters only: attendees' decoding stops (the server pauses their consumers).
    click(host, "#btn-host")
    click(host, '#panel-host input[name="audio-mode"][value="presenters"]')
    wait_state(a1, lambda s: s.get("audioMode") == "presenters")
    time.sleep(1.0)
    before = room_stats(a1).get("framesDecoded", 0)
    time.sleep(2.0)
    assert room_stats(a1).get("framesDecoded", 0) - before <= 2, (
        "attendee still decodes in presenters-only mode"
    )
    got = browser.poll(lambda: room_stats(pres), lambda s: s.get("framesDecoded", 0) > 20, 10)
    assert got.get("framesDecoded", 0) > 20, got  # presenters still see each other
    click(host, '#panel-host input[name="audio-mode"][value="listen"]')
    wait_state(a1, lambda s: s.get("audioMode") == "listen")
    before = room_stats(a1).get("framesDecoded", 0)
    assert browser.poll(lambda: room_stats(a1), lambda s: s.get("framesDecoded", 0) > before + 20, 15)

    # The floor: Bob speaks, Ann receives him.
    pid = self_id(a2)
    grant_floor(host, pid)
    wait_state(a2, lambda s: s.get("publishing") is True)
    tiles = browser.poll(
        lambda: a1.execute_script("return document.querySelectorAll('#media .tile.has-video').length;"),
        lambda n: n >= 3,
        20,
    )
    assert tiles >= 3, tiles
    shot(a1, "four-pages-floor-1280x800.png")
    for d in (host, pres, a1, a2):
        assert not errors(d), "console errors"


@pytest.mark.timeout(60)
def test_room_modules_load_in_chromium(base, browsers):
    """The room page's ES modules (signaling/static/room/, no build step) all load natively and run without a
    console error: the join screen shows the room, window.roomState and window.roomStats are there."""
    room = create_room(base, type="meeting", name="Modules")
    d = browsers()
    d.get(f"{base}/room/{room['id']}")
    wait_state(d, lambda s: s.get("screen") == "join" and (s.get("room") or {}).get("name") == "Modules")
    assert d.execute_script("return document.querySelector('#join-room-name').textContent;") == "Modules"
    assert d.execute_script("return typeof window.roomStats;") == "function"
    loaded = d.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
        ".filter((u) => u.includes('/static/room/')).map((u) => u.split('/').pop());"
    )
    modules = Path(__file__).resolve().parents[2] / "signaling" / "static" / "room"
    assert sorted(loaded) == sorted(p.name for p in modules.glob("*.js"))
    assert not errors(d, allow=("favicon",)), "console errors"


@pytest.mark.timeout(60)
def test_received_audio_the_browser_will_not_autoplay_starts_with_a_click(base):
    """Safari plays received audio only after a click on the page unless the page captures (issue 15): a
    receive-only attendee there heard nothing, silently. WebKitGTK here has no WebRTC, so Chromium stands in,
    with the autoplay policy that wants a user activation and a page that joins without a click (autojoin):
    the page shows "Turn the sound on", and a real click on it plays the host's audio."""
    from selenium.webdriver.common.by import By

    room = create_room(base, type="webinar", name="Sound")
    with (
        browser.chromium() as host,
        browser.chromium(("--autoplay-policy=document-user-activation-required",)) as att,
    ):
        host.get(f"{base}{room['hostUrl']}&name=Host&email=host@example.org&autojoin=1")
        wait_state(host, lambda s: s.get("screen") == "room" and s.get("publishing"))
        att.get(f"{base}/room/{room['id']}?name=Ann&email=ann@example.org&autojoin=1")
        wait_state(att, lambda s: s.get("screen") == "room" and s.get("soundBlocked"))

        def audio() -> list[bool]:
            return att.execute_script(
                "return [...document.querySelectorAll('#audio-sink audio')].map(a => !a.paused);"
            )

        assert audio() == [False]
        button = att.find_element(By.ID, "sound-on")
        assert button.is_displayed() and button.text == "Turn the sound on"
        button.click()  # a real click: the user activation the browser waits for
        assert browser.poll(audio, lambda a: bool(a) and all(a), 10) == [True]
        st = wait_state(att, lambda s: s.get("soundBlocked") is False)
        assert not att.find_element(By.ID, "sound-on").is_displayed(), st
        assert not errors(att), "console errors"


@pytest.mark.timeout(120)
def test_a_phone_in_chromium_mobile_emulation(base, browsers):
    """A phone (Chromium's mobile emulation: Android Chrome's user agent and client hints) joins as an
    attendee only and shares no screen, whatever its page or the SDK claims (R-MEDIA-1, -7, R-INT-5)."""
    room = create_room(base, type="meeting", name="Phones")  # discussion mode: an attendee may publish
    phone = browsers()
    emulate(phone, ANDROID_UA, mobile=True)

    # The host link opened on a phone: told on the form, refused by the server, offered the attendee link.
    phone.get(f"{base}{room['hostUrl']}")
    wait_state(phone, lambda s: s.get("screen") == "join" and s.get("room"))
    told = phone.execute_script(
        "return [document.querySelector('#join-as').textContent,"
        "!document.querySelector('#join-as-attendee').hidden];"
    )
    assert told == [
        "Hosts and presenters join from a computer: on a phone or tablet you can join as an attendee.",
        True,
    ], told
    phone.get(f"{base}{room['hostUrl']}&name=Pat&email=pat@example.org&autojoin=1")
    st = wait_state(phone, lambda s: s.get("error") == "staff_on_mobile")
    assert st["screen"] == "join" and st["mobile"] and st["role"] == "host", st
    texts = phone.execute_script(
        "return ['#join-as', '#join-error'].map((s) => { const e = document.querySelector(s);"
        "return e.hidden ? null : e.textContent; });"
    )
    assert texts == [
        None,
        "Hosts and presenters join from a computer’s browser: phones and tablets join as attendees.",
    ], texts
    href = phone.execute_script(
        "const a = document.querySelector('#join-as-attendee');"
        "return a.hidden ? null : a.getAttribute('href');"
    )
    assert href == f"/room/{room['id']}?name=Pat&email=pat%40example.org", href
    shot(phone, "phone-host-link-390x844.png")
    click(phone, "#join-as-attendee")
    browser.poll(lambda: phone.current_url, lambda u: "host=" not in u, 10)
    join_form(phone, "Pat", "pat@example.org")
    st = wait_state(phone, lambda s: s.get("screen") == "room" and s.get("publishing"))
    assert st["role"] == "attendee" and st["mobile"], st
    assert phone.execute_script("return document.querySelector('#btn-screen').hidden;")
    no_horizontal_scroll(phone)

    # The SDK forced: another connection of this phone says 'desktop' and sends a canvas as a screen.
    forced = phone.execute_async_script("""
        const done = arguments[arguments.length - 1];
        (async () => {
          const { MediaserverClient } = await import('/sdk/mediaserver.js');
          const c = new MediaserverClient(location.origin);
          const info = await c.join(window.roomState.joinToken, { device: 'desktop' });
          const canvas = Object.assign(document.createElement('canvas'), { width: 320, height: 240 });
          canvas.getContext('2d').fillRect(0, 0, 320, 240);
          let code = null;
          try { await c.publish(canvas.captureStream(5), { sources: { video: 'screen' } }); }
          catch (e) { code = e.code || String(e); }
          await c.leave();
          return { device: info.device, code };
        })().then(done, (e) => done({ error: String(e) }));""")
    assert forced == {"device": "mobile", "code": "not_on_mobile"}, forced

    # Sec-CH-UA-Mobile on its own: a desktop user agent with the mobile hint. Chromium sends the hint on
    # page loads and fetch() (a WHIP publisher is refused on it), not on the WebSocket upgrade (measured:
    # there the user agent is all the server sees, the documented limit of docs/signaling.md).
    emulate(phone, DESKTOP_UA, mobile=True)
    phone.get(f"{base}/room/{room['id']}")
    hinted = phone.execute_async_script(
        """
        const [id, key, done] = arguments;
        (async () => {
          const { MediaserverClient } = await import('/sdk/mediaserver.js');
          const grant = await MediaserverClient.joinRoom(location.origin, id,
            { name: 'Enc', email: 'enc@example.org', presenterKey: key });
          const pc = new RTCPeerConnection();
          pc.addTransceiver('video', { direction: 'sendonly' });
          const offer = await pc.createOffer();
          pc.close();
          const r = await fetch(`/whip/${id}`, { method: 'POST', body: offer.sdp,
            headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${grant.token}` } });
          const c = new MediaserverClient(location.origin);
          const info = await c.join(grant.token, { device: 'desktop' });
          await c.leave();
          return { whip: r.status, code: (await r.json()).error.code, ws: info.participant.role,
                   hint: navigator.userAgentData.mobile, mobileUa: MediaserverClient.isMobile() };
        })().then(done, (e) => done({ error: String(e) }));""",
        room["id"],
        room["presenterKey"],
    )
    assert hinted == {
        "whip": 403,
        "code": "not_on_mobile",
        "ws": "presenter",
        "hint": True,
        "mobileUa": True,
    }, hinted
    assert not errors(phone, allow=("Failed to load resource",)), "phone console errors"
