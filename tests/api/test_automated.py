"""Automated events through the real HTTP API on SQLite and PostgreSQL (R-ROOM-4 "automated", R-AUTO-1,
R-ROOM-5, R-STAT-2, -3): the clock starts one at its time through the same start as every other event, its
attendees get the timeline with everyone at the same position and signed URLs of its files, it ends when
the timeline has played and goes to the history; a start that collides with another live event is recorded
as failed where the organiser sees it (status, reason, webhook, e-mail) instead of being dropped."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

from aiohttp import web
from sqlalchemy import select

from mediaserver.outbox import webhooks
from mediaserver.store.models import EventSession
from signaling import keys
from tests.api.conftest import call, hook_receiver, loopback, operator, signup, text_of
from tests.api.test_on_demand import VIDEO, upload

UTC = dt.timezone.utc
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f1f2a70000000049454e44ae426082"
)


async def sweep(api, now: dt.datetime) -> None:
    """The server's clock, run at a chosen time (the dispatcher runs it every 20 s)."""
    await api.app[keys.DISPATCHER].sweep(now)


async def status(http, ev: dict) -> str:
    return (await call(http, "GET", f"/api/v1/events/{ev['id']}", 200))["status"]


async def join(api, ev: dict, email: str = "ann@example.test", code: int = 200) -> dict:
    return await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{ev['roomId']}/join",
        code,
        json={"name": email.split("@")[0].title(), "email": email},
    )


async def timeline(api, ev: dict, token: str, code: int = 200) -> dict:
    return await call(
        api.client(), "POST", f"/api/v1/public/events/{ev['roomId']}/timeline", code, json={"token": token}
    )


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_automated_event_goes_live_at_its_time_plays_its_timeline_and_ends_after_it(api):
    http, _ = await signup(api)
    video = await upload(http, "intro.webm", VIDEO)
    slide = await upload(http, "slide.png", PNG)
    start = (dt.datetime.now(UTC) - dt.timedelta(minutes=4)).replace(
        microsecond=0
    )  # within the 5-minute grace
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "automated",
            "name": "Robot",
            "startsAt": start.isoformat(),
            "durationMinutes": 5,
            "thankYouUrl": "https://example.test/thanks",
            "options": {
                "chat": False,
                "timeline": [
                    {"component": "video", "start": 0, "duration": 600, "fileId": video["id"]},
                    {
                        "component": "presentation",
                        "start": 300,
                        "duration": 120,
                        "fileId": slide["id"],
                        "text": "Prices",
                    },
                    {
                        "component": "call_to_action",
                        "start": 200,
                        "duration": 400,
                        "text": "Buy now",
                        "url": "https://example.test/buy",
                        "buttonText": "Buy",
                    },
                ],
            },
        },
    )
    assert ev["status"] == "planned" and ev["automation"] == {
        "length": 600,
        "failure": None,
    }  # not durationMinutes
    assert ev["url"].endswith(f"/room/{ev['roomId']}")

    early = await join(api, ev)  # before the start: the lobby, and nothing of the timeline
    assert early["room"]["state"] == "lobby"
    before = await timeline(api, ev, early["token"])
    assert (before["status"], before["items"], before["position"]) == ("planned", [], None)
    assert at(before["startsAt"]) == start

    await sweep(api, start - dt.timedelta(seconds=30))
    assert await status(http, ev) == "planned"
    went_live = start + dt.timedelta(seconds=2)
    await sweep(api, went_live)  # its time: live through the control plane, no presenter
    assert await status(http, ev) == "live"
    async with api.app[keys.DB].read() as s:
        [row] = list(await s.scalars(select(EventSession).where(EventSession.event_id == ev["id"])))
    assert row.started_by is None and row.ended_at is None
    room = api.app[keys.ROOMS].find(ev["roomId"])
    assert room is not None and room.settings.state == "live"  # the lobby opened

    # everyone at the same position: now - the session's start; every component with its file's signed URL.
    # Bob was invited: the thank-you mail goes to invited addresses only (issue 14 finding 9)
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["bob@example.test"]}
    )
    [invitation] = await api.mail.wait("bob@example.test")
    api.mail.messages.remove(invitation)
    late = await join(api, ev, "bob@example.test")
    now = await timeline(api, ev, late["token"])
    assert now["status"] == "live" and at(now["startedAt"]) == went_live
    assert at(now["endsAt"]) == went_live + dt.timedelta(seconds=600) and now["length"] == 600
    expected = (at(now["serverTime"]) - went_live).total_seconds()
    assert abs(now["position"] - expected) < 0.01 and 200 < now["position"] < 300
    assert [i["component"] for i in now["items"]] == ["video", "call_to_action", "presentation"]  # by start
    clip, cta, pres = now["items"]
    assert clip["media"]["contentType"] == "video/webm" and clip["media"]["url"].startswith("/play/")
    assert pres["media"]["contentType"] == "image/png" and pres["text"] == "Prices"
    assert (cta["media"], cta["text"], cta["url"], cta["buttonText"]) == (
        None,
        "Buy now",
        "https://example.test/buy",
        "Buy",
    )
    viewer = api.client()
    async with viewer.get(clip["media"]["url"], headers={"Range": "bytes=100-199"}) as r:
        assert r.status == 206 and await r.read() == VIDEO[100:200]
    async with viewer.get(pres["media"]["url"]) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "image/png" and await r.read() == PNG
    # the timeline is only for those the join let in, to this room
    err = await timeline(api, ev, "not-a-token", 403)
    assert "join" in err["error"]["message"]
    other = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Other"})
    err = await call(
        api.client(),
        "POST",
        f"/api/v1/public/events/{other['roomId']}/timeline",
        403,
        json={"token": late["token"]},
    )
    assert "another room" in err["error"]["message"]

    await sweep(api, went_live + dt.timedelta(seconds=599))
    assert await status(http, ev) == "live"
    await sweep(api, went_live + dt.timedelta(seconds=600))  # the timeline has played: it ends
    assert await status(http, ev) == "done" and room.settings.state == "ended"
    history = (await call(http, "GET", "/api/v1/history", 200))["items"]
    assert [h["name"] for h in history] == ["Robot"]
    assert at(history[0]["endedAt"]) == went_live + dt.timedelta(seconds=600)
    after = await timeline(api, ev, late["token"])
    assert (after["status"], after["items"], after["thankYouUrl"]) == (
        "done",
        [],
        "https://example.test/thanks",
    )
    [thanks] = await api.mail.wait("bob@example.test")  # R-STAT-3
    assert "https://example.test/thanks" in text_of(thanks)
    async with viewer.get(clip["media"]["url"]) as r:  # the URL still plays what the event offers
        assert r.status == 200
    await join(api, ev, "carol@example.test", 410)


