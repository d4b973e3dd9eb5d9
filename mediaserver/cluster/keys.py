"""The names of the cluster's keys and channels in Redis, in one place (a prefix keeps them apart from
whatever else the Redis holds, e.g. the rate limits' counters)."""

from __future__ import annotations

PREFIX = "ms:"
NODES = PREFIX + "nodes"  # a set: every node that registered and has not left (live or not)


def node(node_id: str) -> str:
    """A node's hash of what it reports (expires unless renewed)."""
    return f"{PREFIX}node:{node_id}"


def room_owner(room_id: str) -> str:
    """``<node id>|<epoch>`` of a room's lease (expires unless renewed)."""
    return f"{PREFIX}room:{{{room_id}}}:owner"


def room_epoch(room_id: str) -> str:
    """The last epoch handed out for a room: it only grows, so an epoch is never reused."""
    return f"{PREFIX}room:{{{room_id}}}:epoch"


def rpc(node_id: str) -> str:
    """The pub/sub channel a node takes requests and replies on."""
    return f"{PREFIX}rpc:{node_id}"


def room_edges(room_id: str) -> str:
    """A set: the nodes that serve the room as edges (the owner tells them when its tracks change)."""
    return f"{PREFIX}room:{{{room_id}}}:edges"


def room_log(room_id: str) -> str:
    """A stream: the owner's interaction entries of a room, one item per fan-out tick, for its edges."""
    return f"{PREFIX}room:{{{room_id}}}:log"
