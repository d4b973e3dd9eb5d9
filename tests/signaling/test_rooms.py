"""Rooms through their real interfaces: the rooms HTTP API and the WebSocket protocol (R-ROOM-1, -2, -3,
-7, -8, -13, -14; R-MEDIA-5, -7). Media-level rules are checked on the forwarding counters."""

from __future__ import annotations

import asyncio
import json
import re

import aiohttp
import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from tests.conftest import wait_for
from tests.e2e.peers import CountingVideo, count_frames, pc
from tests.signaling.client import Client, make_offer


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(server["base_url"]) as s:
        yield s


async def create(http, **body) -> dict:
    async with http.post("/api/v1/rooms", json=body) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def join_token(http, room_id: str, name: str, **extra) -> tuple[int, dict]:
    async with http.post(
        f"/api/v1/rooms/{room_id}/join",
        json={
            "name": name,
            "email": f"{name}@example.org",
            "hostKey": extra.get("hostKey"),
            "presenterKey": extra.get("presenterKey"),
        }
        if extra
        else {"name": name, "email": f"{name}@example.org"},
    ) as r:
        return r.status, await r.json()


async def enter(http, connect, room: dict, name: str, role: str = "attendee", device: str = "desktop"):
    keys = {"host": {"hostKey": room["hostKey"]}, "presenter": {"presenterKey": room["presenterKey"]}}.get(
        role, {}
    )
    status, body = await join_token(http, room["id"], name, **keys)
    assert status == 200 and body["role"] == role, body
    c = await connect()
    res = await c.ok("join", token=body["token"], device=device)
    return c, res


async def media_between(host: Client, att: Client, audio: bool = True):
    """The host publishes aiortc video (and audio); the attendee subscribes with aiortc and decodes."""
    pub = pc()
    pub.addTransceiver(CountingVideo(), direction="sendonly")
    if audio:
        pub.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await pub.setLocalDescription(await pub.createOffer())
    out = await host.ok("publish", sdp=pub.localDescription.sdp)
    await pub.setRemoteDescription(RTCSessionDescription(out["sdp"], "answer"))
    sub = pc()
    counts, tasks = count_frames(sub)
    offer = await att.ok("subscribe")
    await sub.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
    await sub.setLocalDescription(await sub.createAnswer())
    await att.ok("answer", sdp=sub.localDescription.sdp)
    return pub, sub, counts, tasks


async def close_all(tasks, *conns) -> None:
    for t in tasks:
        t.cancel()
    for c in conns:
        try:
            await c.close()
        except Exception:
            pass


async def test_create_and_look_up_rooms(http):
    room = await create(http, type="meeting", name="Standup", language="ru")
    assert re.fullmatch(r"[1-9]\d{8}", room["id"]) and room["url"] == f"/room/{room['id']}"
    assert room["type"] == "meeting" and room["capacity"] == 25 and room["language"] == "ru"
    assert room["audioMode"] == "discussion"  # everyone speaks in a meeting
    assert room["hostUrl"].startswith(f"/room/{room['id']}?host=") and re.fullmatch(r"\d{6}", room["pin"])
    assert (await create(http, type="meeting", cameraLimit=7))["cameraLimit"] == 7  # 3 more, meetings only
    webinar = await create(http)
    assert webinar["type"] == "webinar" and webinar["audioMode"] == "listen"  # the defaults (R-ROOM-1, -2)
    async with http.get(f"/api/v1/rooms/{room['id']}") as r:
        info = await r.json()
        assert r.status == 200 and info["name"] == "Standup" and "hostKey" not in info
    async with http.get("/api/v1/rooms/123456789") as r:
        assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    for body, code in (
        ({"type": "party"}, "bad_request"),
        ({"type": "meeting", "capacity": 26}, "bad_capacity"),
        ({"capacity": 5001}, "bad_capacity"),
        ({"language": "xx"}, "bad_request"),
        ({"audioMode": "karaoke"}, "bad_request"),
        ({"cameraLimit": 5}, "bad_request"),
        ({"type": "meeting", "cameraLimit": 8}, "bad_request"),
        ({"audioMode": "discussion"}, "too_many_for_discussion"),
    ):
        async with http.post("/api/v1/rooms", json=body) as r:
            assert r.status == (409 if code == "too_many_for_discussion" else 400), body
            assert (await r.json())["error"]["code"] == code, body


