"""The shared video player through the real WebSocket of the real server (issue 17 item 2, R-MEDIA-8): the
staff load a video of the event's room (or a YouTube video), play, pause, seek and change its rate; every
change is ONE ``player`` event with the whole state and the server's time; attendees can do none of it; bad
input is refused with a precise error and changes nothing; a late joiner gets the state in its snapshot; the
video streams from its signed URL with Range requests; ``time.sync`` answers the server's clock. The event and
its room files are made through the HTTP API (SQLite)."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from mediaserver.errors import ControlError
from mediaserver.interaction.player import server_ms, youtube_id
from signaling import keys
from tests.api.conftest import api, call, signup, smtp  # noqa: F401  (the real server and its fixtures)
from tests.api.test_event_rooms import room_token, ws_room
from tests.api.test_room_files import _create, _host, _patch
from tests.signaling.client import Client, drain, events, wait_event
from tests.signaling.test_rooms import create, enter

YT = "dQw4w9WgXcQ"
VIDEO = bytes(range(256)) * 400  # the server does not look inside: bytes named .webm are a video to it


@pytest.fixture
async def database_url(tmp_path: Any) -> str:
    return f"sqlite+aiosqlite:///{tmp_path}/control.db"


async def room_upload(http: aiohttp.ClientSession, room_id: str, name: str, data: bytes) -> int:
    """A tus upload into the event's room (R-FILE-2) with a host's join token; the file's id."""
    location = await _create(http, f"/api/v1/rooms/{room_id}/uploads", name, len(data))
    assert await _patch(http, location, 0, data) == len(data)
    files = await call(http, "GET", f"/api/v1/rooms/{room_id}/files", 200)
    return next(f["id"] for f in files["items"] if f["name"] == name)


async def event_with_files(api: Any) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:  # noqa: F811
    """A started permanent event whose room holds a video and a PDF, and another event's room video:
    (event, start, {clip, notes, other})."""
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Launch"})
    other = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Other"})
    host = await _host(api, ev)
    ids = {
        "clip": await room_upload(host, ev["roomId"], "clip.webm", VIDEO),
        "notes": await room_upload(host, ev["roomId"], "notes.pdf", b"%PDF-1.4\n%%EOF\n"),
        "other": await room_upload(await _host(api, other), other["roomId"], "other.webm", VIDEO),
    }
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    return ev, started, ids


def players(c: Client) -> list[dict[str, Any]]:
    return [e["player"] for e in events(c, "player")]


