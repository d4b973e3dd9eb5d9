"""Branding on the pages people see (R-ROOM-11), in headless Chromium against a real `mediaserver serve`:
the account's logo and colours and the event's own colours and background images (the event's over the
account's, key by key) are applied on the join screen and in the room, on the registration form, in the
lobby, on the thank-you screen and on the watch page of an on-demand event: the logo image is shown
(loaded, visible) and the colours and backgrounds are what the browser computes. The images come from a web
server of their own on loopback, as from an organiser's CDN; the public event info gives the pages only
what they show."""

from __future__ import annotations

import http.server
import json
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import smtp  # noqa: F401  (the real SMTP server fixture of `served`)
from tests.e2e import browser
from tests.e2e.test_room_access import Organiser, click, fill, guest, served, shot, state, wait  # noqa: F401

_why = browser.missing()
pytestmark = pytest.mark.skipif(_why is not None, reason=f"Chromium end-to-end tests need a browser: {_why}")

COLORS = {"primary": "#c0392b", "accent": "#27ae60", "background": "#102030", "text": "#fafad2"}
EVENT_PRIMARY = "#8e44ad"


def rgb(hex_colour: str) -> str:
    n = int(hex_colour[1:], 16)
    return f"rgb({n >> 16}, {(n >> 8) & 255}, {n & 255})"