async def test_timeline_files_are_checked_when_saved(api):
    """R-AUTO-1 with R-FILE-4: a timeline names finished files of the account's own library that a browser can
    show for their component."""
    http, _ = await signup(api)
    video = await upload(http, "intro.webm", VIDEO)
    doc = await upload(http, "notes.docx", b"PK\x03\x04 not really")
    start = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat()

    async def plan(status: int, *items: dict) -> dict:
        return await call(
            http,
            "POST",
            "/api/v1/events",
            status,
            json={
                "kind": "automated",
                "name": "Robot",
                "startsAt": start,
                "options": {"timeline": list(items)},
            },
        )

    err = await plan(415, {"component": "presentation", "start": 0, "duration": 60, "fileId": doc["id"]})
    assert "PDF" in err["error"]["message"]
    err = await plan(415, {"component": "video", "start": 0, "duration": 60, "fileId": doc["id"]})
    assert "video" in err["error"]["message"]
    await plan(404, {"component": "video", "start": 0, "duration": 60, "fileId": 999_999})
    err = await plan(400, {"component": "poll", "start": 0, "duration": 60, "fileId": video["id"]})
    assert "fileId" in err["error"]["message"]
    await plan(400, {"component": "call_to_action", "start": 0, "duration": 60, "url": "javascript:alert(1)"})
    ev = await plan(201, {"component": "recording", "start": 30, "duration": 90, "fileId": video["id"]})
    assert ev["automation"]["length"] == 120
    assert ev["options"]["timeline"][0]["fileId"] == video["id"]


