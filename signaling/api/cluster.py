"""/api/v1/cluster: the nodes of this deployment as the registry sees them (issue 19), and the drain of a node
for maintenance, for operators: the server's API key, as for tokens. One node alone answers with itself."""

from __future__ import annotations

from pydantic import Field

from signaling import keys
from signaling.api.framework import API, Ctx, Out


class Node(Out):
    node_id: str
    address: str = Field(description="where clients reach its HTTP (the nodes talk through Redis and UDP)")
    load: float = Field(description="the busiest of its media workers, as a share of a core")
    participants: int
    is_self: bool = Field(description="the node that answered")
    draining: bool = Field(
        description="it takes no new participants (maintenance: POST /api/v1/cluster/drain)"
    )
    files_shared: bool | None = Field(
        description="whether the node that answered sees this node's mark in its files_dir (the nodes share "
        "one: what one stores, another reads); false also while a shared filesystem does not show the mark "
        "yet; null for itself and for a server alone"
    )


class Nodes(Out):
    mode: str = Field(description="single (one server alone, no Redis) or cluster")
    nodes: list[Node]


@API(
    "GET",
    "/api/v1/cluster/nodes",
    "the live nodes of the deployment, their addresses and load (issue 19)",
    "cluster",
    response=Nodes,
    auth=False,
    api_key=True,
)
async def nodes(ctx: Ctx) -> Nodes:
    node = ctx.app[keys.CLUSTER]
    return Nodes(
        mode=node.mode,
        nodes=[
            Node(
                node_id=n.node_id,
                address=n.address,
                load=n.load,
                participants=n.participants,
                is_self=n.node_id == node.node_id,
                draining=n.draining,
                files_shared=node.files_shared(n.node_id),
            )
            for n in await node.nodes()
        ],
    )


class Drained(Out):
    node_id: str
    rooms: int = Field(description="the rooms it served, given up (those it owned go to another node)")
    moved: int = Field(description="the people told to move to another node (their SDKs reconnect there)")


@API(
    "POST",
    "/api/v1/cluster/drain",
    "drain the node that answers for maintenance: it takes no new participants, gives up its rooms and "
    "moves its people to the other nodes (issue 19); 409 for a server alone",
    "cluster",
    response=Drained,
    auth=False,
    api_key=True,
)
async def drain(ctx: Ctx) -> Drained:
    node = ctx.app[keys.CLUSTER]
    done = await node.drain()
    return Drained(node_id=node.node_id, rooms=done["rooms"], moved=done["moved"])
