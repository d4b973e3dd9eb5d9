"""The cluster's shared state in a real Redis (issue 19): the node registry, room leases with their epochs
(fencing tokens), and the signed request/reply channel between nodes. Each "node" here is its own Redis
connection, as separate processes would have."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from mediaserver.cluster import keys, registry
from mediaserver.cluster.leases import Lease, Leases
from mediaserver.cluster.registry import NodeInfo, Registry, registry_key
from mediaserver.cluster.rpc import Channel, NodeUnreachable, RequestTimeout, RpcError

SECRET = b"cluster-secret-of-the-tests-0123456789"


@pytest.fixture
async def connect(redis_server: str) -> AsyncIterator[Any]:
    """Opens a connection per node to an emptied Redis; closes them all at the end."""
    opened: list[Redis] = []

    def make() -> Redis:
        r = Redis.from_url(redis_server)
        opened.append(r)
        return r

    await make().flushdb()
    yield make
    for r in opened:
        await r.aclose()


# ---------------------------------------------------------------- leases


async def test_nodes_racing_for_a_room_get_exactly_one_owner(connect):
    nodes = [Leases(connect(), f"n{i}", ttl=5) for i in range(6)]
    for room in ("r1", "r2", "r3"):
        results = await asyncio.gather(*(n.acquire(room) for n in nodes for _ in range(5)))
        owners = {lease.node_id for lease, _ in results}
        assert len(owners) == 1, owners
        assert sum(new for _, new in results) == 1  # acquired once; every other call saw that owner
        assert {lease.epoch for lease, _ in results} == {1}
        assert await nodes[0].current(room) == results[0][0]  # what everyone was told is what Redis holds


async def test_an_expired_lease_goes_to_the_next_node_with_a_larger_epoch(connect):
    a, b = Leases(connect(), "a", ttl=1.0), Leases(connect(), "b", ttl=1.0)
    first, new = await a.acquire("room")
    assert new and first == Lease("room", "a", 1)
    assert await a.renew(first)
    held, new = await b.acquire("room")  # a still holds it: b learns the owner
    assert not new and held == first
    await asyncio.sleep(1.3)  # a stops renewing (cut off, or dead)
    second, new = await b.acquire("room")
    assert new and second == Lease("room", "b", 2)
    assert not await a.renew(first)  # a comes back: its lease is gone, it cannot take it back by renewing
    assert not await a.release(first)  # nor free the room under b
    assert await b.current("room") == second
    assert await b.release(second)
    third, new = await a.acquire("room")
    assert new and third.epoch == 3  # an epoch is never reused, even after a release


async def test_a_lease_is_renewed_only_by_its_owner_and_kept_while_renewed(connect):
    a = Leases(connect(), "a", ttl=1.0)
    lease, _ = await a.acquire("room")
    for _ in range(5):
        await asyncio.sleep(0.4)  # 2 s in all: twice the ttl
        assert await a.renew(lease)
    assert await a.current("room") == lease
    again, new = await a.acquire("room")  # acquiring what it holds renews it, same epoch
    assert not new and again == lease
    with pytest.raises(ValueError):
        await Leases(connect(), "b", ttl=1).renew(lease)
    with pytest.raises(ValueError):
        Leases(connect(), "bad|id", ttl=1)


# ---------------------------------------------------------------- registry


async def test_the_registry_lists_live_nodes_and_drops_one_that_stops_beating(connect):
    key = registry_key(SECRET)
    a, b = Registry(connect(), "a", ttl=1.0, key=key), Registry(connect(), "b", ttl=1.0, key=key)
    await a.beat(NodeInfo("a", "http://127.0.0.2:8080", load=0.25, participants=10))
    await b.beat(NodeInfo("b", "http://127.0.0.3:8080", load=0.5, participants=3, draining=True))
    nodes = await a.nodes()
    assert [(n.node_id, n.address, n.load, n.participants, n.draining) for n in nodes] == [
        ("a", "http://127.0.0.2:8080", 0.25, 10, False),
        ("b", "http://127.0.0.3:8080", 0.5, 3, True),
    ]
    assert all(n.seen_ms > 0 for n in nodes)
    for _ in range(5):  # a keeps beating, b died
        await asyncio.sleep(0.3)
        await a.beat(NodeInfo("a", "http://127.0.0.2:8080", load=0.3))
    assert [n.node_id for n in await b.nodes()] == ["a"]
    assert await connect().smembers(keys.NODES) == {b"a"}  # the dead one is out of the set too
    await a.leave()
    assert await a.nodes() == []
    with pytest.raises(ValueError):
        await a.beat(NodeInfo("b", "http://x"))  # a node reports only itself


async def test_the_registry_lists_only_entries_signed_with_the_clusters_secret(connect):
    """Whoever can write to the Redis cannot add a node (browsers are sent to the registry's addresses): an
    entry without the signature, one signed with another secret, one altered, and a genuine report written
    again after its time are not nodes."""
    redis = connect()
    a = Registry(redis, "a", ttl=1.0, key=registry_key(SECRET))
    other = Registry(connect(), "evil", ttl=1.0, key=registry_key(b"another secret"))
    await a.beat(NodeInfo("a", "http://127.0.0.2:8080"))
    await other.beat(NodeInfo("evil", "http://attacker.example"))  # another secret
    await redis.hset(  # no signature at all
        keys.node("bare"),
        mapping={
            "address": "http://attacker.example",
            "load": "0.0",
            "participants": "0",
            "draining": "0",
            "seen_ms": str(int(time.time() * 1000)),
        },
    )
    await redis.sadd(keys.NODES, "bare")
    assert [n.node_id for n in await a.nodes()] == ["a"]
    # a's own entry altered: another address under its signature
    await redis.hset(keys.node("a"), "address", "http://attacker.example")
    assert await a.nodes() == []
    # a's genuine report of a minute ago, kept and written again (its key alive): refused as stale
    old = registry._encode(NodeInfo("a", "http://127.0.0.2:8080"), int(time.time() * 1000) - 60_000, a.key)
    await redis.hset(keys.node("a"), mapping=old)
    assert await a.nodes() == []
    await a.beat(NodeInfo("a", "http://127.0.0.2:8080"))  # its next beat: a node again
    assert [n.node_id for n in await a.nodes()] == ["a"]


# ---------------------------------------------------------------- request/reply


@pytest.fixture
async def channels(connect) -> AsyncIterator[dict[str, Channel]]:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def echo(sender: str, body: dict[str, Any]) -> dict[str, Any]:
        seen.append((sender, body))
        return {"echo": body, "by": "b"}

    async def refuse(sender: str, body: dict[str, Any]) -> dict[str, Any]:
        raise RpcError("no_room", "no such room here")

    async def crash(sender: str, body: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("boom")

    async def slow(sender: str, body: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(1)
        return {}

    async def unsendable(sender: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"x": object()}

    a = Channel(connect(), "a", SECRET, {})
    b = Channel(
        connect(),
        "b",
        SECRET,
        {"echo": echo, "refuse": refuse, "crash": crash, "slow": slow, "unsendable": unsendable},
    )
    await a.start()
    await b.start()
    b.seen_requests = seen  # type: ignore[attr-defined]
    yield {"a": a, "b": b}
    await a.stop()
    await b.stop()


async def test_a_request_gets_its_reply_and_errors_come_back_as_errors(channels):
    a, b = channels["a"], channels["b"]
    replies = await asyncio.gather(*(a.request("b", "echo", {"n": i}) for i in range(20)))
    assert replies == [{"echo": {"n": i}, "by": "b"} for i in range(20)]  # each its own reply
    assert sorted(body["n"] for _, body in b.seen_requests) == list(range(20))
    assert {sender for sender, _ in b.seen_requests} == {"a"}
    with pytest.raises(RpcError) as e:
        await a.request("b", "refuse", {})
    assert (e.value.code, e.value.message) == ("no_room", "no such room here")
    with pytest.raises(RpcError) as e:
        await a.request("b", "crash", {})
    assert e.value.code == "internal"
    with pytest.raises(RpcError) as e:
        await a.request("b", "unsendable", {})  # a reply that cannot be sent is the handler's failure
    assert e.value.code == "internal"
    with pytest.raises(RpcError) as e:
        await a.request("b", "nope", {})
    assert e.value.code == "unknown_method"
    with pytest.raises(RequestTimeout):
        await a.request("b", "slow", {}, timeout=0.2)
    with pytest.raises(NodeUnreachable):
        await a.request("c", "echo", {})  # nobody listens there: at once, not after a timeout
    assert await a.request("b", "echo", {"still": "up"}) == {"echo": {"still": "up"}, "by": "b"}


async def test_unsigned_replayed_and_old_messages_are_dropped(channels, connect):
    b = channels["b"]
    r = connect()
    msg = {"k": "req", "id": "x1", "from": "a", "to": "b", "m": "echo", "b": {"n": 1}}
    await r.publish(keys.rpc("b"), b"0" * 64 + b"." + json.dumps(msg).encode())  # no valid signature
    wrong = Channel(r, "a", b"another-secret-entirely-0123456789", {})
    await r.publish(keys.rpc("b"), wrong._seal(dict(msg)))  # signed with another secret
    sealed = channels["a"]._seal(dict(msg, id="x2"))
    await r.publish(keys.rpc("b"), sealed)
    await r.publish(keys.rpc("b"), sealed)  # the same message again
    old = json.loads(channels["a"]._seal(dict(msg, id="x3")).partition(b".")[2])
    old["t"] -= 120  # a genuine message, two minutes old
    await r.publish(keys.rpc("b"), _resign(channels["a"], old))
    ahead = json.loads(channels["a"]._seal(dict(msg, id="x4")).partition(b".")[2])
    ahead["t"] += 60  # dated a minute ahead: it would outlive the replay memory
    await r.publish(keys.rpc("b"), _resign(channels["a"], ahead))
    elsewhere = channels["a"]._seal(dict(msg, id="x5", to="c"))  # genuine, for node c: replayed to b
    await r.publish(keys.rpc("b"), elsewhere)
    for _ in range(100):
        if b.dropped >= 6:
            break
        await asyncio.sleep(0.02)
    assert b.dropped == 6
    assert [body for _, body in b.seen_requests] == [{"n": 1}]  # only the one good message, once


def _resign(ch: Channel, msg: dict[str, Any]) -> bytes:
    """Sign a message as it is (its time included), as a replay of an old one would be."""
    data = json.dumps(msg, separators=(",", ":")).encode()
    return hmac.new(ch.key, data, hashlib.sha256).hexdigest().encode() + b"." + data


async def test_a_channel_that_loses_its_connection_subscribes_again(channels, connect):
    a, b = channels["a"], channels["b"]
    admin = connect()
    killed = await admin.client_kill_filter(
        _type="pubsub"
    )  # every subscriber's connection, as a restart would
    assert killed >= 2
    answer = None
    for _ in range(50):  # the channels come back by themselves (a message sent meanwhile is lost)
        try:
            answer = await a.request("b", "echo", {"after": "reconnect"}, timeout=0.5)
            break
        except RpcError:
            await asyncio.sleep(0.2)
    assert answer == {"echo": {"after": "reconnect"}, "by": "b"}
    assert a.reconnects >= 1 and b.reconnects >= 1  # by their own listeners, not a fresh client


async def test_stopping_fails_the_requests_still_waiting(connect):
    a = Channel(connect(), "a", SECRET, {})
    b = Channel(connect(), "b", SECRET, {"hang": _hang})
    await a.start()
    await b.start()
    pending = asyncio.create_task(a.request("b", "hang", {}, timeout=30))
    await asyncio.sleep(0.2)
    await a.stop()
    with pytest.raises(RpcError) as e:
        await pending
    assert e.value.code == "stopped"
    await b.stop()


async def _hang(sender: str, body: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(60)
    return {}
