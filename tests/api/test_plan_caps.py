"""The plan's limits hold in the event's room, on SQLite and PostgreSQL, through the API and the WebSocket
as the room page uses them (R-ACC-1, R-MEDIA-5, R-ROOM-1, -2): on the free trial at most 25 in a webinar
and 5 in a meeting or with discussion mode on, 2 presenter seats (the organiser and one presenter) and 4
camera feeds; the paid plans' own numbers (mediaserver.billing.plans); the extra_cameras add-on raises the
camera feeds in meetings only."""

from __future__ import annotations

from typing import Any

from signaling import keys
from tests.api.conftest import call, operator, paid, signup
from tests.api.test_event_rooms import host_key, room_token, ws_room
from tests.signaling.client import make_offer


async def live_event(
    api: Any, plan: str | None = None, room_type: str = "webinar", **addons: int
) -> tuple[Any, dict]:
    """An account (trial, or the paid plan with add-ons) and a permanent event of it, started; returns
    (http, started)."""
    http, _ = await signup(api)
    if plan:
        await paid(http, plan, **addons)
    ev = await call(
        http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Caps", "roomType": room_type}
    )
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    return http, started


async def attendees(api: Any, room: Any, room_id: str, n: int, first: int = 0) -> list[tuple[Any, dict]]:
    return [
        await room.enter(await room_token(api, room_id, f"Guest {i}", f"guest{i}@example.test"))
        for i in range(first, first + n)
    ]


# ---------------------------------------------------------------- capacity (R-ACC-1, R-ROOM-1)


async def test_trial_capacity_is_25_in_a_webinar_and_5_in_a_meeting(api):
    _, started = await live_event(api)
    assert started["event"]["roomType"] == "webinar"
    async with ws_room(api) as room:
        host, joined = await room.enter(started["hostToken"])
        assert joined["room"]["capacity"] == 25
        for too_many in (26, 5000):
            why = await host.err("host", "plan_limit", action="setCapacity", capacity=too_many)
            assert "25" in why, why
        await host.err("host", "bad_capacity", action="setCapacity", capacity=5001)  # beyond any plan
        await host.ok("host", action="setCapacity", capacity=10)
        await host.ok("host", action="setCapacity", capacity=25)
        assert api.app[keys.ROOMS].find(started["event"]["roomId"]).settings.capacity == 25
    _, started = await live_event(api, room_type="meeting")
    async with ws_room(api) as room:
        host, joined = await room.enter(started["hostToken"])
        assert joined["room"]["capacity"] == 5
        await host.err("host", "plan_limit", action="setCapacity", capacity=6)
        await host.ok("host", action="setAudioMode", mode="listen")  # not discussion: still a 5-seat meeting
        await host.err("host", "plan_limit", action="setCapacity", capacity=25)


async def test_paid_plans_have_their_own_capacity(api):
    for plan, top in (("mywebinars", 100), ("live", 1000)):
        _, started = await live_event(api, plan)
        async with ws_room(api) as room:
            host, joined = await room.enter(started["hostToken"])
            assert joined["room"]["capacity"] == top
            await host.ok("host", action="setCapacity", capacity=26)
            await host.ok("host", action="setCapacity", capacity=top)
            await host.err("host", "plan_limit", action="setCapacity", capacity=top + 1)
        await call(api.client(), "GET", f"/api/v1/rooms/{started['event']['roomId']}", 200)
    _, started = await live_event(api, "live", room_type="meeting")
    async with ws_room(api) as room:
        host, joined = await room.enter(started["hostToken"])
        assert joined["room"]["capacity"] == 25  # R-ROOM-1: a meeting holds 25
        await host.err("host", "bad_capacity", action="setCapacity", capacity=26)


# ---------------------------------------------------------------- discussion mode (R-ACC-1, R-ROOM-2)


