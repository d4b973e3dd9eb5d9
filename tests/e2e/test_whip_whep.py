"""WHIP ingest and WHEP egress (RFC 9725) with aiortc peers against the in-process server."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from tests.conftest import token, wait_for
from tests.e2e.peers import CountingVideo, count_frames, pc

# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone

SDP = "application/sdp"


async def post_offer(
    http: aiohttp.ClientSession, url: str, tok: str | None, body: str, content_type: str = SDP
) -> tuple[int, dict[str, str], str]:
    headers = {"Content-Type": content_type}
    if tok is not None:
        headers["Authorization"] = f"Bearer {tok}"
    async with http.post(url, data=body.encode(), headers=headers) as r:
        return r.status, dict(r.headers), await r.text()


async def recvonly_offer() -> tuple[RTCPeerConnection, str]:
    conn = pc()
    conn.addTransceiver("audio", direction="recvonly")
    conn.addTransceiver("video", direction="recvonly")
    await conn.setLocalDescription(await conn.createOffer())
    return conn, conn.localDescription.sdp


def participants(server) -> int:
    return sum(len(r.participants) for r in server["rooms"].rooms.values())


@pytest.mark.timeout(60)
async def test_whip_publisher_to_whep_viewer(server):
    base, room, media = server["base_url"], "whip-whep", server["media"]
    pub_token, view_token = token(room, "presenter", "encoder"), token(room, "attendee", "viewer")
    publisher, viewer = pc(), None
    tasks: list[asyncio.Future] = []
    try:
        async with aiohttp.ClientSession() as http:
            video = CountingVideo()
            publisher.addTransceiver(video, direction="sendonly")
            publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
            await publisher.setLocalDescription(await publisher.createOffer())
            status, headers, answer = await post_offer(
                http, f"{base}/whip/{room}", pub_token, publisher.localDescription.sdp
            )
            assert status == 201, (status, answer)
            assert headers["Content-Type"].startswith(SDP)
            whip_location = headers["Location"]
            assert whip_location.startswith(f"/whip/{room}/"), whip_location
            await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            assert media.stats()["producers"] == 2

            viewer, offer = await recvonly_offer()
            counts, tasks = count_frames(viewer)
            status, headers, answer = await post_offer(http, f"{base}/whep/{room}", view_token, offer)
            assert status == 201, (status, answer)
            whep_location = headers["Location"]
            assert whep_location.startswith(f"/whep/{room}/") and whep_location != whip_location
            await viewer.setRemoteDescription(RTCSessionDescription(answer, "answer"))

            assert await wait_for(lambda: counts["video"] > 0 and counts["audio"] > 0, 20), counts
            sent0, got0, audio0 = video.sent, counts["video"], counts["audio"]
            await asyncio.sleep(5)
            sent, got, audio = video.sent - sent0, counts["video"] - got0, counts["audio"] - audio0
            print(f"WHIP->WHEP over 5 s: sent {sent} frames, viewer decoded {got}, {audio} audio frames")
            assert sent >= 120, sent
            assert got >= 0.9 * sent, (got, sent)
            assert audio >= 150, audio  # 20 ms Opus frames: about 250 in 5 s
            st = media.stats()
            assert st["producers"] == 2 and st["consumers"] == 2, st

            # The WHIP resource: DELETE ends the publisher; its producers go.
            auth = {"Authorization": f"Bearer {pub_token}"}
            async with http.delete(base + whip_location, headers=auth) as r:
                assert r.status == 200, await r.text()
            assert media.stats()["producers"] == 0, media.stats()
            async with http.delete(base + whip_location, headers=auth) as r:
                assert r.status == 404
                err = (await r.json())["error"]
                assert err["code"] == "not_found" and err["message"]
            assert list(server["rooms"].rooms[room].participants.values())[0].kind == "whep"

            # The WHEP resource, with the viewer's own token.
            auth = {"Authorization": f"Bearer {view_token}"}
            async with http.delete(base + whep_location, headers=auth) as r:
                assert r.status == 200, await r.text()
            async with http.delete(base + whep_location, headers=auth) as r:
                assert r.status == 404
            assert server["rooms"].rooms == {}
            st = media.stats()
            assert st["producers"] == 0 and st["consumers"] == 0, st
    finally:
        for t in tasks:
            t.cancel()
        await publisher.close()
        if viewer is not None:
            await viewer.close()


@pytest.mark.timeout(60)
async def test_whip_errors_are_json_and_leave_nobody_behind(server):
    base, room = server["base_url"], "whip-errors"
    url = f"{base}/whip/{room}"
    viewer, offer = await recvonly_offer()
    try:
        async with aiohttp.ClientSession() as http:

            async def expect(status: int, code: str | None, *args, **kwargs) -> dict:
                got, headers, body = await post_offer(http, *args, **kwargs)
                assert got == status, (got, body)
                assert headers["Content-Type"].startswith("application/json"), headers
                err = json.loads(body)["error"]
                assert isinstance(err["code"], str) and isinstance(err["message"], str) and err["message"], (
                    err
                )
                if code is not None:
                    assert err["code"] == code, err
                assert participants(server) == 0, server["rooms"].rooms
                return err

            await expect(401, "unauthorized", url, None, offer)
            await expect(401, "unauthorized", url, "not-a-token", offer)
            await expect(
                401, "unauthorized", url, token(room, "presenter").rsplit(".", 1)[0] + ".AAAA", offer
            )
            err = await expect(403, "forbidden", url, token("another-room", "presenter"), offer)
            assert "another-room" in err["message"]
            await expect(403, "forbidden", f"{base}/whep/{room}", token("another-room", "attendee"), offer)
            err = await expect(403, "forbidden", url, token(room, "attendee"), offer)
            assert "attendee" in err["message"]
            await expect(
                415, "unsupported_media_type", url, token(room, "presenter"), offer, content_type="text/plain"
            )
            await expect(
                415,
                "unsupported_media_type",
                f"{base}/whep/{room}",
                token(room, "attendee"),
                offer,
                content_type="application/json",
            )
            for garbage in (
                "this is not SDP",
                "v=0\r\n",
                "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
                "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n",
            ):
                await expect(400, "bad_sdp", url, token(room, "presenter"), garbage)
                await expect(400, "bad_sdp", f"{base}/whep/{room}", token(room, "attendee"), garbage)
            assert server["rooms"].rooms == {}

            # The attendee may not publish, but may watch.
            tok = token(room, "attendee", "watcher")
            status, headers, answer = await post_offer(http, f"{base}/whep/{room}", tok, offer)
            assert status == 201, (status, answer)
            assert answer.startswith("v=0")
            location = headers["Location"]
            assert participants(server) == 1
            # Only the session's owner (or a host) may end it.
            async with http.delete(
                base + location, headers={"Authorization": f"Bearer {token(room, 'attendee', 'x')}"}
            ) as r:
                assert r.status == 403, await r.text()
            async with http.delete(base + location) as r:
                assert r.status == 401, await r.text()
            async with http.delete(base + location, headers={"Authorization": f"Bearer {tok}"}) as r:
                assert r.status == 200, await r.text()
            assert server["rooms"].rooms == {}
            assert server["media"].stats()["producers"] == 0
    finally:
        await viewer.close()


async def whip_publish(http: aiohttp.ClientSession, base: str, room: str, tok: str):
    publisher = pc()
    publisher.addTransceiver(CountingVideo(), direction="sendonly")
    publisher.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await publisher.setLocalDescription(await publisher.createOffer())
    status, headers, answer = await post_offer(
        http, f"{base}/whip/{room}", tok, publisher.localDescription.sdp
    )
    assert status == 201, (status, answer)
    await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return publisher, headers["Location"]


@pytest.mark.timeout(60)
async def test_delete_needs_the_matching_kind_of_resource(server):
    base, room = server["base_url"], "kinds"
    tok = token(room, "presenter", "encoder")
    async with aiohttp.ClientSession() as http:
        publisher, location = await whip_publish(http, base, room, tok)
        try:
            wrong = location.replace("/whip/", "/whep/")
            async with http.delete(base + wrong, headers={"Authorization": f"Bearer {tok}"}) as r:
                assert r.status == 404
            assert participants(server) == 1 and server["media"].stats()["producers"] == 2
            async with http.delete(base + location, headers={"Authorization": f"Bearer {tok}"}) as r:
                assert r.status == 200
            assert participants(server) == 0
        finally:
            await publisher.close()


@pytest.mark.timeout(60)
async def test_a_vanished_whip_peer_is_removed_when_ice_consent_expires(server):
    base, room, media = server["base_url"], "vanish", server["media"]
    media.worker.set_consent_timeout(1.0)
    async with aiohttp.ClientSession() as http:
        publisher, _ = await whip_publish(http, base, room, token(room, "presenter", "encoder"))
        assert await wait_for(lambda: media.stats()["rtp_rx"] > 20, 15)
        assert participants(server) == 1
        # the peer disappears without a word: its sockets close, no DTLS close_notify is sent
        ice = publisher.getTransceivers()[0].sender.transport.transport
        for proto in ice._connection._protocols:
            proto.transport.close()
        assert await wait_for(lambda: participants(server) == 0, 10), participants(server)
        assert media.stats()["producers"] == 0 and media.stats()["transports"] == 0
        try:
            await publisher.close()
        except Exception:
            pass


@pytest.mark.timeout(60)
async def test_whip_sessions_end_with_the_room_and_bad_offers_announce_nobody(server):
    from tests.signaling.client import Client

    base, room = server["base_url"], "whip-end"
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(base.replace("http", "ws") + "/ws")
        host = Client(ws)
        await host.ok("join", token=token(room, "host", "h"))
        status, _, _ = await post_offer(
            http, f"{base}/whip/{room}", token(room, "presenter", "enc"), "v=0\r\nbad"
        )
        assert status == 400
        assert not [n for n in host.notes if n["method"] == "participantJoined"]  # nobody came and went
        publisher, location = await whip_publish(http, base, room, token(room, "presenter", "enc"))
        try:
            assert len(server["resources"]) == 1
            await host.ok("host", action="end")
            assert server["resources"] == {}
            async with http.delete(
                base + location, headers={"Authorization": f"Bearer {token(room, 'presenter', 'enc')}"}
            ) as r:
                assert r.status == 404
        finally:
            await publisher.close()
            await ws.close()