async def test_join_by_id_needs_a_name_and_an_email(http):
    room = await create(http)
    status, body = await join_token(http, room["id"], "ann")
    assert status == 200 and body["role"] == "attendee"
    status, body = await join_token(http, room["id"], "hal", hostKey=room["hostKey"])
    assert status == 200 and body["role"] == "host"
    status, body = await join_token(http, room["id"], "eve", hostKey="guess")
    assert status == 403
    for payload in ({"name": "x"}, {"name": "", "email": "a@b.cc"}, {"name": "x", "email": "not-an-email"}):
        async with http.post(f"/api/v1/rooms/{room['id']}/join", json=payload) as r:
            assert r.status == 400 and (await r.json())["error"]["code"] == "bad_request", payload
    async with http.post("/api/v1/rooms/999999999/join", json={"name": "x", "email": "a@b.cc"}) as r:
        assert r.status == 404


async def test_lobby_until_the_host_starts(http, connect):
    room = await create(http, start="lobby", agenda="1. hello", message="We start at ten")
    att, res = await enter(http, connect, room, "ann")
    assert res["participant"]["status"] == "lobby" and res["room"]["agenda"] == "1. hello"
    assert res["tracks"] == [] and res["participants"] == []
    await att.err("publish", "not_admitted", sdp=await make_offer())
    await att.err("subscribe", "not_admitted")
    host, res = await enter(http, connect, room, "hal", "host")
    assert res["participant"]["status"] == "joined"
    await host.ok("host", action="start")
    admitted = await att.note("admitted")
    assert (
        admitted["params"]["participant"]["status"] == "joined"
        and admitted["params"]["room"]["state"] == "live"
    )


async def test_a_full_room_makes_newcomers_wait_and_a_capacity_raise_admits_them(http, connect, server):
    room = await create(http, type="meeting", capacity=2)
    host, _ = await enter(http, connect, room, "hal", "host")
    await enter(http, connect, room, "ann")
    late, res = await enter(http, connect, room, "bob")
    assert res["participant"]["status"] == "waiting"
    await host.ok("host", action="setCapacity", capacity=3)
    assert (await late.note("admitted"))["params"]["participant"]["status"] == "joined"
    await host.err("host", "bad_capacity", action="setCapacity", capacity=26)  # a meeting holds 25
    assert server["rooms"].find(room["id"]).seated() == 3


async def test_lock_and_end(http, connect):
    room = await create(http)
    host, _ = await enter(http, connect, room, "hal", "host")
    att, _ = await enter(http, connect, room, "ann")
    status, ok_before = await join_token(http, room["id"], "bob")  # a token from before the lock
    await host.ok("host", action="lock")
    status, body = await join_token(http, room["id"], "cy")
    assert status == 403 and body["error"]["code"] == "locked"
    late = await connect()
    await late.err("join", "locked", token=ok_before["token"])
    status, body = await join_token(http, room["id"], "hal2", hostKey=room["hostKey"])
    assert status == 200  # the host still gets in
    await host.ok("host", action="unlock")
    await host.ok("host", action="end")
    assert (await att.note("ended"))["method"] == "ended"
    await att.err("subscribe", "not_joined")
    status, body = await join_token(http, room["id"], "dan")
    assert status == 410 and body["error"]["code"] == "ended"


async def test_host_exit_leaves_the_room_open(http, connect, server):
    room = await create(http)
    host, _ = await enter(http, connect, room, "hal", "host")
    await enter(http, connect, room, "ann")
    await host.ok("leave")
    st = server["rooms"].find(room["id"]).settings
    assert st.state == "live" and (await join_token(http, room["id"], "bob"))[0] == 200


async def test_listen_only_refuses_attendees_and_the_floor_lets_them_speak(http, connect):
    room = await create(http)
    host, _ = await enter(http, connect, room, "hal", "host")
    att, res = await enter(http, connect, room, "ann")
    assert res["participant"]["canPublish"] is False
    await att.err("publish", "forbidden", sdp=await make_offer())
    await host.ok("host", action="grantFloor", participant=res["participant"]["id"])
    assert (await att.note("floorGranted"))["method"] == "floorGranted"
    out = await att.ok("publish", sdp=await make_offer())
    assert len(out["tracks"]) == 2
    assert (await host.note("trackPublished"))["params"]["track"]["participant"] == res["participant"]["id"]
    await host.ok("host", action="revokeFloor", participant=res["participant"]["id"])
    await att.note("floorRevoked")
    await host.note("trackUnpublished")
    await att.err("publish", "forbidden", sdp=await make_offer())
    await att.err("host", "forbidden", action="lock")  # host controls are the host's
    await host.err("host", "bad_request", action="fly")


