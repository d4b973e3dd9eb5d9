"""One webinar over three nodes (issue 19 items 3 and 4): `mediaserver serve` on 127.0.0.2-4 with a real
Redis and one PostgreSQL database. The presenter joins node-0, which becomes the room's owner; attendees join
every node; the edges (node-1, node-2) mirror the presenter's tracks over one media link each and offer them
to their own attendees. aiortc peers at both ends: every attendee decodes the presenter's video and audio;
each edge receives each track once (the owner relays it once per edge); a presenter who joins an edge is told
to publish on the owner; each node's /metrics shows its links."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request

import aiohttp
import pytest
from aiortc import RTCSessionDescription
from redis.asyncio import Redis

from tests.cluster_nodes import cluster
from tests.conftest import token, wait_for
from tests.e2e.peers import Signal, count_frames, join_only, pc, publish

# timing bars (latency under load, failover within seconds): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone

ROOM = "cascade"


async def attendee(session: aiohttp.ClientSession, base: str, name: str, tok: str | None = None):
    """An attendee that subscribes once the room has tracks and answers every new offer of the server
    (``tok``: a join token of another room, an event's; the ad-hoc ROOM's by default)."""
    sig = await join_only(session, base, tok or token(ROOM, "attendee", name))
    conn = pc()
    counts, tasks = count_frames(conn)

    async def take(offer: str) -> None:
        await conn.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await conn.setLocalDescription(await conn.createAnswer())
        r = await sig.call("answer", sdp=conn.localDescription.sdp)
        assert "result" in r, r

    sig.events = []  # the interaction events this attendee got
    sig.seen = []  # and every notification

    async def renegotiate() -> None:
        while True:
            note = await sig.notes.get()
            if note.get("method") == "offer":
                await take(note["params"]["sdp"])
            elif note.get("method") == "interaction":
                sig.events += note["params"]["events"]
            sig.seen.append(note)

    # on an edge the tracks come a moment after the join (their links open first): then the server offers
    # them when they come, as it does for a track published later (the SDK's way)
    r = await sig.call("subscribe")
    if "result" in r:
        await take(r["result"]["sdp"])
    else:
        assert r["error"]["code"] == "nothing_to_subscribe", r
    tasks.append(asyncio.ensure_future(renegotiate()))
    return sig, conn, counts, tasks


def chats(events: list) -> list[str]:
    return [e["text"] for e in events if e.get("kind") == "chat"]


def metrics(base: str) -> str:
    with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
        return r.read().decode()


def link_packets(text: str, side: str) -> dict[str, float]:
    """peer node -> packets of its links, summed over the tracks, on ``side``."""
    out: dict[str, float] = {}
    for m in re.finditer(r"^mediaserver_cluster_link_packets_total\{(.*)\} (\S+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if labels["side"] == side:
            out[labels["peer"]] = out.get(labels["peer"], 0) + float(m.group(2))
    return out


@pytest.mark.timeout(180)
async def test_attendees_on_every_node_receive_the_presenter(tmp_path, redis_server, pg_server, pg_template):
    if pg_server is None:
        pytest.skip("PostgreSQL is not available here (MEDIASERVER_REQUIRE_PG=1 makes this a failure)")
    db = pg_server.url(await pg_server.create_db())
    with cluster(tmp_path, redis_server, pg_server, db=db, MEDIASERVER_NODE_TTL="3") as nodes:
        bases = [base for base, _, _ in nodes]
        async with aiohttp.ClientSession() as session:
            psig = await join_only(session, bases[0], token(ROOM, "presenter", "pres"))
            pconn, video = await publish(psig)
            subs = [await attendee(session, bases[i], f"att{i}") for i in range(3)]
            assert await wait_for(lambda: all(s[2]["video"] > 0 and s[2]["audio"] > 0 for s in subs), 20), [
                s[2] for s in subs
            ]
            sent0, got0 = video.sent, [s[2]["video"] for s in subs]
            await asyncio.sleep(6)
            sent = video.sent - sent0
            got = [s[2]["video"] - g for s, g in zip(subs, got0, strict=True)]
            print("frames sent", sent, "decoded on node-0, node-1, node-2:", got)
            assert sent >= 150, sent
            for g in got:
                assert g >= 0.9 * sent, (got, sent)
            # the interaction runs on the owner: an attendee of node-2 writes to everyone, one of node-1
            # privately to the staff; each gets what its audience says, on whichever node it is
            r = await subs[2][0].call("chat.send", text="hello from node-2")
            assert "result" in r, r
            r = await subs[1][0].call("chat.send", text="to the staff from node-1", to="staff")
            assert "result" in r, r
            presenter: list = []

            def seen_by_presenter() -> list[str]:
                while not psig.notes.empty():
                    note = psig.notes.get_nowait()
                    if note.get("method") == "interaction":
                        presenter.extend(note["params"]["events"])
                return chats(presenter)

            assert await wait_for(
                lambda: (
                    all("hello from node-2" in chats(s[0].events) for s in subs)
                    and "to the staff from node-1" in chats(subs[1][0].events)  # the sender's own copy
                    and seen_by_presenter() == ["hello from node-2", "to the staff from node-1"]
                ),
                5,
            ), ([chats(s[0].events) for s in subs], presenter)
            assert all("to the staff from node-1" not in chats(subs[i][0].events) for i in (0, 2))
            # a stream item not signed by the owner (whoever can write to the Redis) reaches nobody
            r = Redis.from_url(redis_server)
            forged = [
                {"seq": 999, "kind": "chat", "data": {"id": "m999", "text": "forged"}, "aud": ["all", ""]}
            ]
            await r.xadd(f"ms:room:{{{ROOM}}}:log", {"e": json.dumps(forged), "ep": "1", "s": "0" * 64})
            await r.aclose()
            r = await subs[0][0].call("chat.send", text="after the forgery")
            assert "result" in r, r
            assert await wait_for(lambda: all("after the forgery" in chats(s[0].events) for s in subs), 5)
            assert all("forged" not in chats(s[0].events) for s in subs)
            # a latecomer on an edge finds the chat as it stands (the owner's snapshot)
            late = await join_only(session, bases[2], token(ROOM, "attendee", "late"))
            assert "hello from node-2" in json.dumps(late.joined["interaction"])
            assert "to the staff from node-1" not in json.dumps(late.joined["interaction"])
            # the host acts on the owner; the edges follow the room's settings: locked, nobody new comes in
            host = await join_only(session, bases[0], token(ROOM, "host", "host"))
            assert "result" in await host.call("host", action="lock")
            assert await wait_for(  # both edges have it (the owner tells them at once)
                lambda: all(
                    any(
                        n.get("method") == "roomUpdated" and n["params"]["room"]["locked"]
                        for n in sub[0].seen
                    )
                    for sub in subs[1:]
                ),
                5,
            )
            r = await subs[1][0].call("host", action="unlock")  # an attendee is no host on any node
            assert r["error"]["code"] == "forbidden", r
            for base in bases[1:]:
                ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
                r = await Signal(ws).call("join", token=token(ROOM, "attendee", "locked-out"))
                assert r["error"]["code"] == "locked", r
                await ws.close()
            assert "result" in await host.call("host", action="unlock")
            assert await wait_for(
                lambda: (
                    [
                        n["params"]["room"]["locked"]
                        for n in subs[1][0].seen
                        if n.get("method") == "roomUpdated"
                    ][-1:]
                    == [False]
                ),
                5,
            )
            # a presenter who comes to an edge is sent to the owner
            other = await join_only(session, bases[1], token(ROOM, "presenter", "pres2"))
            r = await other.call("publish", sdp=(await _offer()).sdp)
            assert r["error"]["code"] == "wrong_node" and "node-0" in r["error"]["message"], r
            # the links: each edge takes each track once from the owner; the owner relays to both edges
            owner = link_packets(metrics(bases[0]), "owner")
            assert set(owner) == {"node-1", "node-2"}, owner
            for i in (1, 2):
                edge = link_packets(metrics(bases[i]), "edge")
                assert set(edge) == {"node-0"} and edge["node-0"] > 0, edge
                assert 'mediaserver_cluster_link_packets_lost{peer="node-0"' in metrics(bases[i])
            for s in subs:
                for t in s[3]:
                    t.cancel()
                await s[1].close()
            await pconn.close()


async def _offer():
    conn = pc()
    from tests.e2e.peers import CountingVideo

    conn.addTransceiver(CountingVideo(), direction="sendonly")
    await conn.setLocalDescription(await conn.createOffer())
    desc = conn.localDescription
    await conn.close()
    return desc