async def test_trial_discussion_mode_holds_5_people(api):
    _, started = await live_event(api)
    room_id = started["event"]["roomId"]
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        people = await attendees(api, room, room_id, 5)
        assert all(j["participant"]["status"] == "joined" for _, j in people)
        # six people in the room (the host and five): discussion mode is refused with the trial's number
        why = await host.err("host", "too_many_for_discussion", action="setAudioMode", mode="discussion")
        assert "at most 5" in why and "6" in why, why
        assert api.app[keys.ROOMS].find(room_id).settings.audio_mode == "listen"
        await people[-1][0].ok("leave")
        await host.ok("host", action="setAudioMode", mode="discussion")  # five: allowed
        # the sixth person waits for a seat (R-ROOM-8) while discussion mode is on
        [(sixth, joined)] = await attendees(api, room, room_id, 1, first=10)
        assert joined["participant"]["status"] == "waiting"
        await host.err("host", "too_many_for_discussion", action="setCapacity", capacity=6)
        # listen-only again: the 25 seats of a trial webinar, the sixth comes in
        await host.ok("host", action="setAudioMode", mode="listen")
        await sixth.note("admitted")


async def test_paid_discussion_mode_holds_25_people(api):
    _, started = await live_event(api, "mywebinars")
    room_id = started["event"]["roomId"]
    async with ws_room(api) as room:
        host, _ = await room.enter(started["hostToken"])
        people = await attendees(api, room, room_id, 6)
        assert all(j["participant"]["status"] == "joined" for _, j in people)
        await host.ok("host", action="setAudioMode", mode="discussion")  # seven people: fine on a paid plan
        [(_, joined)] = await attendees(api, room, room_id, 1, first=10)
        assert joined["participant"]["status"] == "joined"


# ---------------------------------------------------------------- presenter seats (R-ACC-1, R-MEDIA-5)


async def presenters(api: Any, http: Any, ev: dict, n: int) -> list[str]:
    """n presenters invited by e-mail (R-ROOM-10); the join tokens of their presenter links."""
    emails = [f"speaker{i}@example.test" for i in range(n)]
    invs = await call(
        http,
        "POST",
        f"/api/v1/events/{ev['id']}/invitations",
        201,
        json={"emails": emails, "role": "presenter"},
    )
    by_email = {i["email"]: i["token"] for i in invs["items"]}
    return [
        await room_token(api, ev["roomId"], f"Speaker {i}", e, presenterKey=by_email[e])
        for i, e in enumerate(emails)
    ]


async def test_trial_has_two_presenter_seats_the_hosts_and_one_more(api):
    http, started = await live_event(api)
    ev = started["event"]
    first, second = await presenters(api, http, ev, 2)
    async with ws_room(api) as room:
        await room.enter(started["hostToken"])
        p1, joined = await room.enter(first)
        assert joined["participant"]["role"] == "presenter"
        c = await room.connect()
        why = await c.err("join", "presenter_seats_full", token=second)
        assert "2 presenter seats" in why, why
        # the seat is the presenter's while they are in; when they leave, the other may come
        await p1.ok("leave")
        _, joined = await room.enter(second)
        assert joined["participant"]["role"] == "presenter"
        # the first one, back again, finds the seats taken; the host always has a seat
        await (await room.connect()).err("join", "presenter_seats_full", token=first)
        _, again = await room.enter(
            await room_token(api, ev["roomId"], "Olga", "olga@example.test", hostKey=host_key(ev))
        )
        assert again["participant"]["role"] == "host"
        # attendees are not presenters: they still come in
        [(_, guest)] = await attendees(api, room, ev["roomId"], 1)
        assert guest["participant"]["status"] == "joined"


async def test_paid_plan_presenter_seats(api):
    http, started = await live_event(api, "live")
    ev = started["event"]
    tokens = await presenters(api, http, ev, 4)
    async with ws_room(api) as room:
        await room.enter(started["hostToken"])
        for t in tokens[:3]:  # 4 seats: the host and three presenters
            _, joined = await room.enter(t)
            assert joined["participant"]["role"] == "presenter"
        await (await room.connect()).err("join", "presenter_seats_full", token=tokens[3])


