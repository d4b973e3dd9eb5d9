"""Statistics (issue 20; R-STAT-1, R-STAT-3), on SQLite and PostgreSQL, through the real server: two attendees
join an event's room over the WebSocket with different user agents (one a phone) from addresses a trusted
proxy names (a Russian and a German registry allocation, as iptocc maps them), stay different times, answer
a poll, ask a question, chat and rate the event (from the join's token and from the thank-you e-mail's link);
the event's statistics, its CSV and XLSX, and the account's statistics show the right times (within 2 s),
devices, countries, answers and ratings; the participant.left webhook reaches a local receiver with the time
attended; no address is kept anywhere in the database; an untrusted peer's X-Forwarded-For is ignored; the
rating refuses bad input precisely and changes nothing then."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time
from typing import Any

import iptocc
import openpyxl
import pytest
import sqlalchemy as sa

from mediaserver.store.db import Base
from mediaserver.store.models import Attendance, EventRating
from signaling import keys
from tests.api.conftest import call, signup, text_of
from tests.api.test_chat_history import _download
from tests.api.test_event_rooms import Hooks, hooks, host_key, ws_room  # noqa: F401  (the hooks fixture)
from tests.api.test_polls import poll_body

RU, DE = "77.88.8.8", "193.99.144.80"  # Yandex's DNS (RIPE, Russia); heise.de (RIPE, Germany)
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1"
)
DESKTOP_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36"
)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BEHIND_PROXY = {"trusted_proxies": ["127.0.0.1"], "outbound_allow": ["127.0.0.1"]}


async def join(
    api: Any, room_id: str, name: str, email: str, headers: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """The room page's join (POST /api/v1/rooms/{id}/join) with the browser's headers."""
    got: dict[str, Any] = await call(
        api.client(),
        "POST",
        f"/api/v1/rooms/{room_id}/join",
        200,
        json={"name": name, "email": email, **extra},
        headers=headers,
    )
    return got


async def rate(api: Any, status: int, **body: Any) -> dict[str, Any]:
    """POST /api/v1/public/ratings; ``status`` 0: whatever it answers."""
    got: dict[str, Any] = await call(
        api.client(), "POST", "/api/v1/public/ratings", status or None, json=body
    )
    return got


async def no_address_kept(api: Any, *addresses: str) -> None:
    """Every row of every table, as text: none holds a client's address (R-STAT-1: the country only)."""
    async with api.app[keys.DB].read() as s:
        for table in Base.metadata.sorted_tables:
            text = repr(list(await s.execute(sa.select(table))))
            for a in addresses:
                assert a not in text, (table.name, a)


def test_the_addresses_are_where_the_registries_put_them() -> None:
    """The test's addresses: iptocc (the registries' allocations it ships) puts them in Russia and Germany."""
    assert (iptocc.country_code(RU), iptocc.country_code(DE)) == ("RU", "DE")


