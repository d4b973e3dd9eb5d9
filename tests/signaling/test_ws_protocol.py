"""WebSocket protocol errors: every bad request gets a precise error reply and the connection stays usable."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import aiohttp
import pytest

from mediaserver.rtc import tokens
from tests.conftest import SECRET, token, wait_for
from tests.signaling.client import Client, make_offer

ROOM = "proto"


def assert_error(reply: dict[str, Any], code: str, rid: Any = None) -> None:
    assert reply.get("id") == rid, reply
    assert "result" not in reply, reply
    assert reply["error"]["code"] == code, reply
    assert reply["error"]["message"], reply


async def still_usable(c: Client, joined: bool = False) -> None:
    """A valid call right after an error works."""
    if joined:
        await c.err("join", "conflict", token=token(ROOM))  # a real, well-formed reply
        return
    res = await c.ok("join", token=token(ROOM, "presenter", "after-error"))
    assert res["participant"]["name"] == "after-error" and res["room"]["id"] == ROOM


# ---------------------------------------------------------------- framing


async def test_non_json_text(connect):
    c = await connect()
    for text in (
        "hello",
        "{",
        '{"id": 1, "method": "join"',
        "",
        "\x00\x01",
        "{'single': 'quotes'}",
        "NaN garbage",
    ):
        r = await c.raw(text)
        assert_error(r, "bad_json")
        assert r["error"]["message"].startswith("not JSON"), r
    await still_usable(c)


@pytest.mark.parametrize("text", ["[]", '[{"id": 1, "method": "join"}]', '"join"', "42", "null", "true"])
async def test_json_but_not_an_object(connect, text):
    c = await connect()
    assert_error(await c.raw(text), "bad_request")
    await still_usable(c)


async def test_bad_method_and_params(connect):
    c = await connect()
    assert_error(await c.raw(json.dumps({"id": 7})), "bad_request", 7)
    assert_error(await c.raw(json.dumps({"id": 8, "method": 3})), "bad_request", 8)
    assert_error(await c.raw(json.dumps({"id": 9, "method": None})), "bad_request", 9)
    assert_error(await c.raw(json.dumps({"id": 10, "method": "join", "params": []})), "bad_request", 10)
    assert_error(await c.raw(json.dumps({"id": 11, "method": "join", "params": "tok"})), "bad_request", 11)
    assert_error(await c.raw(json.dumps({"id": 12, "method": "join", "params": None})), "bad_request", 12)
    await still_usable(c)


async def test_ids_of_any_json_type_are_echoed(connect):
    c = await connect()
    for rid in ("abc", 0, -1, 1.5, [1, 2], {"k": "v"}, None):
        r = await c.raw(json.dumps({"id": rid, "method": "nope"}))
        assert_error(r, "unknown_method", rid)


@pytest.mark.parametrize(
    "method",
    ["nope", "", "JOIN", "handle", "close", "_sdp", "notify", "__init__", "do_join", "join ", "pump"],
)
async def test_unknown_method(connect, method):
    c = await connect()
    msg = await c.err(method, "unknown_method")
    assert repr(method) in msg
    await still_usable(c)


async def test_binary_frame(connect):
    c = await connect()
    await c.ws.send_bytes(b'{"id": 1, "method": "join"}')
    r = await c.reply()
    assert r["error"]["code"] == "bad_request" and "text" in r["error"]["message"], r
    await c.ws.send_bytes(b"\x00\xff" * 100)
    assert (await c.reply())["error"]["code"] == "bad_request"
    await still_usable(c)


async def test_ping_frames_are_harmless(connect):
    c = await connect()
    await c.ws.ping(b"x")
    await still_usable(c)


async def test_oversize_message_closes_only_that_socket(connect, server):
    big, other = await connect(), await connect()
    await big.ws.send_str(json.dumps({"id": 1, "method": "join", "params": {"token": "x" * (300 * 1024)}}))
    msg = await big.ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING), msg
    await still_usable(other)


# ---------------------------------------------------------------- join


@pytest.mark.parametrize("method", ["publish", "unpublish", "subscribe", "answer", "leave"])
async def test_before_join(connect, method):
    c = await connect()
    await c.err(method, "not_joined", sdp="v=0")
    await still_usable(c)


async def test_join_without_token(connect):
    c = await connect()
    msg = await c.err("join", "unauthorized")
    assert "token" in msg
    for bad in (None, 123, ["a.b.c"], {"t": 1}, True):
        await c.err("join", "unauthorized", token=bad)
    await still_usable(c)


def tamper_payload(tok: str, **changes) -> str:
    h, p, s = tok.split(".")
    body = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    body.update(changes)
    p2 = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"{h}.{p2}.{s}"


async def test_join_with_bad_tokens(connect, server):
    c = await connect()
    good = token(ROOM, "attendee", "t")
    h, p, s = good.split(".")
    flipped = s[:-2] + ("A" if s[-2] != "A" else "B") + s[-1]
    bad_tokens = {
        "tampered role": tamper_payload(good, role="host"),
        "tampered room": tamper_payload(good, room="other"),
        "tampered signature": f"{h}.{p}.{flipped}",
        "no signature": f"{h}.{p}.",
        "wrong secret": tokens.issue("other-secret", ROOM, "host", "x", "x"),
        "expired": tokens.issue(SECRET, ROOM, "host", "x", "x", ttl=-10),
        "not a jwt": "hello",
        "empty": "",
        "four parts": good + ".x",
        "garbage base64": "!!!.???.***",
    }
    for what, tok in bad_tokens.items():
        msg = await c.err("join", "unauthorized", token=tok)
        assert msg, what
    assert ROOM not in server["rooms"].rooms or not server["rooms"].rooms[ROOM].participants
    await still_usable(c)


async def test_join_twice_conflict(connect):
    c = await connect()
    await c.ok("join", token=token(ROOM))
    await c.err("join", "conflict", token=token(ROOM))
    await c.err("join", "conflict", token="garbage")  # already joined is checked first


# ---------------------------------------------------------------- publish / subscribe / answer


async def test_attendee_may_not_publish(connect, server):
    c = await connect()
    await c.ok("join", token=token(ROOM, "attendee", "viewer"))
    msg = await c.err("publish", "forbidden", sdp=await make_offer())
    assert "attendee" in msg
    assert server["media"].stats()["transports"] == 0
    await still_usable(c, joined=True)


@pytest.mark.parametrize(
    "sdp",
    [
        "garbage",
        "v=0\r\n",
        "v=1\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n",
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 "
        "VP8/90000\r\n",
        "v=0\r\nm=audio 99999999 RTP 111\r\n",
        "v=0\r\n\x00\x01\x02",
        "x" * 70000,
        "\u00e9\u00e9\u00e9=\u00e9",
    ],
    ids=["word", "header-only", "bad-version", "no-ice", "bad-port", "control-chars", "huge", "unicode"],
)
async def test_publish_garbage_sdp(connect, server, sdp):
    c = await connect()
    await c.ok("join", token=token(ROOM, "presenter", "p"))
    msg = await c.err("publish", "bad_sdp", sdp=sdp)
    assert len(msg) < 500
    assert server["media"].stats()["transports"] == 0
    # still usable: a real offer is accepted afterwards
    res = await c.ok("publish", sdp=await make_offer())
    assert res["sdp"].startswith("v=0") and len(res["tracks"]) == 2


@pytest.mark.parametrize("params", [{}, {"sdp": ""}, {"sdp": 5}, {"sdp": None}, {"sdp": ["v=0"]}])
async def test_publish_without_sdp(connect, params):
    c = await connect()
    await c.ok("join", token=token(ROOM, "presenter", "p"))
    await c.err("publish", "bad_request", **params)
    await c.ok("publish", sdp=await make_offer())


async def test_at_most_three_publications(connect, server):
    c = await connect()
    await c.ok("join", token=token(ROOM))
    # a camera, a microphone and a screen share, each on its own connection (one of each, finding 8)
    await c.ok("publish", sdp=await make_offer(video=1, audio=0))
    await c.ok("publish", sdp=await make_offer(video=0, audio=1))
    await c.ok("publish", sdp=await make_offer(video=1, audio=0), sources={"0": "screen"})
    await c.err("publish", "conflict", sdp=await make_offer(video=0, audio=1))
    assert server["media"].stats()["transports"] == 3
    await c.ok("unpublish")
    assert server["media"].stats()["transports"] == 0
    await c.ok("publish", sdp=await make_offer())


async def test_answer_without_offer(connect):
    c = await connect()
    await c.ok("join", token=token(ROOM, "attendee", "a"))
    await c.err("answer", "unexpected_answer", sdp=await make_offer())
    await c.err("answer", "bad_request")
    await c.err("subscribe", "nothing_to_subscribe")
    await c.err("answer", "unexpected_answer", sdp="v=0")
    await still_usable(c, joined=True)


async def test_garbage_answer_to_a_real_offer(connect):
    pub, sub = await connect(), await connect()
    await pub.ok("join", token=token(ROOM, "presenter", "pub"))
    await pub.ok("publish", sdp=await make_offer())
    await sub.ok("join", token=token(ROOM, "attendee", "sub"))
    offer = (await sub.ok("subscribe"))["sdp"]
    assert offer.startswith("v=0")
    await sub.err("answer", "bad_sdp", sdp="not an sdp")
    await still_usable(sub, joined=True)


async def test_unpublish_bad_track_param(connect):
    c = await connect()
    await c.ok("join", token=token(ROOM))
    await c.ok("publish", sdp=await make_offer())
    await c.err("unpublish", "bad_request", track=5)
    await c.err("unpublish", "bad_request", track=["x"])
    await still_usable(c, joined=True)


async def test_unpublish_unknown_track_is_not_found(connect):
    c = await connect()
    await c.ok("join", token=token(ROOM))
    await c.ok("publish", sdp=await make_offer())
    await c.err("unpublish", "not_found", track="no-such-track")


async def test_publish_duplicate_ssrc_is_rejected_cleanly(connect, server):
    c = await connect()
    await c.ok("join", token=token(ROOM))
    offer = await make_offer(video=1, audio=1)  # one camera, one microphone (issue 14 finding 8)
    ssrcs = re.findall(r"a=ssrc:(\d+) ", offer)
    bad = offer.replace(ssrcs[2], ssrcs[0])  # the audio m-line reuses the video's SSRC
    r = await c.call("publish", sdp=bad)
    assert r.get("error", {}).get("code") in ("bad_sdp", "media_refused"), r
    # nothing half-made: no transport, no track, and a good offer is accepted afterwards
    assert server["media"].stats()["transports"] == 0
    assert not server["rooms"].rooms[ROOM].tracks
    await c.ok("publish", sdp=offer)


# ---------------------------------------------------------------- leaving


async def test_leave_removes_participant(connect, server):
    rooms = server["rooms"]
    a, b = await connect(), await connect()
    ra = await a.ok("join", token=token(ROOM, "presenter", "a"))
    await b.ok("join", token=token(ROOM, "attendee", "b"))
    await a.ok("publish", sdp=await make_offer())
    assert len(rooms.rooms[ROOM].participants) == 2 and len(rooms.rooms[ROOM].tracks) == 2
    assert server["media"].stats()["producers"] == 2
    await a.ok("leave")
    assert list(p.name for p in rooms.rooms[ROOM].participants.values()) == ["b"]
    assert not rooms.rooms[ROOM].tracks
    assert server["media"].stats()["transports"] == 0 and server["media"].stats()["producers"] == 0
    left = await b.note("participantLeft")
    assert left["params"]["participant"] == ra["participant"]["id"]
    # a is no longer joined, but its socket still works
    await a.err("publish", "not_joined", sdp="v=0")
    await a.ok("join", token=token(ROOM, "presenter", "a2"))
    assert len(rooms.rooms[ROOM].participants) == 2
    assert ra["participant"]["id"] not in rooms.rooms[ROOM].participants


async def test_close_removes_participant_and_room(connect, server):
    rooms, media = server["rooms"], server["media"]
    a = await connect()
    await a.ok("join", token=token("closing", "presenter", "a"))
    await a.ok("publish", sdp=await make_offer())
    assert "closing" in rooms.rooms and media.stats()["transports"] == 1
    await a.ws.close()
    assert await wait_for(lambda: "closing" not in rooms.rooms, 5), rooms.rooms
    assert media.stats()["transports"] == 0 and media.stats()["producers"] == 0


async def test_abrupt_disconnect_after_errors(connect, server):
    rooms = server["rooms"]
    a = await connect()
    await a.ok("join", token=token("abrupt", "attendee", "a"))
    await a.raw("not json")
    await a.err("publish", "forbidden", sdp="v=0")
    await a.ws.close()
    assert await wait_for(lambda: "abrupt" not in rooms.rooms, 5)


async def test_many_errors_then_valid(connect):
    c = await connect()
    for i in range(200):
        await c.ws.send_str(["{", "[]", json.dumps({"id": i, "method": "x"})][i % 3])
    for _ in range(200):
        r = await c.reply()
        assert "error" in r
    await still_usable(c)