# ---------------------------------------------------------------- camera feeds (R-ACC-1, R-MEDIA-5)


async def cameras_allowed(api: Any, started: dict) -> tuple[int, list[str]]:
    """The room's camera limit and what publishing one more camera than that, after exactly that many,
    gives. Each camera is another participant's (one camera per participant, issue 14 finding 8): the
    host's, then attendees' the host gave the floor."""
    async with ws_room(api) as room:
        host, joined = await room.enter(started["hostToken"])
        limit = joined["room"]["cameraLimit"]
        people = [host]
        for i in range(limit):
            c, got = await room.enter(
                await room_token(api, started["event"]["roomId"], f"Cam {i}", f"cam{i}@example.test")
            )
            await host.ok("host", action="grantFloor", participant=got["participant"]["id"])
            people.append(c)
        codes = []
        for c in people:
            r = await c.call("publish", sdp=await make_offer(video=1, audio=0))
            codes.append(r.get("error", {}).get("code", "published"))
        ok = "published" if codes[:-1] == ["published"] * limit else str(codes[:-1])
        return limit, [codes[-1], ok]


async def test_camera_feeds_by_plan_and_the_extra_cameras_add_on(api):
    # the trial: 4 camera feeds
    assert await cameras_allowed(api, (await live_event(api))[1]) == (4, ["camera_limit", "published"])
    # a paid plan: 4 in a meeting; with 3 extra cameras bought, 7 in a meeting
    assert await cameras_allowed(api, (await live_event(api, "live", "meeting"))[1]) == (
        4,
        ["camera_limit", "published"],
    )
    assert await cameras_allowed(api, (await live_event(api, "live", "meeting", extra_cameras=3))[1]) == (
        7,
        ["camera_limit", "published"],
    )
    # one extra camera: 5
    assert await cameras_allowed(api, (await live_event(api, "live", "meeting", extra_cameras=1))[1]) == (
        5,
        ["camera_limit", "published"],
    )
    # R-MEDIA-5: extra camera feeds work in meetings only, not in webinars
    assert await cameras_allowed(api, (await live_event(api, "live", "webinar", extra_cameras=3))[1]) == (
        4,
        ["camera_limit", "published"],
    )


# ---------------------------------------------------------------- an upgrade, at once (R-BILL-4, R-ROOM-8)


async def test_an_upgrade_lets_the_waiting_in_at_once_and_add_ons_reach_open_rooms(api):
    """R-BILL-4: an upgrade takes effect at once, also from inside a full room; R-ROOM-8: the people
    waiting for a seat are let in straight away. A trial meeting is full at 5; the sixth waits; the owner
    buys a plan (the room's page stays open) and the sixth is admitted, the room's capacity and camera
    feeds follow the plan; an extra-cameras add-on reaches the open meeting at once too."""
    http, started = await live_event(api, room_type="meeting")
    room_id = started["event"]["roomId"]
    async with ws_room(api) as room:
        host, joined = await room.enter(started["hostToken"])
        assert joined["room"]["capacity"] == 5
        people = await attendees(api, room, room_id, 4)
        assert all(j["participant"]["status"] == "joined" for _, j in people)
        [(sixth, joined)] = await attendees(api, room, room_id, 1, first=10)
        assert joined["participant"]["status"] == "waiting"
        await paid(http, "live")
        await sixth.note("admitted")
        live = api.app[keys.ROOMS].find(room_id).settings
        assert live.capacity == 25 and live.caps is not None and live.caps.capacity == 25
        cameras = live.camera_limit
        await operator(http, "addons", 200, json={"addon": "extra_cameras", "quantity": 2})
        assert api.app[keys.ROOMS].find(room_id).settings.camera_limit > cameras