async def test_staff_drive_the_player_attendees_follow_and_a_late_joiner_gets_the_state(api):  # noqa: F811
    ev, started, ids = await event_with_files(api)
    async with ws_room(api) as room:
        host, joined = await room.enter(started["hostToken"])
        ann, seen = await room.enter(await room_token(api, ev["roomId"], "Ann", "ann@example.test"))
        nothing = {"source": None, "playing": False, "position": 0.0, "rate": 1.0, "by": None}
        assert {k: v for k, v in seen["interaction"]["player"]["player"].items() if k != "at"} == nothing
        assert seen["interaction"]["player"]["youtubeApi"] == "https://www.youtube.com/iframe_api"

        # an attendee does nothing to the player; nothing is loaded yet to play
        for method, params in (
            ("player.load", {"file": ids["clip"]}),
            ("player.play", {}),
            ("player.pause", {}),
            ("player.seek", {"position": 3}),
            ("player.rate", {"rate": 1.5}),
            ("player.stop", {}),
        ):
            assert "host and presenters" in await ann.err(method, "forbidden", **params)
        assert "player.load" in await host.err("player.play", "no_video")
        await host.err("player.seek", "no_video", position=1)

        # bad input: a precise error each, and no change (no event, the state as it was)
        bad = [
            ({"file": ids["clip"] + 100}, "not_found", "no file"),
            ({"file": ids["other"]}, "not_found", "no file"),  # another event's room's video
            ({"file": ids["notes"]}, "not_video", "'notes.pdf' is not a video"),
            ({"file": "clip.webm"}, "bad_request", "'file' must be the id"),
            ({"youtube": "dQw4w9WgXc"}, "bad_youtube", "11 letters"),
            ({"youtube": f"https://evil.example/watch?v={YT}"}, "bad_youtube", "youtube"),
            ({"youtube": f"javascript:alert(1)//{YT}"}, "bad_youtube", "youtube"),
            ({"file": ids["clip"], "position": -1}, "bad_position", "from 0 to 86400"),
            ({"file": ids["clip"], "position": 1e9}, "bad_position", "from 0 to 86400"),
            ({"file": ids["clip"], "rate": 3}, "bad_rate", "from 0.25 to 2"),
            ({"file": ids["clip"], "rate": 0}, "bad_rate", "from 0.25 to 2"),
            ({"file": ids["clip"], "playing": "yes"}, "bad_request", "'playing'"),
            ({"file": ids["clip"], "youtube": YT}, "bad_request", "one source"),
            ({}, "bad_request", "one source"),
        ]
        for params, code, words in bad:
            assert words in await host.err("player.load", code, **params), (params, code)
        await drain(ann)
        assert players(ann) == [] and players(host) == []

        # the host loads the room's video at 5 s: one event for everyone, with the server's time
        before = server_ms()
        state = await host.ok("player.load", file=ids["clip"], position=5)
        after = server_ms()
        src = state["source"]
        assert (src["kind"], src["file"], src["name"], src["type"]) == (
            "file",
            ids["clip"],
            "clip.webm",
            "video/webm",
        )
        assert src["url"].startswith("/play/") and "event" not in src
        assert state["playing"] is True and state["position"] == 5 and state["rate"] == 1.0
        assert before <= state["at"] <= after and state["by"]["role"] == "host"
        got = await wait_event(ann, "player")
        assert got["player"]["at"] == state["at"] and got["player"]["source"]["file"] == ids["clip"]

        # its signed URL streams with Range requests (seeking needs them): 206 with exactly those bytes
        async with aiohttp.ClientSession() as http:
            async with http.get(api.base_url + src["url"], headers={"Range": "bytes=1000-1999"}) as r:
                assert r.status == 206, await r.text()
                assert r.headers["Content-Range"] == f"bytes 1000-1999/{len(VIDEO)}"
                assert await r.read() == VIDEO[1000:2000]
            async with http.get(api.base_url + src["url"] + "x") as r:
                assert r.status == 403

        # an attendee still cannot seek the loaded video, and the state does not move
        await ann.err("player.seek", "forbidden", position=30)
        await ann.err("player.pause", "forbidden")

        # pause where it is: the position is where the state said it would be
        time.sleep(0.2)
        paused = await host.ok("player.pause")
        assert paused["playing"] is False
        assert paused["position"] == pytest.approx(5 + (paused["at"] - state["at"]) / 1000, abs=0.002)
        seeked = await host.ok("player.seek", position=12.5)
        assert (seeked["position"], seeked["playing"]) == (12.5, False)
        # bad input on a loaded video changes nothing either
        await host.err("player.seek", "bad_position", position=-0.5)
        await host.err("player.seek", "bad_position", position="1")
        await host.err("player.seek", "bad_position")
        await host.err("player.rate", "bad_rate", rate=2.5)
        await host.err("player.play", "bad_position", position=-3)
        faster = await host.ok("player.rate", rate=1.5)
        assert (faster["position"], faster["playing"], faster["rate"]) == (12.5, False, 1.5)
        playing = await host.ok("player.play")
        assert (playing["position"], playing["playing"], playing["rate"]) == (12.5, True, 1.5)

        # one event per change, in order, each the whole state
        await wait_event(ann, "player", lambda e: e["player"]["playing"] and e["player"]["rate"] == 1.5)
        await drain(ann, 0.3)
        mine = players(ann)
        assert [(p["playing"], p["position"], p["rate"]) for p in mine] == [
            (True, 5.0, 1.0),
            (False, paused["position"], 1.0),
            (False, 12.5, 1.0),
            (False, 12.5, 1.5),
            (True, 12.5, 1.5),
        ]
        assert all(set(p) == {"source", "playing", "position", "at", "rate", "by"} for p in mine)

        # a late joiner's snapshot holds the state as it is, with a working URL of its own
        bob, late = await room.enter(await room_token(api, ev["roomId"], "Bob", "bob@example.test"))
        snap = late["interaction"]["player"]["player"]
        assert {k: snap[k] for k in ("playing", "position", "at", "rate")} == {
            k: playing[k] for k in ("playing", "position", "at", "rate")
        }
        assert snap["source"]["file"] == ids["clip"] and snap["source"]["url"].startswith("/play/")
        async with aiohttp.ClientSession() as http:
            async with http.get(api.base_url + snap["source"]["url"], headers={"Range": "bytes=0-9"}) as r:
                assert r.status == 206 and await r.read() == VIDEO[:10]

        # a YouTube video by one of its links replaces it; then the host stops the player
        yt = await host.ok("player.load", youtube=f"https://youtu.be/{YT}", playing=False, position=42)
        assert yt["source"] == {"kind": "youtube", "id": YT} and (yt["playing"], yt["position"]) == (
            False,
            42,
        )
        assert (await wait_event(bob, "player"))["player"]["source"] == {"kind": "youtube", "id": YT}
        stopped = await host.ok("player.stop")
        assert stopped["source"] is None and stopped["playing"] is False
        await wait_event(bob, "player", lambda e: e["player"]["source"] is None)


