"""aiortc peers through the SFU: one publisher, three subscribers (R-MEDIA-1, R-MEDIA-2, R-MEDIA-9)."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiortc import RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack

from tests.conftest import token, wait_for
from tests.e2e.peers import CountingVideo, Signal, count_frames, pc

# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone


async def publisher(session, base: str, room: str):
    ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
    sig = Signal(ws)
    r = await sig.call("join", token=token(room, "presenter", "pub"))
    assert "result" in r, r
    conn = pc()
    video = CountingVideo()
    conn.addTransceiver(video, direction="sendonly")
    conn.addTransceiver(AudioStreamTrack(), direction="sendonly")
    await conn.setLocalDescription(await conn.createOffer())
    r = await sig.call("publish", sdp=conn.localDescription.sdp)
    assert "result" in r, r
    await conn.setRemoteDescription(RTCSessionDescription(r["result"]["sdp"], "answer"))
    return sig, conn, video


async def subscriber(session, base: str, room: str, name: str):
    ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
    sig = Signal(ws)
    r = await sig.call("join", token=token(room, "attendee", name))
    assert "result" in r, r
    conn = pc()
    counts, tasks = count_frames(conn)

    r = await sig.call("subscribe")
    assert "result" in r, r
    await conn.setRemoteDescription(RTCSessionDescription(r["result"]["sdp"], "offer"))
    await conn.setLocalDescription(await conn.createAnswer())
    r = await sig.call("answer", sdp=conn.localDescription.sdp)
    assert "result" in r, r
    return sig, conn, counts, tasks


@pytest.mark.timeout(90)
async def test_one_publisher_three_subscribers_decode_90_percent(server):
    base = server["base_url"]
    async with aiohttp.ClientSession() as session:
        psig, pconn, video = await publisher(session, base, "fanout")
        subs = [await subscriber(session, base, "fanout", f"sub{i}") for i in range(3)]
        assert await wait_for(lambda: all(s[2]["video"] > 0 and s[2]["audio"] > 0 for s in subs), 20), [
            s[2] for s in subs
        ]
        sent0 = video.sent
        got0 = [s[2]["video"] for s in subs]
        await asyncio.sleep(10)
        sent = video.sent - sent0
        got = [s[2]["video"] - g for s, g in zip(subs, got0, strict=True)]
        print("frames sent", sent, "decoded", got)
        assert sent >= 250, sent
        for g in got:
            assert g >= 0.9 * sent, (got, sent)
        # RTCP both ways: our SRs reach the subscribers, our RRs the publisher (with a usable RTT)
        for s in subs:
            outs = [x for x in (await s[1].getStats()).values() if x.type == "remote-outbound-rtp"]
            assert {x.kind for x in outs} == {"audio", "video"} and all(x.packetsSent > 0 for x in outs), outs
        ins = [x for x in (await pconn.getStats()).values() if x.type == "remote-inbound-rtp"]
        assert {x.kind for x in ins} == {"audio", "video"}, ins
        assert all(
            x.packetsReceived > 0 and x.packetsLost == 0 and 0 <= x.roundTripTime < 0.5 for x in ins
        ), ins
        media = server["media"]
        rtts = [
            media.consumer_stats(cid)["rtt_us"]
            for r in server["rooms"].rooms.values()
            for q in r.participants.values()
            for cid in q.consumers.values()
        ]
        assert len(rtts) == 6 and all(0 < r < 500_000 for r in rtts), rtts
        st = media.stats()
        assert st["producers"] == 2 and st["consumers"] == 6
        assert st["rtp_tx"] > 3 * st["rtp_rx"] * 0.9
        for s in subs:
            await s[1].close()
            for t in s[3]:
                t.cancel()
        await pconn.close()
