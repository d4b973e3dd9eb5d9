"""The server's own view of a participant's device (R-MEDIA-1, R-MEDIA-7, R-INT-5), from real user agents and
the Sec-CH-UA-Mobile client hint: mobile if the client says so or its headers do."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from mediaserver.rtc import devices
from mediaserver.rtc import room_rules as rules

PHONES_AND_TABLETS = {
    "iPhone Safari": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "iPhone Chrome": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1",
    "Android Chrome": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36",
    "Android tablet Chrome": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Samsung Internet": "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "Firefox Android": "Mozilla/5.0 (Android 14; Mobile; rv:127.0) Gecko/127.0 Firefox/127.0",
    "Edge Android": "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36 EdgA/126.0.0.0",
    "iPad before iPadOS 13": "Mozilla/5.0 (iPad; CPU OS 12_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/12.1 Mobile/15E148 Safari/604.1",
    "Kindle Fire Silk": "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Silk/126.2.1 like Chrome/126.0.6478.71 Safari/537.36",
    "Windows Phone Edge": "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
    "Opera Mini": "Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348; U; en) "
    "Presto/2.5.25 Version/10.54",
}

SAFARI_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 "
    "Safari/605.1.15"
)
COMPUTERS = {
    "Chrome Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Chrome macOS": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "Chrome OS": "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36",
    "headless Chromium": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/126.0.0.0 Safari/537.36",
    "Firefox Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Firefox Linux": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Safari macOS": SAFARI_MAC,
    "Edge Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
    "Opera Windows": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 OPR/112.0.0.0",
    "Yandex Browser": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 YaBrowser/24.6.0.0 Safari/537.36",
    "ffmpeg WHIP": "Lavf/61.1.100",
    "aiohttp": "Python/3.11 aiohttp/3.9.5",
}


@pytest.mark.parametrize("name", sorted(PHONES_AND_TABLETS))
def test_phones_and_tablets_are_mobile(name):
    assert devices.from_user_agent(PHONES_AND_TABLETS[name]) == "mobile"
    # the client's word cannot turn them into computers
    headers = CIMultiDict({"User-Agent": PHONES_AND_TABLETS[name]})
    assert devices.effective("desktop", devices.from_headers(headers)) == "mobile"


@pytest.mark.parametrize("name", sorted(COMPUTERS))
def test_computers_are_desktop(name):
    assert devices.from_user_agent(COMPUTERS[name]) == "desktop"
    headers = CIMultiDict({"user-agent": COMPUTERS[name], "sec-ch-ua-mobile": "?0"})
    assert devices.effective("desktop", devices.from_headers(headers)) == "desktop"
    assert devices.effective("mobile", devices.from_headers(headers)) == "mobile"  # the client's word counts


def test_the_client_hint_makes_a_desktop_user_agent_mobile():
    # Chromium on Android in "request desktop site" sends a desktop user agent; the hint, when ?1, still tells
    headers = CIMultiDict({"User-Agent": COMPUTERS["headless Chromium"], "Sec-CH-UA-Mobile": " ?1"})
    assert devices.from_headers(headers) == "mobile"
    assert devices.from_headers(CIMultiDict({"Sec-CH-UA-Mobile": "?1"})) == "mobile"
    assert devices.from_headers(CIMultiDict({"Sec-CH-UA-Mobile": "?0"})) == "desktop"
    assert devices.from_headers(CIMultiDict()) == "desktop"  # nothing said: a computer (an encoder, a script)


def test_what_the_server_cannot_see():
    """The documented limit: iPadOS 13+ Safari sends exactly the Mac's user agent and no client hints, so only
    the page (touch points) can say it is a tablet; the server goes by that word."""
    ipad = CIMultiDict({"User-Agent": SAFARI_MAC})
    assert devices.from_headers(ipad) == "desktop"
    assert devices.effective("mobile", devices.from_headers(ipad)) == "mobile"


def test_hosts_and_presenters_join_from_computers():
    for role in ("host", "presenter"):
        with pytest.raises(rules.RuleError) as e:
            rules.check_role_on_device(role, "mobile")
        assert e.value.code == "not_on_mobile" and "R-INT-5" in e.value.message
        rules.check_role_on_device(role, "desktop")
    rules.check_role_on_device("attendee", "mobile")  # R-MEDIA-1: phones join as attendees
