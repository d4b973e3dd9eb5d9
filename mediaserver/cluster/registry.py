"""The live nodes of a cluster (issue 19): each node writes its address and load under its own key with an
expiry and renews it every beat; a node that dies drops out when its key expires, with no one to remove it.

A beat sends nothing but what the node measures; placement reads :meth:`Registry.nodes` and picks by load.
Each entry is signed with a key derived from the cluster's secret (HMAC-SHA256 over the node's id and every
field): an entry written by anyone else, or an old one written again, is not a node (browsers are sent to the
addresses the registry gives, so whoever can write to Redis must not add one of theirs).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from mediaserver.cluster import keys

log = logging.getLogger(__name__)

#: how far ahead of this node's clock a report may be dated, in ms (the nodes' clocks differ a little)
CLOCK_SKEW_MS = 5_000
_FIELDS = ("address", "load", "participants", "draining", "seen_ms")


def registry_key(secret: bytes) -> bytes:
    """The key the registry's entries are signed with (not the request channel's: one purpose a key)."""
    return hashlib.sha256(b"ms-registry\0" + secret).digest()


def _sign(key: bytes, node_id: str, fields: dict[str, str]) -> str:
    data = "\0".join([node_id, *(fields[f] for f in _FIELDS)]).encode()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class NodeInfo:
    """What a node reports of itself."""

    node_id: str
    address: str  # the base URL of its HTTP and WebSocket signaling, as clients and the other nodes reach it
    load: float = 0.0  # the busiest of its media workers, in shares of a core
    participants: int = 0  # people connected to it
    draining: bool = False  # it takes no new participants (maintenance)
    seen_ms: int = 0  # when it last reported (milliseconds since the epoch), filled in by the registry


def _encode(info: NodeInfo, now_ms: int, key: bytes) -> dict[Any, Any]:
    fields = {
        "address": info.address,
        "load": repr(float(info.load)),
        "participants": str(int(info.participants)),
        "draining": "1" if info.draining else "0",
        "seen_ms": str(now_ms),
    }
    return {**fields, "sig": _sign(key, info.node_id, fields)}


def _decode(node_id: str, h: dict[bytes, bytes], key: bytes, now_ms: int, ttl_ms: int) -> NodeInfo | None:
    """The node an entry describes, or None: unsigned, signed with another key, altered, or a report older
    than the key's life (written again after it was read)."""
    try:
        fields = {f: h[f.encode()].decode() for f in _FIELDS}
        if not hmac.compare_digest(h[b"sig"].decode(), _sign(key, node_id, fields)):
            return None
        if not -CLOCK_SKEW_MS <= now_ms - int(fields["seen_ms"]) <= ttl_ms + CLOCK_SKEW_MS:
            return None
        return NodeInfo(
            node_id=node_id,
            address=h[b"address"].decode(),
            load=float(h[b"load"]),
            participants=int(h[b"participants"]),
            draining=h[b"draining"] == b"1",
            seen_ms=int(h[b"seen_ms"]),
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return None  # a key half written by another version: not a node to place anyone on


class Registry:
    """One node's view of the registry: it reports itself with :meth:`beat` and reads the others."""

    def __init__(self, redis: Redis, node_id: str, ttl: float, key: bytes) -> None:
        if ttl <= 0:
            raise ValueError("the registry's ttl must be positive")
        self.redis, self.node_id, self.ttl_ms = redis, node_id, int(ttl * 1000)
        self.key = key  # registry_key(secret): the same on every node
        self._refused: set[str] = set()  # entries refused already (said once each, not every round)

    async def beat(self, info: NodeInfo) -> None:
        """Report this node (its key lives ``ttl`` more seconds)."""
        if info.node_id != self.node_id:
            raise ValueError(f"node {self.node_id} cannot report for {info.node_id}")
        async with self.redis.pipeline(transaction=True) as p:
            p.hset(keys.node(self.node_id), mapping=_encode(info, int(time.time() * 1000), self.key))
            p.pexpire(keys.node(self.node_id), self.ttl_ms)
            p.sadd(keys.NODES, self.node_id)
            await p.execute()

    async def nodes(self) -> list[NodeInfo]:
        """The live nodes, by id. Members whose key expired are dropped from the set on the way."""
        ids = sorted(m.decode() if isinstance(m, bytes) else m for m in await self.redis.smembers(keys.NODES))
        if not ids:
            return []
        async with self.redis.pipeline(transaction=False) as p:
            for node_id in ids:
                p.hgetall(keys.node(node_id))
            found = await p.execute()
        live: list[NodeInfo] = []
        now_ms = int(time.time() * 1000)
        for node_id, h in zip(ids, found, strict=True):
            info = _decode(node_id, h, self.key, now_ms, self.ttl_ms) if h else None
            if info:
                live.append(info)
                self._refused.discard(node_id)
            elif not h:  # expired: out of the set, unless it came back meanwhile
                await self.redis.eval(_DROP_IF_GONE, 2, keys.NODES, keys.node(node_id), node_id)
            elif node_id not in self._refused:
                self._refused.add(node_id)
                log.warning(
                    "registry: the entry of %r is not signed with this cluster's secret, or is stale: not a "
                    "node (another version, another cluster on this Redis, or someone writing to it)",
                    node_id,
                )
        return live

    async def leave(self) -> None:
        """Take this node out at once (a clean stop; a crash leaves it to the expiry)."""
        async with self.redis.pipeline(transaction=True) as p:
            p.delete(keys.node(self.node_id))
            p.srem(keys.NODES, self.node_id)
            await p.execute()


_DROP_IF_GONE = """
if redis.call('EXISTS', KEYS[2]) == 0 then return redis.call('SREM', KEYS[1], ARGV[1]) end
return 0
"""
