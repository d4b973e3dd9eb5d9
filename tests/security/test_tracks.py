"""Issue 14 finding 8, on a real server: one publish offer could create any number of producers (1,000 audio
producers, each with its retransmission cache). A participant now sends at most one microphone, one camera
and one shared screen, and an offer with more m-sections than that is refused before anything is created,
through the WebSocket protocol and through WHIP."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import aiohttp

from tests.conftest import token
from tests.signaling.client import Client, make_offer


async def many_audio(n: int) -> str:
    """A real aiortc offer whose one audio m-section is repeated ``n`` times, each with its own mid and SSRC:
    the shape of the review's 1,000-track publish (compact enough for the WebSocket's message limit)."""
    base = await make_offer(video=0, audio=1)
    head, _, section = base.partition("m=audio")
    section = "m=audio" + section
    keep = ("m=", "c=", "a=sendonly", "a=mid:", "a=rtcp-mux", "a=ssrc:", "a=rtpmap:96 ")
    lines = [x for x in section.split("\r\n") if x.startswith(keep)]
    session = [
        x for x in section.split("\r\n") if x.startswith(("a=ice-", "a=fingerprint:sha-256", "a=setup"))
    ]
    ssrcs = random.sample(range(1, 2**31), n)
    out = []
    for i in range(n):
        for x in lines:
            if x.startswith("m="):
                out.append("m=audio 9 UDP/TLS/RTP/SAVPF 96")
            elif x.startswith("a=mid:"):
                out.append(f"a=mid:{i}")
            elif x.startswith("a=ssrc:"):
                out.append(f"a=ssrc:{ssrcs[i]} cname:x")
            else:
                out.append(x)
    # ICE and DTLS at the session level, once (RFC 8866 allows either)
    head = re.sub(r"a=group:BUNDLE [^\r]*", "a=group:BUNDLE " + " ".join(map(str, range(n))), head)
    return head + "\r\n".join(session + out) + "\r\n"


async def ws_client(http: aiohttp.ClientSession, server: dict[str, Any]) -> Client:
    return Client(await http.ws_connect(server["base_url"].replace("http", "ws") + "/ws", max_msg_size=0))


async def test_a_thousand_tracks_in_one_websocket_publish_are_refused(server):
    """Issue 14 finding 8: 1,000 audio m-sections in one publish: refused (too_many_tracks, naming the limit
    and the count) before any transport or producer exists; the participant can still publish normally."""
    offer = await many_audio(1000)
    assert len(offer) < 256 * 1024 and offer.count("m=audio") == 1000
    async with aiohttp.ClientSession() as http:
        c = await ws_client(http, server)
        await c.ok("join", token=token("flood"))
        message = await c.err("publish", "too_many_tracks", sdp=offer)
        assert "1000" in message and "8" in message, message
        stats = server["media"].stats()
        assert stats["producers"] == 0 and stats["transports"] == 0, stats
        assert not server["rooms"].rooms["flood"].tracks
        await c.ok("publish", sdp=await make_offer(video=1, audio=1))
        assert server["media"].stats()["producers"] == 2


async def test_one_microphone_one_camera_one_screen_per_participant(server):
    """Issue 14 finding 8: two microphones in one offer, or a second camera on another connection, are refused
    (track_limit, 409); a camera, a microphone and a screen share are fine."""
    async with aiohttp.ClientSession() as http:
        c = await ws_client(http, server)
        await c.ok("join", token=token("caps"))
        message = await c.err("publish", "track_limit", sdp=await many_audio(2))
        assert "microphone" in message
        assert server["media"].stats()["producers"] == 0
        await c.ok("publish", sdp=await make_offer(video=1, audio=1))
        await c.err("publish", "track_limit", sdp=await make_offer(video=1, audio=0))
        await c.err("publish", "track_limit", sdp=await make_offer(video=0, audio=1))
        await c.ok("publish", sdp=await make_offer(video=1, audio=0), sources={"0": "screen"})
        await c.err("publish", "track_limit", sdp=await make_offer(video=1, audio=0), sources={"0": "screen"})
        assert server["media"].stats()["producers"] == 3
        # an attendee without the floor sends nothing at all (R-ROOM-3), as before
        a = await ws_client(http, server)
        await a.ok("join", token=token("caps", "attendee", "att"))
        await a.err("publish", "forbidden", sdp=await make_offer(video=0, audio=1))


async def whip(http: aiohttp.ClientSession, server: dict[str, Any], room: str, offer: str) -> tuple[int, Any]:
    auth = {"Authorization": "Bearer " + token(room, "presenter", "enc")}
    async with http.post(
        server["base_url"] + f"/whip/{room}", data=offer, headers={**auth, "Content-Type": "application/sdp"}
    ) as r:
        text = await r.text()
        return r.status, json.loads(text) if r.content_type == "application/json" else text


async def test_too_many_tracks_through_whip_are_refused(server):
    """Issue 14 finding 8 through WHIP: 1,000 audio m-sections are refused (the SDP is over WHIP's 64 KB
    limit too), a dozen (under the size limit) with too_many_tracks and two microphones with track_limit,
    before anyone joins or any producer exists; a camera and a microphone are accepted."""
    async with aiohttp.ClientSession() as http:
        status, body = await whip(http, server, "enc", await many_audio(1000))
        assert status in (400, 413) and body["error"]["code"] in ("too_many_tracks", "too_large"), body
        status, body = await whip(http, server, "enc", await many_audio(12))
        assert status == 400 and body["error"]["code"] == "too_many_tracks", body
        assert "12" in body["error"]["message"]
        status, body = await whip(http, server, "enc", await many_audio(2))
        assert status == 409 and body["error"]["code"] == "track_limit", body
        stats = server["media"].stats()
        assert stats["producers"] == 0 and stats["transports"] == 0, stats
        assert "enc" not in server["rooms"].rooms  # nobody joined; no ad-hoc room left behind
        status, _ = await whip(http, server, "enc", await make_offer(video=1, audio=1))
        assert status == 201
        assert server["media"].stats()["producers"] == 2