async def test_discussion_mode_only_with_25_or_fewer(http, connect):
    room = await create(http)
    host, _ = await enter(http, connect, room, "hal", "host")
    att, _ = await enter(http, connect, room, "ann")
    await host.ok("host", action="setAudioMode", mode="discussion")
    await att.ok("publish", sdp=await make_offer())  # everyone may speak now
    for i in range(23):
        await enter(http, connect, room, f"p{i}")
    late, res = await enter(http, connect, room, "p23")  # the 26th: discussion seats 25 at most
    assert res["participant"]["status"] == "waiting"
    await host.err("host", "too_many_for_discussion", action="setCapacity", capacity=200)
    await host.ok("host", action="setAudioMode", mode="listen")
    assert (await late.note("admitted"))["params"]["participant"]["status"] == "joined"
    await host.err("host", "too_many_for_discussion", action="setAudioMode", mode="discussion")


async def test_a_mode_switch_mutes_the_presenters(http, connect):
    room = await create(http)
    host, _ = await enter(http, connect, room, "hal", "host")
    pres, _ = await enter(http, connect, room, "pia", "presenter")
    await pres.ok("publish", sdp=await make_offer())
    await host.ok("host", action="setAudioMode", mode="presenters")
    muted = await pres.note("muted")
    assert muted["params"] == {"kind": "audio", "by": "audioMode"}
    updated = await host.note("trackUpdated")
    assert updated["params"]["track"]["kind"] == "audio" and updated["params"]["track"]["muted"] is True
    out = await pres.ok("mute", kind="audio", muted=False)  # they turn it on again themselves
    assert out["tracks"][0]["muted"] is False


async def test_camera_limit_and_screen_sharing_rules(http, connect):
    room = await create(http, type="meeting")
    presenters = [(await enter(http, connect, room, f"p{i}", "presenter"))[0] for i in range(5)]
    for p in presenters[:4]:
        await p.ok("publish", sdp=await make_offer(video=1, audio=0))
    await presenters[4].err("publish", "camera_limit", sdp=await make_offer(video=1, audio=0))
    # a screen is not a camera: it may still be shared, from a desktop only
    offer = await make_offer(video=1, audio=0)
    mid = re.search(r"a=mid:(\S+)", offer).group(1)
    out = await presenters[4].ok("publish", sdp=offer, sources={mid: "screen"}, screenQuality="lite")
    assert out["tracks"][0]["source"] == "screen" and out["tracks"][0]["screenQuality"] == "lite"
    # a phone joins as an attendee (R-MEDIA-1, R-INT-5; tests/signaling/test_mobile.py): in a meeting it
    # speaks, but shares no screen (R-MEDIA-7)
    phone, _ = await enter(http, connect, room, "mo", "attendee", device="mobile")
    await phone.err("publish", "not_on_mobile", sdp=offer, sources={mid: "screen"})


async def test_removed_participants_are_told_and_gone(http, connect, server):
    room = await create(http)
    host, _ = await enter(http, connect, room, "hal", "host")
    att, res = await enter(http, connect, room, "ann")
    await host.ok("host", action="remove", participant=res["participant"]["id"])
    assert (await att.note("removed"))["params"]["reason"] == "removed by the host"
    await att.err("subscribe", "not_joined")
    assert res["participant"]["id"] not in server["rooms"].find(room["id"]).participants


async def test_closing_the_websocket_leaves_no_ghost(http, connect, server):
    room = await create(http)
    att, res = await enter(http, connect, room, "ann")
    await att.ws.close()
    assert await wait_for(lambda: not server["rooms"].find(room["id"]).participants, 5)


@pytest.mark.timeout(90)
async def test_presenters_only_mode_stops_media_to_attendees(http, connect, server):
    """R-ROOM-2: in presenters-only mode attendees receive nothing; back in listen-only they do again."""
    room = await create(http)
    media = server["media"]
    host, _ = await enter(http, connect, room, "hal", "host")
    att, _ = await enter(http, connect, room, "ann")
    pub, sub, counts, tasks = await media_between(host, att)
    try:
        assert await wait_for(lambda: counts["video"] > 10 and counts["audio"] > 10, 20), counts
        part = next(q for q in server["rooms"].find(room["id"]).participants.values() if q.name == "ann")
        sent = lambda: sum(media.consumer_stats(c)["packets"] for c in part.consumers.values())  # noqa: E731

        await host.ok("host", action="setAudioMode", mode="presenters")
        await asyncio.sleep(0.3)
        frozen = sent()
        await asyncio.sleep(1.5)
        assert sent() == frozen, "attendee still receives media in presenters-only mode"

        await host.ok("host", action="setAudioMode", mode="listen")
        v0 = counts["video"]
        assert await wait_for(lambda: counts["video"] > v0 + 10, 10), counts
        assert sent() > frozen
    finally:
        await close_all(tasks, sub, pub)


