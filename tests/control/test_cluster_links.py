"""Cascaded media between two nodes (issue 19 item 4), through the cluster's real parts: each node has its own
Redis connection, request channel and room leases on a real Redis, and its own media worker (the owner on
127.0.0.2, the edge on 127.0.0.3). The edge asks the room's owner for a track with the owner's epoch; the
owner relays every simulcast layer over one DTLS-SRTP link whose fingerprints crossed in the signed requests;
a subscriber on the edge gets a clean stream of the layer it wants. A stale or wrong owner, an unknown track
and a malformed fingerprint are refused; a link's end goes when the other node dies. The publisher and the
subscriber are the native core's client transports (real ICE and DTLS-SRTP)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from mediaserver.cluster.leases import Leases
from mediaserver.cluster.links import Links, Source
from mediaserver.cluster.rpc import Channel, RpcError
from mediaserver.metrics import LinkCollector
from mediaserver.rtc.engine import MediaEngine
from native._core import Worker
from tests.native.test_simulcast import ABS, MID, RID, RIDS, Layer, check_clean, layer_of

SECRET = b"cluster-secret-of-the-tests-0123456789"
URI = {
    "mid": "urn:ietf:params:rtp-hdrext:sdes:mid",
    "rid": "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
    "abs": "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
}
ROOM = "room-1"


def fp(w: Worker | MediaEngine) -> bytes:
    return bytes.fromhex(w.fingerprint.replace(":", ""))


async def until(pred: Any, timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if pred():
            return True
        await asyncio.sleep(0.01)
    return bool(pred())


class Node:
    def __init__(self, redis_url: str, node_id: str, ip: str, resolve: Any) -> None:
        self.id = node_id
        self.redis = Redis.from_url(redis_url)
        self.engine = MediaEngine(ip, consent_timeout=1.0)
        self.channel = Channel(self.redis, node_id, SECRET, {})
        self.leases = Leases(self.redis, node_id, ttl=30)
        self.links = Links(node_id, self.channel, self.leases, resolve)

    async def start(self) -> None:
        self.engine.start()
        await self.channel.start()

    async def stop(self) -> None:
        self.links.close_all()
        await self.channel.stop()
        self.engine.close()
        await self.redis.aclose()


class Pair:
    """The owner with a 3-layer simulcast publisher; the edge with a subscriber transport; a client worker
    for the publisher's and the subscriber's ends."""

    def __init__(self, redis_url: str) -> None:
        self.tracks: dict[str, Source] = {}
        self.owner = Node(redis_url, "owner", "127.0.0.2", lambda room, track: self.tracks.get(track))
        self.edge = Node(redis_url, "edge", "127.0.0.3", lambda room, track: None)
        self.cli = Worker()

    async def start(self) -> None:
        await self.owner.redis.flushdb()
        await self.owner.start()
        await self.edge.start()
        self.cli.start()
        oe = self.owner.engine
        pub = oe.create_transport("active", "sha-256", fp(self.cli))
        self.cpub = self.cli.create_client_transport(
            "127.0.0.2", oe.port, "cpub", pub.ufrag, pub.pwd, "sha-256", fp(oe)
        )
        ext = {URI["mid"]: MID, URI["abs"]: ABS, URI["rid"]: RID}
        self.producer = oe.create_producer(
            pub.id, "video", 0, 0, {96: "VP8"}, {}, 90000, ext, "0", rids=list(RIDS)
        )
        self.tracks["cam"] = Source(oe, self.producer, "video", {96: "VP8"}, {}, 90000, 3)
        self.lease, _ = await self.owner.leases.acquire(ROOM)
        ee = self.edge.engine
        self.sub = ee.create_transport("active", "sha-256", fp(self.cli))
        self.csub = self.cli.create_client_transport(
            "127.0.0.3", ee.port, "csub", self.sub.ufrag, self.sub.pwd, "sha-256", fp(ee), sink_abs_ext=ABS
        )
        assert await until(
            lambda: all(
                self.cli.transport_stats(t)["dtls_state"] == "connected" for t in (self.cpub, self.csub)
            )
        )
        self.cli.capture(self.csub)
        self.got: list[tuple] = []

    async def send(self, layers: list[Layer], frames: int, key_at: int = 0) -> None:
        for k in range(frames):
            self.cli.send_rtp(self.cpub, [lay.frame(key=k == key_at) for lay in layers], abs_ext=ABS)
            await asyncio.sleep(0.002)

    async def received(self, n: int, timeout: float = 5.0) -> list[tuple]:
        def more() -> bool:
            self.got += self.cli.capture(self.csub)
            return len(self.got) >= n

        await until(more, timeout)
        return self.got

    async def stop(self) -> None:
        self.cli.close()
        await self.edge.stop()
        await self.owner.stop()


@pytest.fixture
async def pair(redis_server: str) -> AsyncIterator[Pair]:
    p = Pair(redis_server)
    await p.start()
    yield p
    await p.stop()


async def test_a_track_crosses_to_the_edge_with_every_layer_and_the_link_closes(pair: Pair) -> None:
    link = await pair.edge.links.open("owner", ROOM, pair.lease.epoch, "cam", pair.edge.engine)
    assert await until(lambda: pair.edge.engine.transports[link.transport_id].dtls_state == "connected")
    ee = pair.edge.engine
    cons = ee.create_consumer(pair.sub.id, link.producer_id, 0x5000, 0, {96: 100}, {}, {URI["abs"]: ABS}, "0")
    ee.set_consumer_layer(cons, 2)
    await pair.send([Layer(i, seq=500, ts=90000, pic=7, tl0=1) for i in range(3)], 40)
    got = await pair.received(40)
    assert [layer_of(p) for p in got] == [2] * 40
    check_clean(got)
    assert await until(lambda: ee.producer_stats(link.producer_id)["packets"] == 120)  # every layer, once
    rows = {r["side"]: r for r in pair.edge.links.stats() + pair.owner.links.stats()}
    assert rows["edge"]["packets"] == 120 and rows["edge"]["lost"] == 0 and rows["edge"]["peer"] == "owner"
    assert rows["owner"]["packets"] == 120 and rows["owner"]["peer"] == "edge"
    # /metrics: the link's loss and delay on each node
    text = "\n".join(
        f"{m.name} {s.labels} {s.value}"
        for m in LinkCollector(pair.edge.links.stats).collect()
        for s in m.samples
    )
    assert "mediaserver_cluster_link_packets_lost" in text and "'peer': 'owner'" in text
    # the edge closes: both ends go
    owner_link = next(iter(pair.owner.links.served.values()))
    await pair.edge.links.close(link)
    assert pair.owner.links.served == {} and pair.edge.links.taken == {}
    assert owner_link.transport_id not in pair.owner.engine.transports


async def test_a_stale_or_wrong_owner_and_bad_requests_are_refused(pair: Pair) -> None:
    edge = pair.edge
    with pytest.raises(RpcError) as e:  # an epoch that is not the room's
        await edge.links.open("owner", ROOM, pair.lease.epoch + 1, "cam", edge.engine)
    assert e.value.code == "stale_epoch"
    with pytest.raises(RpcError) as e:  # the right epoch, asked of a node that does not own the room
        await pair.owner.links.open("edge", ROOM, pair.lease.epoch, "cam", pair.owner.engine)
    assert e.value.code == "stale_epoch"
    with pytest.raises(RpcError) as e:
        await edge.links.open("owner", ROOM, pair.lease.epoch, "nope", edge.engine)
    assert e.value.code == "not_found"
    with pytest.raises(RpcError) as e:
        body = {"room": ROOM, "epoch": pair.lease.epoch, "track": "cam", "fingerprint": "md5 00:11"}
        await edge.channel.request("owner", "link.open", body)
    assert e.value.code == "bad_request"
    # the owner's lease went to another node: the old epoch is refused from then on
    assert await pair.owner.leases.release(pair.lease)
    other = Leases(pair.owner.redis, "third", ttl=30)
    new, acquired = await other.acquire(ROOM)
    assert acquired and new.epoch > pair.lease.epoch
    with pytest.raises(RpcError) as e:
        await edge.links.open("owner", ROOM, pair.lease.epoch, "cam", edge.engine)
    assert e.value.code == "stale_epoch"
    assert pair.owner.links.served == {} and edge.links.taken == {}
    assert len(pair.owner.engine.transports) == 1  # only the publisher's: nothing was left half made


async def test_a_link_end_goes_when_the_other_node_dies(pair: Pair) -> None:
    link = await pair.edge.links.open("owner", ROOM, pair.lease.epoch, "cam", pair.edge.engine)
    gone: list[Any] = []
    link.listeners.append(gone.append)
    assert await until(lambda: pair.edge.engine.transports[link.transport_id].dtls_state == "connected")
    # the track's producer goes on the owner, and its link's end there: the edge's end sees the owner's side
    # stop answering within the consent timeout (as when the owner's node dies)
    pair.owner.links.drop_track(ROOM, "cam")
    assert pair.owner.links.served == {}
    assert await until(lambda: gone == [link], timeout=6.0)
    assert pair.edge.links.taken == {} and link.transport_id not in pair.edge.engine.transports
    # and the other way round: an edge that stops answering leaves nothing on the owner
    link2 = await pair.edge.links.open("owner", ROOM, pair.lease.epoch, "cam", pair.edge.engine)
    assert await until(lambda: pair.edge.engine.transports[link2.transport_id].dtls_state == "connected")
    assert len(pair.owner.links.served) == 1
    pair.edge.engine.close_transport(link2.transport_id)  # no link.close: only its DTLS says so
    assert await until(lambda: pair.owner.links.served == {}, timeout=6.0)
