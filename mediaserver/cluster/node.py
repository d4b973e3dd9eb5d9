"""This server as a node of a cluster (issue 19): registered in Redis with its address and load, renewed
every beat, answering the other nodes on its request channel. Off (``Single``) unless ``cluster_redis_url``
is set; the single-node default needs no Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from mediaserver.cluster.leases import Leases
from mediaserver.cluster.registry import NodeInfo, Registry, registry_key
from mediaserver.cluster.rpc import Channel
from mediaserver.cluster.shared_files import SharedFiles
from mediaserver.errors import ControlError

log = logging.getLogger(__name__)


class Single:
    """The single-node default: this server is the whole deployment."""

    mode = "single"

    def __init__(self, node_id: str, address: str, report: Callable[[], tuple[float, int]]) -> None:
        self.node_id, self.address, self.report = node_id, address, report
        self.draining = False  # it takes no new participants (maintenance): set by drain
        # what moves this node's people to the others (mediaserver.cluster.rooms.ClusterRooms.drain)
        self.mover: Callable[[], Awaitable[dict[str, int]]] | None = None

    def info(self) -> NodeInfo:
        load, participants = self.report()
        return NodeInfo(self.node_id, self.address, load, participants, draining=self.draining)

    async def drain(self) -> dict[str, int]:
        """Maintenance: take no one new, move this node's people to the other nodes (their SDKs reconnect
        there), give up the rooms it owns. ControlError when there is no other node."""
        if self.mover is None:
            raise ControlError("conflict", "a server alone has no other node to move its people to", 409)
        self.draining = True
        return await self.mover()

    async def nodes(self) -> list[NodeInfo]:
        return [self.info()]

    def files_shared(self, node_id: str) -> bool | None:
        """Whether this node sees the files ``node_id`` stores (None: itself, or not known yet)."""
        return None

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class ClusterNode(Single):
    """A node of a cluster. ``report`` gives its load (the busiest media worker's share of a core) and its
    participants, sent every ``ttl / 3`` seconds; its registry key expires ``ttl`` seconds after the last."""

    mode = "cluster"

    def __init__(
        self,
        redis_url: str,
        node_id: str,
        address: str,
        secret: str,
        ttl: float,
        report: Callable[[], tuple[float, int]],
        files_dir: str = "",
    ) -> None:
        super().__init__(node_id, address, report)
        self.files = SharedFiles(files_dir, node_id) if files_dir else None  # files_dir shared by the nodes
        # a Redis that stops answering fails a call within seconds instead of hanging it (a beat, the start)
        self.redis = Redis.from_url(
            redis_url, socket_connect_timeout=2.0, socket_timeout=max(2.0, ttl / 3), health_check_interval=10
        )
        self.registry = Registry(self.redis, node_id, ttl, registry_key(secret.encode()))
        self.channel = Channel(self.redis, node_id, secret.encode(), {"node.info": self._info})
        self.leases = Leases(self.redis, node_id, ttl)  # rooms' ownership, renewed every ttl / 3
        self.ttl = ttl
        self.beats = self.failed_beats = 0
        # times this node came back to the registry after more than ttl without a beat that held (stalled,
        # or cut off from Redis): the others took it for dead meanwhile (its rooms' edges: ClusterRooms)
        self.returns = 0
        self._beat_held = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    async def nodes(self) -> list[NodeInfo]:
        found = await self.registry.nodes()
        if self.files is not None:
            self.files.check([n.node_id for n in found])
        return found

    def files_shared(self, node_id: str) -> bool | None:
        return self.files.shared_with(node_id) if self.files is not None else None

    async def drain(self) -> dict[str, int]:
        self.draining = True
        with contextlib.suppress(Exception):  # the others stop sending people here now, not at the next beat
            await asyncio.wait_for(self.registry.beat(self.info()), self.ttl / 3)
        return await super().drain()

    async def start(self) -> None:
        """Register (Redis must answer: a node that cannot reach it does not start) and keep beating."""
        if self.files is not None:
            self.files.mark()
        await self.registry.beat(self.info())
        self._beat_held = time.monotonic()
        await self.channel.start()
        self._task = asyncio.create_task(self._beat(), name="cluster beat")
        log.info("cluster node %s at %s registered", self.node_id, self.address)

    async def stop(self) -> None:
        """Leave the registry first (no one is sent here any more), then stop answering."""
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await asyncio.wait_for(self.registry.leave(), 5.0)
            log.info("cluster node %s left", self.node_id)
        except Exception as e:  # a Redis gone already: the key expires by itself
            log.warning(
                "cluster node %s could not leave (%s); its key expires in %s s", self.node_id, e, self.ttl
            )
        await self.channel.stop()
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await asyncio.wait_for(self.registry.beat(self.info()), self.ttl / 3)
                self.beats += 1
                held, gap = time.monotonic(), time.monotonic() - self._beat_held
                self._beat_held = held
                if gap > self.ttl:
                    self.returns += 1
                    log.warning(
                        "cluster node %s: back in the registry after %.1f s out of it (the others took it "
                        "for dead: its people are registered with their rooms' owners again)",
                        self.node_id,
                        gap,
                    )
            except Exception as e:  # Redis away for a while: try again next beat, say so once a beat
                self.failed_beats += 1
                log.warning("cluster node %s: beat failed: %s", self.node_id, e)

    async def _info(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        i = self.info()
        return {"nodeId": i.node_id, "address": i.address, "load": i.load, "participants": i.participants}