async def test_two_calls_to_action_or_two_polls_at_once_are_refused(api):
    """R-AUTO-1 (the dashboard's timeline editor, issue 20): a call to action may be on before, during or
    after any other component, but a room shows one call to action and one poll at a time, so two of either
    that overlap are refused (400 timeline_overlap, naming both items and their times); one ending where the
    next starts, or a poll with only a text, is fine."""
    http, _ = await signup(api)
    start = (dt.datetime.now(UTC) + dt.timedelta(hours=1)).isoformat()
    ev = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "automated", "name": "Robot", "startsAt": start}
    )
    mood = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/polls",
        201,
        json={"name": "Mood", "kind": "poll", "questions": [{"text": "Good?", "kind": "short"}]},
    )

    async def plan(status: int, *items: dict) -> dict:
        body = {"options": {"timeline": list(items)}}
        return await call(http, "PATCH", f"/api/v1/events/{ev['id']}", status, json=body)

    video = {"component": "chat", "start": 0, "duration": 600}
    buy = {"component": "call_to_action", "start": 60, "duration": 60, "text": "Buy", "ref": "offer"}
    again = {"component": "call_to_action", "start": 100, "duration": 30, "text": "Now"}
    err = await plan(400, video, again, buy)
    assert err["error"] == {
        "code": "timeline_overlap",
        "message": "timeline items 2 ('offer') and 3 overlap: 1:00-2:00 and 1:40-2:10; a room shows one call "
        "to action at a time: the second would replace the first, so let one end before the next starts",
    }
    await plan(200, video, buy, {**again, "start": 120})  # back to back
    vote = {"component": "poll", "start": 3590, "duration": 20, "pollId": mood["id"]}
    err = await plan(400, vote, {**vote, "start": 3600})
    assert err["error"]["code"] == "timeline_overlap"
    assert "59:50-1:00:10 and 1:00:00-1:00:20; a room has one poll open" in err["error"]["message"]
    got = await plan(200, vote, {"component": "poll", "start": 3600, "duration": 20, "text": "Think"}, buy)
    assert [i["component"] for i in got["options"]["timeline"]] == ["poll", "poll", "call_to_action"]


@loopback
async def test_an_automated_start_that_collides_with_a_live_event_is_recorded_as_failed(api):
    """R-ROOM-5 holds for automated starts too; the organiser learns of the failed start on the dashboard
    (status and reason), by webhook and by e-mail, the event is kept (not deleted after its day) and a new
    start time plans it again."""
    got: list[dict] = []
    secret = {}

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        h = request.headers
        assert webhooks.verify(secret["s"], h[webhooks.SIGNATURE_HEADER], h["X-Mediaserver-Delivery"], body)
        got.append(json.loads(body))
        return web.Response(status=204)

    http, me = await signup(api)
    async with hook_receiver(handle) as url:
        hook = await call(
            http, "POST", "/api/v1/webhooks", 201, json={"url": url, "events": ["event.failed"]}
        )
        secret["s"] = hook["secret"]
        live = await call(
            http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Live talk"}
        )
        await call(http, "POST", f"/api/v1/events/{live['id']}/start", 200)
        start = dt.datetime.now(UTC) + dt.timedelta(hours=1)
        ev = await call(
            http,
            "POST",
            "/api/v1/events",
            201,
            json={
                "kind": "automated",
                "name": "Robot",
                "startsAt": start.isoformat(),
                "options": {
                    "timeline": [{"component": "call_to_action", "start": 0, "duration": 60, "text": "Hi"}]
                },
            },
        )
        await sweep(api, start + dt.timedelta(seconds=1))
        failed = await call(http, "GET", f"/api/v1/events/{ev['id']}", 200)
        assert failed["status"] == "failed"
        failure = failed["automation"]["failure"]
        assert failure["code"] == "live_event_running" and "Live talk" in failure["message"]
        assert "R-ROOM-5" in failure["message"] and at(failure["failedAt"]) == start + dt.timedelta(seconds=1)
        dashboard = (await call(http, "GET", "/api/v1/events", 200))["items"]
        assert {(e["name"], e["status"]) for e in dashboard} == {("Live talk", "live"), ("Robot", "failed")}
        [mail] = await api.mail.wait(me["user"]["email"])
        assert "Robot" in mail["Subject"] and "did not start" in mail["Subject"]
        assert "Live talk" in text_of(mail) and f"/dashboard#event={ev['id']}" in text_of(mail)
        for _ in range(200):  # the dispatcher delivers it (signed, R-API-2)
            if got:
                break
            await asyncio.sleep(0.05)
        [delivery] = got
        assert delivery["type"] == "event.failed" and delivery["data"]["event"]["id"] == ev["id"]
        assert delivery["data"]["reason"]["code"] == "live_event_running"

    # nobody waits in a lobby that never opens
    err = await join(api, ev, code=409)
    assert err["error"]["code"] == "not_started" and "Live talk" in err["error"]["message"]
    public = await call(api.client(), "GET", f"/api/v1/public/events/{ev['roomId']}", 200)
    assert public["status"] == "failed"
    # later sweeps neither retry it nor delete it after its day (unlike a scheduled event that never ran)
    await sweep(api, start + dt.timedelta(days=2))
    assert await status(http, ev) == "failed"
    # a new start time plans it again; once the live event has ended it starts
    again = start + dt.timedelta(hours=2)
    changed = await call(
        http, "PATCH", f"/api/v1/events/{ev['id']}", 200, json={"startsAt": again.isoformat()}
    )
    assert changed["status"] == "planned" and changed["automation"]["failure"] is None
    await call(http, "POST", f"/api/v1/events/{live['id']}/end", 200)
    await sweep(api, again)
    assert await status(http, ev) == "live"
    await sweep(api, again + dt.timedelta(seconds=60))
    assert await status(http, ev) == "done"


