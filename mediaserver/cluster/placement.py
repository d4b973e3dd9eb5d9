"""Placing attendees by load (issue 19 item 3): a node that is full sends a new attendee to the least loaded
node of the cluster that is not.

A node is full when its busiest media worker uses ``node_max_load`` of a core or more, when it has
``node_capacity`` people (when set), or while it is drained. The host and presenters are not placed: they act
on the room's owner. The other nodes' figures are their last reports to the registry (at most ``node_ttl /
3`` seconds old); this node's own are read at the moment.
"""

from __future__ import annotations

from mediaserver.cluster.registry import NodeInfo


def full(n: NodeInfo, capacity: int, max_load: float) -> bool:
    """Whether ``n`` takes no new attendee (``capacity`` 0: no limit of people)."""
    return n.draining or n.load >= max_load or (capacity > 0 and n.participants >= capacity)


def better_node(here: NodeInfo, nodes: list[NodeInfo], capacity: int, max_load: float) -> NodeInfo | None:
    """Where a new attendee of ``here`` goes instead: None while ``here`` is not full, or when every other
    node is full as well (then ``here`` takes them all the same); else the least loaded other node that is not
    full (the fewest people between equals)."""
    if not full(here, capacity, max_load):
        return None
    free = [n for n in nodes if n.node_id != here.node_id and not full(n, capacity, max_load)]
    return min(free, key=lambda n: (n.load, n.participants, n.node_id)) if free else None