@pytest.mark.parametrize("api", [BEHIND_PROXY], indirect=True)
async def test_two_attendees_statistics_exports_webhook_and_ratings(api: Any, hooks: Hooks) -> None:  # noqa: F811
    http, _ = await signup(api)
    await call(http, "POST", "/api/v1/webhooks", 201, json={"url": hooks.url, "events": ["participant.left"]})
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "permanent", "name": "Stats", "roomType": "webinar"},
    )
    eid, rid = ev["id"], ev["roomId"]
    # invited: the thank-you e-mail goes to invited addresses (issue 14 finding 9)
    emails = ["ann@example.test", "bob@example.test"]
    await call(http, "POST", f"/api/v1/events/{eid}/invitations", 201, json={"emails": emails})
    for who in emails:
        api.mail.messages.remove((await api.mail.wait(who))[0])
    mood = await call(http, "POST", f"/api/v1/events/{eid}/polls", 201, json=poll_body())
    started = await call(http, "POST", f"/api/v1/events/{eid}/start", 200)
    ann_join = await join(
        api, rid, "Ann", "ann@example.test", {"User-Agent": PHONE_UA, "X-Forwarded-For": RU}
    )
    bob_join = await join(
        api,
        rid,
        "Ann",  # Bob types Ann's name too: the counts go by the room's ids of their stays, not by names
        "bob@example.test",
        {
            "User-Agent": DESKTOP_UA,
            "Sec-CH-UA-Mobile": "?0",
            "Sec-CH-UA-Platform": '"Windows"',
            "X-Forwarded-For": f"10.1.2.3, {DE}",  # the client's own claim, then what the proxy saw
        },
    )
    assert ann_join["ratingToken"] and bob_join["ratingToken"]
    journal = api.app[keys.ROOMS].journal
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        ann, _ = await room.enter(ann_join["token"])
        ann_in = time.monotonic()
        bob, _ = await room.enter(bob_join["token"])
        bob_in = time.monotonic()
        await host.ok("poll.launch", poll=mood["id"])
        await ann.ok("poll.answer", answers=[{"question": 1, "options": [2]}])
        await host.ok("qa.open")
        await ann.ok("qa.ask", text="When are the slides out?")
        await bob.ok("chat.send", text="Hello from Berlin")
        await asyncio.sleep(0.3)
        await bob.ws.close()  # the connection drops: Bob left
        bob_stay = time.monotonic() - bob_in
        await asyncio.sleep(2.5)
        await ann.ok("leave")
        ann_stay = time.monotonic() - ann_in
        await journal.flush()
        await call(http, "POST", f"/api/v1/events/{eid}/end", 200)
    await journal.flush()
    assert journal.failed == 0

    # the participant.left webhook, with the time attended, at a real local receiver
    end = time.monotonic() + 15
    while len(hooks.of("participant.left", "Stats")) < 2 and time.monotonic() < end:
        await asyncio.sleep(0.05)
    left = {h["data"]["participant"]["email"]: h["data"] for h in hooks.of("participant.left", "Stats")}
    assert set(left) == set(emails), hooks.got
    assert abs(left["ann@example.test"]["secondsAttended"] - ann_stay) <= 2
    assert abs(left["bob@example.test"]["secondsAttended"] - bob_stay) <= 2
    assert left["ann@example.test"]["totalSecondsAttended"] == left["ann@example.test"]["secondsAttended"]
    assert left["bob@example.test"]["participant"] == {"name": "Ann", "email": emails[1], "role": "attendee"}

    # ratings: Ann from the thank-you screen's token, Bob from the thank-you e-mail's link
    got = await rate(api, 200, token=ann_join["ratingToken"], stars=5, comment="Great, thanks!")
    assert (got["stars"], got["replaced"], got["eventName"]) == (5, False, "Stats")
    [thanks] = await api.mail.wait("bob@example.test")
    link = next(w for w in text_of(thanks).split() if "/rate#" in w)
    assert link.startswith("http://meet.example.test/rate#")
    await rate(api, 200, token=link.split("#", 1)[1], stars=3)

    stats = await call(http, "GET", f"/api/v1/events/{eid}/statistics", 200)
    people = {a["email"]: a for a in stats["attendees"]}
    assert list(people) == emails
    a, b = people["ann@example.test"], people["bob@example.test"]
    assert abs(a["secondsAttended"] - ann_stay) <= 2 and abs(b["secondsAttended"] - bob_stay) <= 2
    assert a["secondsAttended"] > b["secondsAttended"]
    for p in (a, b):
        joined, gone = dt.datetime.fromisoformat(p["joinedAt"]), dt.datetime.fromisoformat(p["leftAt"])
        assert abs((gone - joined).total_seconds() - p["secondsAttended"]) <= 2
    assert (a["device"], a["country"], a["browser"], a["os"]) == (
        "phone",
        "RU",
        "Mobile Safari 17",
        "iOS 17.4",
    )
    assert (b["device"], b["country"], b["browser"], b["os"]) == ("desktop", "DE", "Chrome 124", "Windows 10")
    assert (a["rating"], a["comment"], b["rating"], b["comment"]) == (5, "Great, thanks!", 3, "")
    assert (a["questions"], a["chatMessages"], b["questions"], b["chatMessages"]) == (1, 0, 0, 1)
    [answer] = a["pollAnswers"]
    assert answer["poll"] == mood["name"] and answer["answers"] == [{"question": 1, "options": [2]}]
    assert b["pollAnswers"] == []
    t = stats["totals"]
    assert (t["attendees"], t["ratings"], t["averageRating"], t["questions"], t["chatMessages"]) == (
        2,
        2,
        4.0,
        1,
        1,
    )
    assert t["countries"] == {"RU": 1, "DE": 1} and t["devices"] == {"phone": 1, "desktop": 1}
    assert stats["event"]["roomType"] == "webinar"

    # the exports: the same table as CSV (parsed back) and XLSX (read back)
    base = f"/api/v1/events/{eid}/statistics/attendees"
    rows = list(
        csv.DictReader(io.StringIO((await _download(http, base + ".csv", "text/csv")).decode("utf-8-sig")))
    )
    assert [r["email"] for r in rows] == emails
    assert [(r["device"], r["country"], r["rating"]) for r in rows] == [
        ("phone", "RU", "5"),
        ("desktop", "DE", "3"),
    ]
    assert abs(int(rows[0]["seconds attended"]) - ann_stay) <= 2 and rows[0]["left"].endswith("Z")
    assert rows[0]["questions"] == "1" and rows[1]["chat messages"] == "1"
    assert rows[0]["poll answers"].startswith(mood["name"]) and rows[1]["poll answers"] == ""
    book = openpyxl.load_workbook(io.BytesIO(await _download(http, base + ".xlsx", XLSX)))
    sheet = [list(r) for r in book["attendees"].iter_rows(values_only=True)]
    head = sheet[0]
    assert head[:4] == ["name", "email", "role", "joined"]
    ann_row = dict(zip(head, sheet[1], strict=True))
    assert (ann_row["device"], ann_row["country"], ann_row["rating"]) == ("phone", "RU", 5)
    assert isinstance(ann_row["joined"], dt.datetime) and abs(ann_row["seconds attended"] - ann_stay) <= 2

    # the account: this month's events, webinars, attendees, their countries and devices
    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    acc = await call(http, "GET", f"/api/v1/statistics?from={month}&to={month}", 200)
    assert acc["months"] == [{"month": month, "events": 1, "meetings": 0, "webinars": 1}]
    assert (acc["events"], acc["webinars"], acc["meetings"], acc["attendees"]) == (1, 1, 0, 2)
    assert acc["countries"] == {"RU": 1, "DE": 1} and acc["devices"] == {"phone": 1, "desktop": 1}
    default = await call(http, "GET", "/api/v1/statistics", 200)
    assert len(default["months"]) == 12 and default["to"] == month
    for bad in ("from=2026-13", "from=2026-05&to=2026-01", "from=2000-01&to=2026-01"):
        assert (await call(http, "GET", f"/api/v1/statistics?{bad}", 400))["error"]["code"] == "bad_request"

    # no address in any row of any table; the rows keep the country
    await no_address_kept(api, RU, DE, "10.1.2.3")
    async with api.app[keys.DB].read() as s:
        kept = sorted(await s.scalars(sa.select(Attendance.country).where(Attendance.event_id == eid)))
    assert kept == ["DE", "RU"]

    # another account sees none of it
    other, _ = await signup(api)
    for suffix in ("", "/attendees.csv", "/attendees.xlsx"):
        await call(other, "GET", f"/api/v1/events/{eid}/statistics{suffix}", 404)
    assert (await call(other, "GET", "/api/v1/statistics", 200))["attendees"] == 0
    await call(api.client(), "GET", f"/api/v1/events/{eid}/statistics", 401)