async def test_parallel_sessions_add_on_lets_an_automated_event_run_beside_a_live_one(api):
    http, _ = await signup(api)
    await operator(http, "plan", 200, json={"plan": "automated"})
    await operator(http, "addons", 200, json={"addon": "parallel_sessions", "quantity": 1})
    live = await call(http, "POST", "/api/v1/events", 201, json={"kind": "instant", "name": "Live now"})
    start = dt.datetime.now(UTC) + dt.timedelta(minutes=10)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={"kind": "automated", "name": "Robot", "startsAt": start.isoformat(), "durationMinutes": 2},
    )
    await sweep(api, start)
    assert (await status(http, live), await status(http, ev)) == ("live", "live")
    await sweep(api, start + dt.timedelta(minutes=2))  # no components: it lasts its duration
    assert (await status(http, live), await status(http, ev)) == ("live", "done")


async def test_a_start_missed_for_the_whole_timeline_is_failed_not_run_late(api):
    """A server that was down from the start to past the end of the timeline does not play it afterwards."""
    http, _ = await signup(api)
    start = dt.datetime.now(UTC) + dt.timedelta(minutes=10)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "automated",
            "name": "Robot",
            "startsAt": start.isoformat(),
            "options": {
                "timeline": [{"component": "poll", "start": 0, "duration": 300, "text": "How was it?"}]
            },
        },
    )
    await sweep(api, start + dt.timedelta(minutes=6))
    got = await call(http, "GET", f"/api/v1/events/{ev['id']}", 200)
    assert got["status"] == "failed" and got["automation"]["failure"]["code"] == "missed"
    assert (await call(http, "GET", "/api/v1/history", 200))["items"] == []


async def test_invitation_to_an_automated_event_has_a_real_accept_button(api):
    """R-ROOM-10, -11: the invitation gives the start time and the room link; its "buttons" block is a real
    link to join in the HTML part, next to Decline and Add to calendar
    (tests/api/test_invitation_buttons.py)."""
    http, _ = await signup(api, language="ru")
    start = dt.datetime(2031, 3, 1, 9, 30, tzinfo=UTC)
    ev = await call(
        http,
        "POST",
        "/api/v1/events",
        201,
        json={
            "kind": "automated",
            "name": "Автовебинар",
            "startsAt": start.isoformat(),
            "language": "ru",
            "timezone": "Europe/Moscow",
            "branding": {"emailBlocks": [{"type": "buttons"}, {"type": "room_id"}]},
        },
    )
    await call(
        http, "POST", f"/api/v1/events/{ev['id']}/invitations", 201, json={"emails": ["ivan@example.test"]}
    )
    [msg] = await api.mail.wait("ivan@example.test")
    text = text_of(msg)
    assert "2031-03-01 12:30 Europe/Moscow" in text and f"/room/{ev['roomId']}" in text
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert (
        f'<a href="http://meet.example.test/room/{ev["roomId"]}" style="' in html and ">Принять</a>" in html
    )
    assert ">Отклонить</a>" in html and ">Добавить в календарь</a>" in html
