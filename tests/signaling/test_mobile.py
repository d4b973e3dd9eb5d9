"""Phones through the real WebSocket and WHIP endpoints: the server classifies a connection from its own
headers (User-Agent, Sec-CH-UA-Mobile) as well as the client's `device` flag, so a phone that says
'desktop' still cannot share a screen (R-MEDIA-7) nor join as a presenter or host (R-MEDIA-1, R-INT-5)."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiortc import RTCPeerConnection

from tests.signaling.client import Client, make_offer
from tests.signaling.test_rooms import create, join_token

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.0 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Mobile Safari/537.36"
)
DESKTOP = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
    "Safari/537.36"
)


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(server["base_url"]) as s:
        yield s


@pytest.fixture
async def connect_as(server):
    """A WebSocket client whose upgrade request carries the given headers (a browser's)."""
    url = server["base_url"].replace("http", "ws") + "/ws"
    async with aiohttp.ClientSession() as session:

        async def factory(**headers: str) -> Client:
            return Client(await session.ws_connect(url, headers=headers))

        yield factory


async def token(http, room: dict, name: str, role: str = "attendee") -> str:
    keys = {"host": {"hostKey": room["hostKey"]}, "presenter": {"presenterKey": room["presenterKey"]}}
    status, body = await join_token(http, room["id"], name, **keys.get(role, {}))
    assert status == 200 and body["role"] == role, body
    return body["token"]


async def screen_offer() -> tuple[str, str]:
    offer = await make_offer(video=1, audio=0)
    return offer, re.search(r"a=mid:(\S+)", offer).group(1)


async def test_a_phone_saying_desktop_cannot_share_a_screen(http, connect_as):
    room = await create(http, type="meeting")  # discussion mode: attendees publish too
    offer, mid = await screen_offer()
    for headers in (
        {"User-Agent": IPHONE},
        {"User-Agent": ANDROID},
        {"User-Agent": DESKTOP, "Sec-CH-UA-Mobile": "?1"},
    ):
        phone = await connect_as(**headers)
        res = await phone.ok("join", token=await token(http, room, "mo"), device="desktop")
        assert res["device"] == "mobile", (headers, res)
        await phone.err("publish", "not_on_mobile", sdp=offer, sources={mid: "screen"})
        await phone.ok("publish", sdp=await make_offer(video=1, audio=1))  # a camera is fine (R-MEDIA-1)
        await phone.ok("leave")
    # a computer shares its screen; its own word 'mobile' is kept (the page knows an iPad, the server cannot)
    desk = await connect_as(**{"User-Agent": DESKTOP, "Sec-CH-UA-Mobile": "?0"})
    res = await desk.ok("join", token=await token(http, room, "pc"), device="desktop")
    assert res["device"] == "desktop"
    out = await desk.ok("publish", sdp=offer, sources={mid: "screen"})
    assert out["tracks"][0]["source"] == "screen"
    ipad = await connect_as(**{"User-Agent": DESKTOP})
    assert (await ipad.ok("join", token=await token(http, room, "ipad"), device="mobile"))[
        "device"
    ] == "mobile"
    await ipad.err("publish", "not_on_mobile", sdp=offer, sources={mid: "screen"})


async def test_a_phone_joins_as_an_attendee_only(http, connect_as, server):
    room = await create(http, type="webinar")
    for role in ("presenter", "host"):
        phone = await connect_as(**{"User-Agent": IPHONE})
        msg = await phone.err(
            "join", "not_on_mobile", token=await token(http, room, f"p-{role}", role), device="desktop"
        )
        assert role in msg and "attendee" in msg, msg
    assert not server["rooms"].find(room["id"]).participants  # nobody was let in, nobody was announced
    # from a computer the same links work; the phone comes in as an attendee and may be given the floor
    host = await connect_as(**{"User-Agent": DESKTOP})
    await host.ok("join", token=await token(http, room, "hal", "host"))
    phone = await connect_as(**{"User-Agent": ANDROID})
    res = await phone.ok("join", token=await token(http, room, "ann"))
    assert res["participant"]["role"] == "attendee" and res["device"] == "mobile"
    await host.ok("host", action="grantFloor", participant=res["participant"]["id"])  # R-ROOM-3
    await phone.ok("publish", sdp=await make_offer(video=1, audio=1))


async def test_whip_from_a_phone_is_refused_and_whep_is_not(http, server):
    room = await create(http, type="webinar")
    offer = await make_offer(video=1, audio=1)
    pres = await token(http, room, "enc", "presenter")
    sdp_headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {pres}"}
    async with http.post(
        f"/whip/{room['id']}", data=offer, headers={**sdp_headers, "User-Agent": IPHONE}
    ) as r:
        assert r.status == 403 and (await r.json())["error"]["code"] == "not_on_mobile"
    assert not server["rooms"].find(room["id"]).participants
    async with http.post(
        f"/whip/{room['id']}", data=offer, headers={**sdp_headers, "User-Agent": "Lavf/61.1.100"}
    ) as r:
        assert r.status == 201, await r.text()
    # watching is what phones do: a WHEP player on a phone is let in whatever its token's role
    viewer = await _recvonly_offer()
    async with http.post(
        f"/whep/{room['id']}", data=viewer, headers={**sdp_headers, "User-Agent": IPHONE}
    ) as r:
        assert r.status == 201, await r.text()


async def _recvonly_offer() -> str:
    pc = RTCPeerConnection()
    pc.addTransceiver("video", direction="recvonly")
    pc.addTransceiver("audio", direction="recvonly")
    offer = await pc.createOffer()
    await pc.close()
    return offer.sdp