async def test_an_untrusted_peers_forwarded_address_is_ignored(api: Any) -> None:
    """Without trusted_proxies the client is the TCP peer (loopback here: no country), whatever its
    X-Forwarded-For says; the user agent still gives the device."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Direct"})
    await join(api, ev["roomId"], "Eve", "eve@example.test", {"User-Agent": PHONE_UA, "X-Forwarded-For": RU})
    async with api.app[keys.DB].read() as s:
        [row] = list(await s.scalars(sa.select(Attendance).where(Attendance.event_id == ev["id"])))
    assert (row.country, row.device) == (None, "phone")
    await no_address_kept(api, RU)


@pytest.mark.parametrize("api", [{"rate_limit_rating": "8/minute"}], indirect=True)
async def test_a_rating_refuses_bad_input_precisely_and_a_second_one_replaces_the_first(api: Any) -> None:
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Rated"})
    token = (await join(api, ev["roomId"], "Ann", "ann@example.test", {}))["ratingToken"]

    async def ratings() -> list[tuple[int, str]]:
        async with api.app[keys.DB].read() as s:
            return [(r.stars, r.comment) for r in await s.scalars(sa.select(EventRating))]

    for stars in (0, 6, "5", 4.5, None):
        err = await rate(api, 400, token=token, stars=stars)
        assert "stars" in err["error"]["message"], err
    err = await rate(api, 400, token=token, stars=4, comment="x" * 2001)
    assert "comment" in err["error"]["message"], err
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert (await rate(api, 403, token=forged, stars=4))["error"]["code"] == "bad_token"
    assert (await rate(api, 403, token="nonsense", stars=4))["error"]["code"] == "bad_token"
    assert await ratings() == []
    assert (await rate(api, 200, token=token, stars=2, comment=" meh "))["replaced"] is False
    assert (await rate(api, 200, token=token, stars=4, comment="better on reflection"))["replaced"] is True
    assert await ratings() == [(4, "better on reflection")]
    stats = await call(http, "GET", f"/api/v1/events/{ev['id']}/statistics", 200)
    assert (stats["totals"]["ratings"], stats["totals"]["averageRating"]) == (1, 4.0)
    # the budget (rate_limit_rating, 8 a minute here) counts every try from the address past the body's check
    codes = [(await rate(api, 0, token=forged, stars=1))["error"]["code"] for _ in range(5)]
    assert codes == ["bad_token"] * 4 + ["too_many_requests"], codes
    assert await ratings() == [(4, "better on reflection")]
    # the host's join has no rating token: the organiser does not rate their own event
    host = await join(api, ev["roomId"], "Olga", "olga@example.test", {}, hostKey=host_key(ev))
    assert host["role"] == "host" and host.get("ratingToken") is None