@pytest.mark.parametrize("api", [{"youtube_api": ""}], indirect=True)
async def test_without_the_youtube_api_setting_youtube_is_refused_and_not_in_the_pages_policy(api):  # noqa: F811
    ev, started, ids = await event_with_files(api)
    async with ws_room(api) as room:
        host, joined = await room.enter(started["hostToken"])
        assert joined["interaction"]["player"]["youtubeApi"] == ""
        assert "does not play YouTube" in await host.err("player.load", "youtube_off", youtube=YT)
        assert (await host.ok("player.load", file=ids["clip"]))["source"]["file"] == ids["clip"]
    async with aiohttp.ClientSession() as http, http.get(f"{api.base_url}/room/{ev['roomId']}") as r:
        csp = r.headers["Content-Security-Policy"]
        assert "youtube" not in csp and "frame-src 'self';" in csp


async def test_the_pages_policy_lets_the_youtube_api_and_its_player_in(api):  # noqa: F811
    async with aiohttp.ClientSession() as http, http.get(f"{api.base_url}/room/123456789") as r:
        csp = dict(d.strip().split(" ", 1) for d in r.headers["Content-Security-Policy"].split(";"))
    assert csp["script-src"].endswith(" https://www.youtube.com")
    assert csp["frame-src"] == "'self' https://www.youtube.com"


async def test_time_sync_answers_the_servers_clock_before_and_after_joining(api):  # noqa: F811
    http, _ = await signup(api)
    ev = await call(http, "POST", "/api/v1/events", 201, json={"kind": "permanent", "name": "Clock"})
    started = await call(http, "POST", f"/api/v1/events/{ev['id']}/start", 200)
    async with ws_room(api) as room:
        c = await room.connect()
        answers = []
        for _ in range(3):
            before = server_ms()
            got = await c.ok("time.sync")
            after = server_ms()
            assert set(got) == {"now"} and before <= got["now"] <= after
            answers.append(got["now"])
        assert answers == sorted(answers)
        # the server's clock is the wall clock (within the test's own reading of it)
        assert abs(answers[-1] - time.time() * 1000) < 1000
        await c.ok("join", token=started["hostToken"])
        now = (await c.ok("time.sync"))["now"]
        assert answers[-1] < now <= server_ms()


@pytest.mark.parametrize(
    "given",
    [
        YT,
        f"https://www.youtube.com/watch?v={YT}",
        f"https://www.youtube.com/watch?feature=share&v={YT}&t=30",
        f"https://m.youtube.com/watch?v={YT}",
        f"https://youtu.be/{YT}",
        f"https://youtu.be/{YT}?t=4",
        f"https://www.youtube.com/embed/{YT}",
        f"https://www.youtube-nocookie.com/embed/{YT}",
        f"https://www.youtube.com/shorts/{YT}",
        f"http://youtube.com/live/{YT}/",
        f"  {YT}  ",
    ],
)
def test_youtube_ids_and_links_give_the_id(given: str) -> None:
    assert youtube_id(given) == YT


@pytest.mark.parametrize(
    "given",
    [
        "",
        YT + "x",
        YT[:-1] + "!",
        f"https://youtube.com.evil.example/watch?v={YT}",
        f"https://www.youtube.com/watch?v={YT}x",
        f"https://www.youtube.com/playlist?list={YT}",
        f"https://user@www.youtube.com/watch?v={YT}",
        f"https://www.youtube.com:8443/watch?v={YT}",
        f"ftp://youtu.be/{YT}",
        f"//youtu.be/{YT}",
        f"https://youtu.be/{YT}/extra",
        None,
        12345678901,
        "x" * 400,
    ],
)
def test_anything_else_is_not_a_youtube_video(given: Any) -> None:
    with pytest.raises(ControlError) as e:
        youtube_id(given)
    assert e.value.code == "bad_youtube" and e.value.status == 400


async def test_a_room_without_an_event_plays_youtube_in_one_frame_for_everyone(server, connect):
    """An instant room (no event) has no library videos (409 ``no_event``) but plays YouTube; each change is
    one frame serialised once for all the sockets of the room (the fan-out, never per socket)."""
    async with aiohttp.ClientSession(server["base_url"]) as http:
        room = await create(http, type="webinar", name="Watch party")
        host, _ = await enter(http, connect, room, "hanna", "host")
        ann, _ = await enter(http, connect, room, "ann")
        bob, _ = await enter(http, connect, room, "bob")
        assert "belong to an event" in await host.err("player.load", "no_event", file=1)
        fan = server["app"][keys.FANOUT]
        await drain(ann)
        frames, writes = fan.frames, fan.writes
        state = await host.ok("player.load", youtube=f"https://www.youtube.com/embed/{YT}", position=7.25)
        assert state["source"] == {"kind": "youtube", "id": YT} and state["position"] == 7.25
        for c in (host, ann, bob):
            assert (await wait_event(c, "player"))["player"]["at"] == state["at"]
        assert fan.frames - frames == 1 and fan.writes - writes == 3