def png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written by hand (zlib + CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + bytes(colour) * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Iterator[str]:
    """The organiser's images on a web server of their own (another origin than the mediaserver's)."""
    folder: Path = tmp_path_factory.mktemp("cdn")
    for name, colour in (
        ("logo", (240, 200, 0)),
        ("room", (20, 90, 160)),
        ("registration", (160, 60, 20)),
        ("lobby", (30, 140, 60)),
        ("thanks", (120, 30, 140)),
        ("watch", (90, 90, 90)),
    ):
        (folder / f"{name}.png").write_bytes(
            png(120 if name == "logo" else 64, 40 if name == "logo" else 64, colour)
        )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, directory=str(folder), **kw)

        def log_message(self, *a: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def look(d: Any) -> dict[str, Any]:
    """What the browser shows of the branding on the current screen."""
    return d.execute_script("""
        const logo = document.getElementById('brand-logo');
        const body = getComputedStyle(document.body);
        const button = document.querySelector('button.primary:not([hidden]), #watch');
        const top = document.querySelector('.topbar, header');
        const r = logo ? logo.getBoundingClientRect() : {width: 0, height: 0};
        return {screen: document.body.dataset.screen || null,
                logo: logo ? {src: logo.currentSrc, loaded: logo.complete && logo.naturalWidth > 0,
                              shown: !logo.hidden && r.width > 0 && r.height > 0
                                     && getComputedStyle(logo).visibility === 'visible'} : null,
                background: body.backgroundColor, color: body.color, image: body.backgroundImage,
                button: button ? getComputedStyle(button).backgroundColor : null,
                rule: top ? getComputedStyle(top).borderBottomColor : null,
                loaded: performance.getEntriesByType('resource').map((e) => e.name)};""")


def check(d: Any, images: str, background: str, primary: str, what: str) -> dict[str, Any]:
    seen = wait(
        d,
        # the image itself fetched too (a CSS background is requested once styles apply: a CI run once
        # looked before it was)
        lambda d: (
            lambda v: (
                v
                if v["logo"]
                and v["logo"]["loaded"]
                and background in v["image"]
                and f"{images}/{background}" in v["loaded"]
                else None
            )
        )(look(d)),
        f"{what}: the logo and the {background} background",
        15,
    )
    assert seen["logo"] == {"src": f"{images}/logo.png", "loaded": True, "shown": True}, (what, seen)
    assert seen["image"] == f'url("{images}/{background}")', (what, seen)
    assert f"{images}/{background}" in seen["loaded"], (what, seen["loaded"])  # the image itself came
    assert (seen["background"], seen["color"]) == (rgb(COLORS["background"]), rgb(COLORS["text"])), (
        what,
        seen,
    )
    assert seen["button"] == rgb(primary), (what, seen)
    assert seen["rule"] == rgb(COLORS["accent"]), (what, seen)
    return seen


@pytest.mark.timeout(150)
def test_branding_on_the_room_registration_lobby_thank_you_and_watch_pages(served, images):  # noqa: F811
    org = Organiser(served)
    org.call(
        "PATCH",
        "/api/v1/account/settings",
        {
            "branding": {
                "logo": f"{images}/logo.png",
                "colors": COLORS,
                "backgrounds": {"room": f"{images}/room.png"},
                "signature": "Olga, Romashka LLC",
                "emailBlocks": [{"type": "link"}],
            }
        },
        200,
    )
    ev = org.call(
        "POST",
        "/api/v1/events",
        {
            "kind": "permanent",
            "name": "Branded talk",
            "lobbyMessage": "Coffee first",
            "registration": {"enabled": True},
            "branding": {
                "colors": {"primary": EVENT_PRIMARY},
                "backgrounds": {
                    "registration": f"{images}/registration.png",
                    "lobby": f"{images}/lobby.png",
                    "thankYou": f"{images}/thanks.png",
                },
            },
        },
        201,
    )
    # the public info merges the event's branding over the account's key by key, and gives nothing else of it
    _, public = guest(served, "GET", f"/api/v1/public/events/{ev['roomId']}")
    assert public["branding"] == {
        "logo": f"{images}/logo.png",
        "colors": {**COLORS, "primary": EVENT_PRIMARY},
        "backgrounds": {
            "room": f"{images}/room.png",
            "registration": f"{images}/registration.png",
            "lobby": f"{images}/lobby.png",
            "thankYou": f"{images}/thanks.png",
        },
    }
    assert "Romashka" not in json.dumps(public)

    with browser.chromium() as d:
        d.get(f"{served}/room/{ev['roomId']}")
        wait(d, lambda d: state(d).get("event"), "the page loads the event's public info")
        check(d, images, "room.png", EVENT_PRIMARY, "join screen")
        shot(d, "branding-join.png")

        fill(d, "#join-name", "Bea Brand")
        fill(d, "#join-email", "bea@example.test")
        click(d, "#join-submit")  # not registered yet: the registration form (R-ROOM-9)
        wait(d, lambda d: state(d).get("screen") == "register", "the registration form")
        check(d, images, "registration.png", EVENT_PRIMARY, "registration form")
        shot(d, "branding-registration.png")

        click(d, "#reg-submit")  # registered, then in the lobby: not started (R-ROOM-8)
        wait(d, lambda d: state(d).get("screen") == "lobby", "the lobby", 20)
        seen = check(d, images, "lobby.png", EVENT_PRIMARY, "lobby")
        assert (
            d.execute_script("return document.getElementById('lobby-message').textContent") == "Coffee first"
        )
        shot(d, "branding-lobby.png")

        org.call("POST", f"/api/v1/events/{ev['id']}/start", None, 200)
        wait(d, lambda d: state(d).get("screen") == "room", "the room once the event starts", 20)
        seen = look(d)
        assert seen["image"] == f'url("{images}/room.png")' and seen["logo"]["shown"], seen
        assert seen["background"] == rgb(COLORS["background"]) and seen["rule"] == rgb(COLORS["accent"]), seen
        shot(d, "branding-room.png")

        org.call("POST", f"/api/v1/events/{ev['id']}/end", None, 200)  # no thank-you URL: our own screen
        wait(d, lambda d: state(d).get("screen") == "ended", "the thank-you screen", 20)
        check(d, images, "thanks.png", EVENT_PRIMARY, "thank-you screen")
        assert d.execute_script(
            "return getComputedStyle(document.querySelector('#screen-ended a.button')).color"
        ) == rgb(COLORS["text"])
        shot(d, "branding-thank-you.png")

        # an on-demand event of the same account: the watch page (its own room background, the account's
        # colours)
        od = org.call(
            "POST",
            "/api/v1/events",
            {
                "kind": "on_demand",
                "name": "Replay",
                "branding": {"backgrounds": {"room": f"{images}/watch.png"}},
            },
            201,
        )
        d.get(f"{served}/watch/{od['roomId']}")
        browser.poll(
            lambda: d.execute_script("return window.watchState && window.watchState.phase"),
            lambda phase: phase == "form",
            15,
        )
        check(d, images, "watch.png", COLORS["primary"], "watch page")
        shot(d, "branding-watch.png")


def test_no_branding_leaves_the_default_look(served):  # noqa: F811
    """Without branding the pages keep their own look and show no logo."""
    org = Organiser(served)
    ev = org.call("POST", "/api/v1/events", {"kind": "permanent", "name": "Plain"}, 201)
    _, public = guest(served, "GET", f"/api/v1/public/events/{ev['roomId']}")
    assert public["branding"] == {}
    with browser.chromium() as d:
        d.get(f"{served}/room/{ev['roomId']}")
        wait(d, lambda d: state(d).get("event"), "the page loads the event's public info")
        seen = look(d)
        assert seen["logo"]["shown"] is False and seen["image"] == "none", seen
        assert seen["background"] == rgb("#0f1115") and seen["button"] == rgb("#3d7eff"), seen