async def test_an_avatar_instead_of_a_camera(http, connect):
    import base64

    room = await create(http)
    host, _ = await enter(http, connect, room, "hal", "host")
    att, _ = await enter(http, connect, room, "ann")
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    out = await att.ok("setAvatar", image="data:image/png;base64," + base64.b64encode(png).decode())
    assert out["avatar"].startswith("/avatars/")
    upd = await host.note("participantUpdated")
    assert upd["params"]["participant"]["avatar"] == out["avatar"]
    async with http.get(out["avatar"]) as r:
        assert r.status == 200 and r.content_type == "image/png" and await r.read() == png
    await att.err("setAvatar", "bad_request", image="data:text/plain;base64,aGVsbG8=")
    await att.err("setAvatar", "bad_request", image="data:image/png;base64," + "A" * 230_000)
    assert (await att.ok("setAvatar", image=None))["avatar"] is None


@pytest.mark.timeout(90)
async def test_a_vanished_participant_is_removed_when_ice_consent_expires(http, connect, server):
    """No ghosts: a subscriber whose network goes away is removed once its ICE consent expires."""
    room = await create(http, type="meeting")
    media = server["media"]
    media.worker.set_consent_timeout(7.0)  # aiortc checks consent every 4-6 s: the live peers keep theirs
    host, _ = await enter(http, connect, room, "hal", "host")
    att, res = await enter(http, connect, room, "ann")
    pub, sub, counts, tasks = await media_between(host, att, audio=False)
    try:
        assert await wait_for(lambda: counts["video"] > 5, 20), counts
        ice = sub.getTransceivers()[0].receiver.transport.transport
        for proto in ice._connection._protocols:  # the network goes away: no goodbye of any kind
            proto.transport.close()
        pid = res["participant"]["id"]
        assert await wait_for(lambda: pid not in server["rooms"].find(room["id"]).participants, 15)
        assert (await att.note("removed"))["params"]["reason"] == "connection lost"
        left = await host.note("participantLeft")
        assert left["params"]["participant"] == pid
    finally:
        await close_all(tasks, sub, pub)


async def test_webinar_attendees_do_not_see_each_other(http, connect):
    room = await create(http)  # a webinar
    host, _ = await enter(http, connect, room, "hal", "host")
    a, _ = await enter(http, connect, room, "ann")
    b, res = await enter(http, connect, room, "bob")
    bob = res["participant"]["id"]
    assert sorted(p["name"] for p in res["participants"]) == ["bob", "hal"]  # no ann
    await b.ok("setAvatar", image=None)
    assert (await host.note("participantUpdated"))["params"]["participant"]["id"] == bob
    await b.ok("leave")
    assert (await host.note("participantLeft"))["params"]["participant"] == bob
    await a.ok("setAvatar", image=None)  # a round trip: whatever was sent to ann has arrived
    about_bob = [n for n in a.notes if bob in json.dumps(n) or "bob" in json.dumps(n)]
    assert about_bob == [], about_bob


async def test_a_removed_person_cannot_come_back_with_the_same_token(http, connect):
    room = await create(http)
    host, _ = await enter(http, connect, room, "hal", "host")
    status, body = await join_token(http, room["id"], "ann")
    att = await connect()
    res = await att.ok("join", token=body["token"])
    await host.ok("host", action="remove", participant=res["participant"]["id"])
    await att.note("removed")
    await att.err("join", "removed", token=body["token"])


async def test_starting_a_full_room_moves_the_rest_of_the_lobby_to_waiting(http, connect):
    room = await create(http, type="meeting", capacity=2, start="lobby")
    host, _ = await enter(http, connect, room, "hal", "host")
    people = [(await enter(http, connect, room, n))[0] for n in ("ann", "bob", "cy")]
    await host.ok("host", action="start")
    assert (await people[0].note("admitted"))["params"]["participant"]["status"] == "joined"
    for c in people[1:]:
        assert (await c.note("participantUpdated"))["params"]["participant"]["status"] == "waiting"
    await host.ok("host", action="setCapacity", capacity=4)
    for c in people[1:]:
        await c.note("admitted")


async def test_an_ended_adhoc_room_stays_ended(connect):
    from tests.conftest import token

    host = await connect()
    await host.ok("join", token=token("adhoc-end", "host", "h"))
    await host.ok("host", action="end")
    again = await connect()
    await again.err("join", "ended", token=token("adhoc-end", "attendee", "x"))
