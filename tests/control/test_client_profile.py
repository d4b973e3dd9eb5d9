"""What the statistics keep of a client (R-STAT-1; mediaserver.events.client_profile), the rating tokens
(mediaserver.events.ratings) and the statistics' months, without a server: the real ua-parser rules and the
registries' data that iptocc ships."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from mediaserver.config import ConfigError
from mediaserver.errors import ControlError
from mediaserver.events import ratings, statistics
from mediaserver.events.client_profile import Countries, client_of, device_of, profile
from mediaserver.rtc import tokens

IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 "
    "Safari"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Mobile "
    "Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"
SECRET = "s" * 32


@pytest.mark.parametrize(
    ("ua", "mobile", "platform", "device"),
    [
        (IPAD, "", "", "tablet"),
        (ANDROID_TABLET, "?0", '"Android"', "tablet"),
        (ANDROID_PHONE, "", "", "phone"),
        (FIREFOX_LINUX, "", "", "desktop"),
        ("", "?1", "", "phone"),  # a mobile Chromium's hint alone
        ("", "", "", None),  # nothing to go by
    ],
)
def test_the_device_comes_from_the_user_agent_and_the_client_hints(
    ua: str, mobile: str, platform: str, device: str | None
) -> None:
    assert device_of(ua, mobile, platform.strip('"')) == device


def test_browser_and_os_with_their_versions_and_the_platform_hint() -> None:
    assert client_of({"User-Agent": ANDROID_PHONE}) == ("Chrome Mobile 121", "Android 14", "phone")
    assert client_of({"User-Agent": FIREFOX_LINUX}) == ("Firefox 125", "Linux", "desktop")
    # a client that sends only the hints (an unknown user agent): the platform names the OS
    assert client_of({"Sec-CH-UA-Platform": '"macOS"', "Sec-CH-UA-Mobile": "?0"}) == (
        None,
        "macOS",
        "desktop",
    )
    assert client_of({"User-Agent": "curl/8.5.0"})[2] == "desktop"


def test_countries_from_the_registries_and_none_for_addresses_of_no_country() -> None:
    c = Countries()
    assert (c.of("77.88.8.8"), c.of("193.99.144.80"), c.of("8.8.8.8")) == ("RU", "DE", "US")
    assert c.of("::ffff:77.88.8.8") == "RU"  # an IPv4 client on a dual-stack socket
    for address in ("127.0.0.1", "10.1.2.3", "192.168.0.1", "::1", "unknown", "", None):
        assert c.of(address) is None
    got = profile({"User-Agent": IPAD}, "193.99.144.80", c)
    assert (got.device, got.country) == ("tablet", "DE")


def test_an_operators_mmdb_file_replaces_the_registries_data(tmp_path: Path) -> None:
    """geoip_database: a MaxMind-format file (made here with mmdb-writer) decides, its country or else its
    registered country; an address it lacks has none (no mix of two sources)."""
    w = MMDBWriter(ip_version=6, database_type="GeoLite2-Country", ipv4_compatible=True)
    w.insert_network(IPSet(["8.8.8.0/24"]), {"country": {"iso_code": "FR"}})
    w.insert_network(IPSet(["2a00:1450::/32"]), {"registered_country": {"iso_code": "ch"}})
    path = tmp_path / "countries.mmdb"
    w.to_db_file(str(path))
    c = Countries(str(path))
    try:
        assert (c.of("8.8.8.8"), c.of("2a00:1450::1"), c.of("77.88.8.8"), c.of("127.0.0.1")) == (
            "FR",
            "CH",
            None,
            None,
        )
    finally:
        c.close()


def test_a_missing_mmdb_file_is_a_configuration_error(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="geoip_database"):
        Countries(f"{tmp_path}/nothing.mmdb")


def test_rating_tokens_are_signed_per_event_and_person_and_expire() -> None:
    token = ratings.token_for(SECRET, 7, " Ann@Example.test ")
    assert ratings.verify(SECRET, token) == (7, "ann@example.test")
    for bad in (token + "x", "x" + token, token.replace(".", ""), "", ".", "a.b"):
        with pytest.raises(ControlError) as e:
            ratings.verify(SECRET, bad)
        assert (e.value.code, e.value.status) == ("bad_token", 403)
    with pytest.raises(ControlError):
        ratings.verify("t" * 32, token)  # another server's
    with pytest.raises(ControlError):
        ratings.verify(SECRET, token, now=dt.datetime.now().timestamp() + ratings.TTL + 5)
    assert ratings.link("https://m.example", SECRET, 7, "a@b.c").startswith("https://m.example/rate#")
    assert ratings.link("", SECRET, 7, "a@b.c") == ""


def test_a_ratings_stars_and_comment_are_checked() -> None:
    assert ratings.check(5, None) == (5, "")
    assert ratings.check(1, "  fine ") == (1, "fine")
    for stars in (0, 6, True, "3", 2.0):
        with pytest.raises(ControlError, match="stars"):
            ratings.check(stars, "")
    with pytest.raises(ControlError, match="comment"):
        ratings.check(3, "x" * (ratings.COMMENT_MAX + 1))


def test_a_join_token_carries_its_attendance_row() -> None:
    token = tokens.issue(SECRET, "123456789", "attendee", "Ann", "ann#1", attendance=42, adhoc=False)
    assert tokens.verify(SECRET, token).attendance == 42
    assert tokens.verify(SECRET, tokens.issue(SECRET, "r", "attendee", "Ann", "x")).attendance == 0


def test_the_months_of_the_account_statistics() -> None:
    today = dt.date(2026, 3, 15)
    got = statistics.months(None, None, today)
    assert (got[0], got[-1], len(got)) == (dt.date(2025, 4, 1), dt.date(2026, 3, 1), 12)
    assert statistics.months("2025-11", "2026-02", today) == [
        dt.date(2025, 11, 1),
        dt.date(2025, 12, 1),
        dt.date(2026, 1, 1),
        dt.date(2026, 2, 1),
    ]
    bad = (
        ("2026-3", None),
        ("2026-04", "2026-01"),
        ("2020-01", "2026-01"),
        ("x", None),
        ("9999-12", "9999-12"),
    )
    for start, end in bad:
        with pytest.raises(ControlError):
            statistics.months(start, end, today)
