"""The invitation e-mail's download / accept / decline buttons (R-ROOM-11) on SQLite and PostgreSQL,
followed as an invitee would: Accept is the personal join link; Download gives the event as an iCalendar
file (RFC 5545: CRLF, folded lines, escaped text, the start in UTC); Decline shows a page (the GET changes
nothing: a mail scanner declines nothing) whose button records the decline once: the organiser sees it in
the invitations and gets the signed webhook invitation.declined. Unknown tokens get 404; an event without a
date has no calendar."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re

import aiohttp
from aiohttp import web

from mediaserver.outbox import webhooks
from tests.api.conftest import call, hook_receiver, loopback, signup, text_of

UTC = dt.timezone.utc


def links(api, msg) -> dict[str, str]:
    """The buttons of the HTML part, their host made the test server's (public_url is meet.example.test)."""
    html = msg.get_body(preferencelist=("html",)).get_content()
    got = {
        label: href.replace("http://meet.example.test", api.base_url)
        for href, label in re.findall(r'<a href="([^"]+)" style="[^"]*">([^<]+)</a>', html)
    }
    return got


def unfold(ics: str) -> dict[str, str]:
    assert ics.endswith("\r\n") and "\n" not in ics.replace("\r\n", "")
    lines = ics.split("\r\n")[:-1]
    assert all(len(line.encode()) <= 75 for line in lines), [
        line for line in lines if len(line.encode()) > 75
    ]
    joined: list[str] = []
    for line in lines:
        if line.startswith(" "):
            joined[-1] += line[1:]
        else:
            joined.append(line)
    assert joined[:2] == ["BEGIN:VCALENDAR", "VERSION:2.0"] and joined[-2:] == ["END:VEVENT", "END:VCALENDAR"]
    assert "BEGIN:VEVENT" in joined
    return dict(line.split(":", 1) for line in joined if not line.startswith(("BEGIN:", "END:")))


@loopback
async def test_download_accept_and_decline_from_the_invitation(api):
    got: list[tuple[dict, bytes]] = []

    async def handle(request: web.Request) -> web.Response:
        got.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async with hook_receiver(handle) as url:
        http, _ = await signup(api)
        hook = await call(
            http, "POST", "/api/v1/webhooks", 201, json={"url": url, "events": ["invitation.declined"]}
        )
        start = dt.datetime(2031, 5, 4, 15, 0, tzinfo=UTC)
        name = "Launch; Q&A, with a very long name that needs folding in the calendar file — Ünïcode too"
        ev = await call(
            http,
            "POST",
            "/api/v1/events",
            201,
            json={
                "kind": "scheduled",
                "name": name,
                "startsAt": start.isoformat(),
                "timezone": "Europe/Moscow",
                "durationMinutes": 90,
                "access": "token",
                "agenda": "1. Hello\n2. Demo",
            },
        )
        await call(
            http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["ann@example.test"]}
        )
        [msg] = await api.mail.wait("ann@example.test")
        buttons = links(api, msg)
        [inv] = (await call(http, "GET", f"/api/v1/events/{ev['id']}/invitations", 200))["items"]
        assert buttons["Accept"].endswith(f"/room/{ev['roomId']}?token={inv['token']}")
        assert buttons["Decline"] == f"{api.base_url}/i/{inv['token']}/decline"
        assert buttons["Add to calendar"] == f"{api.base_url}/i/{inv['token']}/calendar.ics"
        assert "Decline: http://meet.example.test/i/" in text_of(msg)

        anon = aiohttp.ClientSession()
        try:
            async with anon.get(buttons["Add to calendar"]) as r:
                assert r.status == 200 and r.headers["Content-Type"].startswith("text/calendar")
                assert "attachment" in r.headers["Content-Disposition"]
                cal = unfold(await r.text())
            assert cal["VERSION"] == "2.0" and cal["UID"].endswith("@mediaserver")
            assert cal["DTSTART"] == "20310504T150000Z" and cal["DTEND"] == "20310504T163000Z"
            assert cal["SUMMARY"] == name.replace(";", "\\;").replace(",", "\\,")
            assert (
                f"Room ID: {ev['roomId']}" in cal["DESCRIPTION"]
                and "1. Hello\\n2. Demo" in cal["DESCRIPTION"]
            )
            assert cal["URL"].endswith(f"?token={inv['token']}")

            async with anon.get(buttons["Decline"]) as r:  # the page asks; nothing is recorded yet
                assert r.status == 200 and "<form method='post'>" in await r.text()
            [inv] = (await call(http, "GET", f"/api/v1/events/{ev['id']}/invitations", 200))["items"]
            assert inv["declinedAt"] is None
            async with anon.post(buttons["Decline"]) as r:
                assert r.status == 200 and "You declined the invitation" in await r.text()
            async with anon.post(buttons["Decline"]) as r:  # twice: recorded once
                assert r.status == 200 and "already declined" in await r.text()
            [inv] = (await call(http, "GET", f"/api/v1/events/{ev['id']}/invitations", 200))["items"]
            assert inv["declinedAt"] is not None

            for path in ("/i/no-such-token-123/decline", "/i/no-such-token-123/calendar.ics"):
                async with anon.get(api.base_url + path) as r:
                    assert r.status == 404
            async with anon.post(api.base_url + "/i/no-such-token-123/decline") as r:
                assert r.status == 404

            # an event without a date: no calendar button, and its calendar link says why
            now = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Now"})
            await call(
                http,
                "POST",
                f"/api/v1/events/{now['id']}/invitations",
                201,
                json={"emails": ["bob@example.test"]},
            )
            [msg2] = await api.mail.wait("bob@example.test")
            assert "Add to calendar" not in links(api, msg2) and "Decline" in links(api, msg2)
            [inv2] = (await call(http, "GET", f"/api/v1/events/{now['id']}/invitations", 200))["items"]
            async with anon.get(f"{api.base_url}/i/{inv2['token']}/calendar.ics") as r:
                assert r.status == 409 and (await r.json())["error"]["code"] == "no_date"
        finally:
            await anon.close()

        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.1)
        assert len(got) == 1, got
        headers, body = got[0]
        sig, delivery = headers["X-Mediaserver-Signature"], headers["X-Mediaserver-Delivery"]
        assert webhooks.verify(hook["secret"], sig, delivery, body)
        data = json.loads(body)
        assert data["type"] == "invitation.declined"
        assert (
            data["data"]["invitation"]["email"] == "ann@example.test"
            and data["data"]["event"]["id"] == ev["id"]
        )
