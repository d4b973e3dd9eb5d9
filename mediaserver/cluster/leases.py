"""Room ownership across nodes (issue 19): a lease in Redis with an epoch, the fencing token.

A room's owner node holds ``<node id>|<epoch>`` under the room's key, with an expiry it keeps renewing. The
epoch comes from a counter that only grows, so each new owner has a larger one than every owner before. Every
cross-node request and stream item about the room carries the sender's epoch, and the receiver refuses one
that is not the epoch it knows for the room (the handlers compare it with the lease, or with the owner they
follow): an owner that was cut off and lost its lease is refused by the other nodes, even before it notices
(it keeps its own people until it is stopped). Acquiring, renewing and releasing are each one Lua script, so
two nodes racing for a room get exactly one owner.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from mediaserver.cluster import keys
from mediaserver.cluster.rpc import RpcError


@dataclass(frozen=True)
class Lease:
    room_id: str
    node_id: str
    epoch: int


# KEYS: owner, epoch counter; ARGV: node id, ttl ms. Returns {owner node, epoch, 1 if acquired now}.
_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local node, epoch = string.match(cur, '^(.*)|(%d+)$')
  if not node then return redis.error_reply('room lease holds no <node>|<epoch>: ' .. cur) end
  if node == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return {node, tonumber(epoch), 0}
end
local e = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. e, 'PX', ARGV[2])
return {ARGV[1], e, 1}
"""
# KEYS: owner; ARGV: "<node>|<epoch>", ttl ms. 1 if still held (and renewed), else 0.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# KEYS: owner; ARGV: "<node>|<epoch>". 1 if it was held and is now free.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _value(lease: Lease) -> str:
    return f"{lease.node_id}|{lease.epoch}"


def _parse(raw: bytes | str | None, room_id: str) -> Lease | None:
    if raw is None:
        return None
    node, _, epoch = (raw.decode() if isinstance(raw, bytes) else raw).rpartition("|")
    return Lease(room_id, node, int(epoch))


class Leases:
    """One node's side of the room leases."""

    def __init__(self, redis: Redis, node_id: str, ttl: float) -> None:
        if "|" in node_id or not node_id:
            raise ValueError("a node id is not empty and has no '|'")
        if ttl <= 0:
            raise ValueError("the lease ttl must be positive")
        self.redis, self.node_id, self.ttl_ms = redis, node_id, int(ttl * 1000)

    async def acquire(self, room_id: str) -> tuple[Lease, bool]:
        """The room's lease: this node's if the room had no owner (then ``True``: acquired now, with a new
        epoch) or already was this node's (renewed); else the owner's, which this node must go through."""
        node, epoch, new = await self.redis.eval(
            _ACQUIRE, 2, keys.room_owner(room_id), keys.room_epoch(room_id), self.node_id, self.ttl_ms
        )
        return Lease(room_id, node.decode(), int(epoch)), bool(new)

    async def renew(self, lease: Lease) -> bool:
        """Keep a lease of this node for another ttl; ``False``: it expired or another node has the room."""
        self._own(lease)
        return bool(
            await self.redis.eval(_RENEW, 1, keys.room_owner(lease.room_id), _value(lease), self.ttl_ms)
        )

    async def release(self, lease: Lease) -> bool:
        """Give the room up (it ended, or the node drains); ``False``: it was no longer this node's."""
        self._own(lease)
        return bool(await self.redis.eval(_RELEASE, 1, keys.room_owner(lease.room_id), _value(lease)))

    async def current(self, room_id: str) -> Lease | None:
        """The room's lease now, whoever holds it; None: no node owns it."""
        return _parse(await self.redis.get(keys.room_owner(room_id)), room_id)

    def _own(self, lease: Lease) -> None:
        if lease.node_id != self.node_id:
            raise ValueError(f"the lease of room {lease.room_id} is {lease.node_id}'s, not {self.node_id}'s")


class StaleEpoch(RpcError):
    """A request carried an epoch that is not the room's current one: its sender is no longer the owner (a
    handler that raises it refuses the request with the code ``stale_epoch``)."""

    def __init__(self, room_id: str, epoch: int, current: int | None) -> None:
        super().__init__("stale_epoch", f"room {room_id}: epoch {epoch} is not the current one ({current})")
        self.room_id, self.epoch, self.current = room_id, epoch, current
