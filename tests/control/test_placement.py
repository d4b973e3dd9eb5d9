"""Placement by load (issue 19 item 3, mediaserver/cluster/placement.py): when a node is full, and which node
a new attendee goes to instead. The cluster test (tests/api/test_cluster_roster.py) runs it through real nodes
and the SDK; this one covers the load threshold and the ties, which a test on one machine cannot set."""

from __future__ import annotations

import pytest

from mediaserver.cluster.placement import better_node, full
from mediaserver.cluster.registry import NodeInfo
from mediaserver.config import ConfigError, Settings


def node(name: str, load: float = 0.1, people: int = 0, draining: bool = False) -> NodeInfo:
    return NodeInfo(name, f"http://{name}", load, people, draining)


def test_a_node_is_full_by_load_by_people_or_while_drained():
    assert not full(node("a", 0.84, 10**6), capacity=0, max_load=0.85)  # capacity 0: no limit of people
    assert full(node("a", 0.85), capacity=0, max_load=0.85)
    assert full(node("a", 0.1, 50), capacity=50, max_load=0.85)
    assert not full(node("a", 0.1, 49), capacity=50, max_load=0.85)
    assert full(node("a", draining=True), capacity=0, max_load=1.0)


def test_a_full_node_names_the_least_loaded_node_that_is_not():
    here = node("a", 0.9)
    others = [here, node("b", 0.5, 3), node("c", 0.2, 40), node("d", 0.05, 0, draining=True), node("e", 0.95)]
    assert better_node(here, others, capacity=0, max_load=0.85) == others[2]  # c: the least loaded, not d
    assert better_node(node("a", 0.3), others, capacity=0, max_load=0.85) is None  # not full: stays
    # equal loads: the one with fewer people
    assert better_node(here, [node("b", 0.2, 9), node("c", 0.2, 2)], 0, 0.85).node_id == "c"
    # full by people, judged with the same capacity elsewhere
    assert better_node(node("a", 0.1, 10), [node("b", 0.1, 10), node("c", 0.6, 9)], 10, 0.85).node_id == "c"
    # every other node full too: the attendee stays
    assert better_node(here, [here, node("b", 0.9), node("c", 0.3, 0, draining=True)], 0, 0.85) is None


def test_the_settings_keep_their_ranges():
    Settings(node_max_load=1.0, node_capacity=0)._finish_cluster()
    with pytest.raises(ConfigError, match="node_max_load"):
        Settings(node_max_load=0.0)._finish_cluster()
    with pytest.raises(ConfigError, match="node_max_load"):
        Settings(node_max_load=1.5)._finish_cluster()
    with pytest.raises(ConfigError, match="node_capacity"):
        Settings(node_capacity=-1)._finish_cluster()
