"""Rooms in a cluster (issue 19 item 3): any node serves any room. The first node a room opens on takes its
lease and owns it: its presenters publish there. A node that opens the room later is an edge: it registers in
the room's set of edges, asks the owner for the room's tracks, mirrors each over a media link
(:mod:`mediaserver.cluster.links`) and offers the mirrors to its own attendees like local tracks. The owner
tells every edge when its tracks change (published, muted, gone), with its epoch; an edge takes such news
only from the room's current owner.

Every message is a signed request of the cluster's channel; the owner keeps its leases renewed while it holds
the rooms and gives a room up when it frees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from mediaserver.cluster import keys, placement
from mediaserver.cluster.interaction import RoomInteraction
from mediaserver.cluster.leases import Lease, Leases, StaleEpoch
from mediaserver.cluster.links import EdgeLink, Links, Source
from mediaserver.cluster.registry import NodeInfo
from mediaserver.cluster.rpc import Channel, NodeUnreachable, RpcError
from mediaserver.errors import ControlError
from mediaserver.rtc import sdp
from mediaserver.rtc.room_rules import RuleError
from mediaserver.rtc.rooms import Participant, Room, RoomManager, Track

log = logging.getLogger(__name__)


@dataclass
class Placed:
    """This node's part in one room: its lease (the owner's, on an edge) and, on an edge, the links."""

    room: Room
    lease: Lease
    links: dict[str, EdgeLink] = field(default_factory=dict)  # track id -> its link (edge)
    opening: set[str] = field(default_factory=set)  # tracks whose link is being opened (edge)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    dirty: bool = False  # owner: the edges have not heard of the last change yet
    following: bool = False  # edge: a check of the owner is under way
    renewed: float = field(default_factory=time.monotonic)  # owner: when its last renewal that held was sent
    task: asyncio.Task[None] | None = None

    @property
    def epoch(self) -> int:
        return self.lease.epoch


def describe(t: Track) -> dict[str, Any]:
    """A track as the owner announces it to the edges: enough to mirror it and to offer it."""
    c = t.codec
    return {
        **t.describe(),
        "participant": {"id": t.owner.id, "name": t.owner.name, "role": t.owner.role},
        "codec": {
            "payloadType": c.payload_type,
            "name": c.name,
            "clockRate": c.clock_rate,
            "channels": c.channels,
            "fmtp": c.fmtp,
            "rtcpFb": c.rtcp_fb,
            "rtxPayloadType": c.rtx_payload_type,
        },
    }


class Announcer:
    """The owner's output of a room (``Room.cascade``): any change of its tracks is told to the edges."""

    def __init__(self, rooms: ClusterRooms, placed: Placed) -> None:
        self.rooms, self.placed = rooms, placed

    def track_added(self, room: Room, track: Track) -> None:
        self.rooms.announce(self.placed)

    def track_removed(self, room: Room, track: Track) -> None:
        self.rooms.links.drop_track(room.name, track.id)
        self.rooms.announce(self.placed)

    def sync(self, room: Room) -> None:
        self.rooms.announce(self.placed)

    def room_ended(self, room: Room) -> None:
        self.rooms.announce(self.placed)


class ClusterRooms:
    """This node's rooms in the cluster: :meth:`place` and :meth:`forget` (RoomManager's Placement)."""

    def __init__(
        self,
        node_id: str,
        address: str,
        redis: Redis,
        channel: Channel,
        leases: Leases,
        manager: RoomManager,
        renew_every: float,
        alive: Callable[[], Awaitable[list[NodeInfo]]],
        here: Callable[[], NodeInfo] | None = None,
        capacity: int = 0,
        max_load: float = 1.0,
        returns: Callable[[], int] = lambda: 0,
    ) -> None:
        self.node_id, self.redis, self.channel, self.leases = node_id, redis, channel, leases
        self.address = address  # this node's own (node_url)
        self.manager = manager
        self.renew_every = renew_every
        self.alive = alive  # the nodes of the registry now (the people of the others leave the rooms)
        # placement by load: this node's figures now, and when a node is full (mediaserver.cluster.placement)
        self.here, self.capacity, self.max_load = here, capacity, max_load
        # how many times this node came back to the registry after the others took it for dead (ClusterNode)
        self.returns, self._returns_seen = returns, returns()
        self.node_urls: list[str] = []  # their addresses, as last read (a join's reply names them)
        self.links = Links(node_id, channel, leases, self._source)
        self.interaction = RoomInteraction(
            redis,
            channel,
            lambda r, e: self._owned(r, e).room,
            self._owner_of,
            lambda room: self.placed[room.name].epoch,
            address,
        )
        self.placed: dict[str, Placed] = {}
        self.draining = False  # drain(): no one new, everyone moved to the other nodes
        self._tasks: set[asyncio.Task[Any]] = set()
        self._renewer: asyncio.Task[None] | None = None
        channel.handlers["room.tracks"] = self._on_tracks
        channel.handlers["room.tracks.get"] = self._serve_tracks
        channel.handlers["room.control"] = self._serve_control
        channel.handlers["room.instant"] = self._serve_instant
        # an instant room of this node answers for another (app.py: mediaserver.events.entry.instant_answer)
        self.instant_local: Callable[[str, str, dict[str, Any]], dict[str, Any]] | None = None
        manager.cluster = self

    def start(self) -> None:
        self._renewer = asyncio.create_task(self._renew(), name="room leases")
        self.interaction.start()

    async def stop(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        for t in list(self._tasks):
            t.cancel()
        for pl in list(self.placed.values()):
            await self._leave(pl)
        self.links.close_all()
        await self.interaction.stop()

    # ------------------------------------------------------------------ placing a room

    async def place(self, room: Room) -> None:
        if self.draining:
            raise RuleError("draining", "this node is being drained for maintenance: join on another node")
        old = self.placed.get(room.name)
        if old is not None and old.room is not room:  # the room was replaced (an event's next session)
            await self._leave(old)
        if room.name in self.placed:
            return
        asked = time.monotonic()
        lease, _ = await self.leases.acquire(room.name)
        if room.name in self.placed:  # placed meanwhile by another join
            return
        pl = self.placed[room.name] = Placed(room, lease, renewed=asked)
        if lease.node_id == self.node_id:
            room.owner_node, room.cascade = None, Announcer(self, pl)
            self.interaction.own(room)
            log.info("room %s: owned here (epoch %d)", room.name, lease.epoch)
            return
        room.owner_node = lease.node_id
        log.info("room %s: an edge of %s (epoch %d)", room.name, lease.node_id, lease.epoch)
        try:
            await self.interaction.edge(room)  # the owner's entries from now on: the joins' snapshots before
            await self.redis.sadd(keys.room_edges(room.name), self.node_id)
            got = await self.channel.request(
                lease.node_id, "room.tracks.get", {"room": room.name, "epoch": lease.epoch}
            )
        except Exception:
            self.placed.pop(room.name, None)
            self.interaction.forget(room)
            room.relay = None
            raise
        self._spawn(
            self._reconcile(pl, got.get("tracks"), got.get("settings"), lease.epoch, got.get("people"))
        )

    async def instant(self, room_id: str, op: str, body: dict[str, Any]) -> dict[str, Any] | None:
        try:
            lease = await self.leases.current(room_id)
        except Exception as e:  # Redis away: the room is not known here
            log.warning("room %s: its lease could not be read: %s", room_id, e)
            return None
        if lease is None or lease.node_id == self.node_id:
            return None
        req = {"room": room_id, "epoch": lease.epoch, "op": op, "body": body}
        try:
            got = await self.channel.request(lease.node_id, "room.instant", req, timeout=5.0)
        except RpcError as e:
            if e.code in ("stale_epoch", "not_found"):
                return None
            raise ControlError(
                "cluster_unavailable", f"the room's node did not answer ({e.code})", 503
            ) from None
        if "error" in got:
            err = got["error"]
            raise ControlError(str(err.get("code")), str(err.get("message")), int(err.get("status") or 409))
        result = got.get("result")
        return result if isinstance(result, dict) else None

    async def _serve_instant(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        room_id = str(body.get("room"))
        self._owned(room_id, body.get("epoch"))
        op, asked = body.get("op"), body.get("body")
        if op not in ("info", "join") or not isinstance(asked, dict) or self.instant_local is None:
            raise RpcError("bad_request", "room.instant: info or join, with a body")
        try:
            return {"result": self.instant_local(room_id, op, asked)}
        except ControlError as e:
            return {"error": {"code": e.code, "message": e.message, "status": e.status}}
        except RuleError as e:
            status = {"ended": 410, "locked": 403, "removed": 403}.get(e.code, 409)
            return {"error": {"code": e.code, "message": e.message, "status": status}}

    async def placed_elsewhere(self) -> str | None:
        """Where a new attendee of this node goes instead, when it is full: the least loaded node that is not
        (None: here; also when every node is full, or the registry cannot be read)."""
        if self.here is None or self.draining:  # drained: the join is refused as such (``draining``)
            return None
        here = self.here()
        if not placement.full(here, self.capacity, self.max_load):
            return None  # the common case: no Redis read
        try:
            nodes = await self.alive()
        except Exception as e:
            log.warning("placement: the registry could not be read (%s); the attendee stays here", e)
            return None
        better = placement.better_node(here, nodes, self.capacity, self.max_load)
        return better.address if better is not None else None

    async def control(self, room_id: str, action: str, by: str | None, auto_record: bool) -> bool:
        try:
            lease = await self.leases.current(room_id)
        except Exception as e:  # Redis away: this node acts on what it holds, as a server alone would
            log.warning("room %s: its lease could not be read (%s); the %s is done here", room_id, e, action)
            return False
        if lease is None or lease.node_id == self.node_id:
            return False
        body = {"room": room_id, "epoch": lease.epoch, "action": action, "by": by, "autoRecord": auto_record}
        try:
            await self.channel.request(lease.node_id, "room.control", body, timeout=5.0)
        except RpcError as e:
            raise RuleError(
                "cluster_unavailable", f"the room's owner node did not {action} it ({e.code})"
            ) from None
        return True

    async def _serve_control(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        room = self._owned(str(body.get("room")), body.get("epoch")).room
        action, by = body.get("action"), body.get("by")
        if action == "start":
            try:
                room.start()
            except RuleError as e:
                raise RpcError(e.code, e.message) from None
            recordings = self.manager.recordings
            if (
                body.get("autoRecord") is True and recordings is not None
            ):  # R-REC-1, on the node with the media
                self._spawn(self._record(room))
        elif action == "end":
            if room.settings.state != "ended":
                room.end(by if isinstance(by, str) else None)
        else:
            raise RpcError("bad_request", "room.control: start or end")
        return {}

    async def _record(self, room: Room) -> None:
        recordings = self.manager.recordings
        if recordings is None:
            return
        try:
            await recordings.start(room, by="autoRecord")
        except Exception as e:  # a used-up allowance does not keep the event from going live (R-REC-2)
            log.warning("room %s: automatic recording did not start: %s", room.name, e)

    async def held_elsewhere(self, room_id: str) -> bool:
        try:
            lease = await self.leases.current(room_id)
        except Exception as e:  # Redis away: nothing is ended for it
            log.warning("room %s: its lease could not be read: %s", room_id, e)
            return True
        return lease is not None and lease.node_id != self.node_id

    async def settings_of(self, room_id: str) -> dict[str, Any] | None:
        lease = await self.leases.current(room_id)
        if lease is None or lease.node_id == self.node_id:
            return None
        try:
            got = await self.channel.request(
                lease.node_id, "room.tracks.get", {"room": room_id, "epoch": lease.epoch}
            )
        except RpcError as e:
            log.info("room %s: its owner %s did not give its settings (%s)", room_id, lease.node_id, e.code)
            return None
        settings = got.get("settings")
        return settings if isinstance(settings, dict) else None

    def forget(self, room: Room) -> None:
        pl = self.placed.get(room.name)
        if pl is not None and pl.room is room:
            self._spawn(self._leave(pl))

    async def _leave(self, pl: Placed) -> None:
        if self.placed.get(pl.room.name) is pl:
            del self.placed[pl.room.name]
        self.interaction.forget(pl.room)
        try:
            if pl.lease.node_id == self.node_id:
                if await self.leases.release(pl.lease):  # still ours: its edges' set and stream go with it
                    await self.redis.delete(keys.room_edges(pl.room.name), keys.room_log(pl.room.name))
            else:
                await self.redis.srem(keys.room_edges(pl.room.name), self.node_id)
        except Exception as e:  # Redis away: the lease expires by itself, the owner drops us when unreachable
            log.warning("room %s: leaving its place in the cluster failed: %s", pl.room.name, e)
        links, pl.links = list(pl.links.values()), {}  # popped first: their going is not the room's news
        for link in links:
            await self.links.close(link)

    async def joined(self, room: Room, p: Participant) -> dict[str, Any]:
        """On an edge, the owner's admission and view; on any node, the cluster's live nodes (the SDK goes to
        another one should this one die)."""
        if not self.node_urls:
            with contextlib.suppress(Exception):
                self.node_urls = [n.address for n in await self.alive()]
        seen = {"cluster": {"node": self.node_id, "nodes": self.node_urls}}
        pl = self.placed.get(room.name)
        if pl is None or pl.lease.node_id == self.node_id:
            return seen
        return {**seen, **await self.interaction.joined(room, p)}

    def _owner_of(self, room_id: str) -> tuple[str, int] | None:
        pl = self.placed.get(room_id)
        return (pl.lease.node_id, pl.epoch) if pl is not None and pl.lease.node_id != self.node_id else None

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            for pl in list(self.placed.values()):  # first this node's own leases: nothing may delay them
                if pl.lease.node_id != self.node_id:
                    continue
                # the lease expires ttl after the last renewal that held: it is given up a round before
                give_up = pl.renewed + self.leases.ttl_ms / 1000 - self.renew_every
                sent = time.monotonic()
                held = False
                if sent < give_up:
                    try:
                        held = await asyncio.wait_for(self.leases.renew(pl.lease), give_up - sent)
                    except Exception as e:  # Redis away (or too slow to answer in time)
                        log.warning("room %s: renewing the lease failed: %r", pl.room.name, e)
                        held = time.monotonic() < give_up
                    else:
                        if held:
                            pl.renewed = sent
                if not held:
                    await self._step_down(pl)
            try:
                nodes = await self.alive()
                alive = {n.node_id for n in nodes}
                serving = {n.node_id for n in nodes if not n.draining}  # a drained node's people moved
                self.node_urls = [n.address for n in nodes]
            except Exception as e:
                log.warning("the registry could not be read: %s", e)
                continue
            self.links.drop_nodes_except(alive)  # the links to nodes that died go now, not at consent expiry
            back = self.returns() != self._returns_seen
            self._returns_seen = self.returns()
            for pl in list(self.placed.values()):
                if pl.lease.node_id == self.node_id:
                    for node in {
                        getattr(m, "node", self.node_id) for m in pl.room.remote_members.values()
                    } - serving:
                        log.warning("room %s: node %s is gone; its people leave the room", pl.room.name, node)
                        self.interaction.drop_node(pl.room, node)
                elif pl.lease.node_id not in alive:
                    self._follow(pl, gone=True)
                elif back:
                    self._spawn(self._back_with_owner(pl))
                elif not self.draining:
                    self._follow(pl, gone=False)

    async def _back_with_owner(self, pl: Placed) -> None:
        """This node is back in the registry after the others took it for dead: the owner of this room (an
        edge here) dropped its people and closed its links. They are registered again (no admission: they
        were seated) and the links opened anew."""
        room = pl.room
        log.warning("room %s: back with its owner %s: people and links again", room.name, pl.lease.node_id)
        try:
            await self.redis.sadd(keys.room_edges(room.name), self.node_id)
            for p in [q for q in room.participants.values() if q.status == "joined"]:
                await self.interaction.rejoin(room, p)
            async with pl.lock:
                links, pl.links = list(pl.links.items()), {}
                for tid, link in links:
                    room.remove_remote_track(tid)
                    await self.links.close(link)
            got = await self.channel.request(
                pl.lease.node_id, "room.tracks.get", {"room": room.name, "epoch": pl.epoch}
            )
        except Exception as e:  # the next announcement of the owner brings the tracks
            log.warning("room %s: coming back to the owner failed: %s", room.name, e)
            return
        await self._reconcile(pl, got.get("tracks"), got.get("settings"), people=got.get("people"))

    def _follow(self, pl: Placed, gone: bool) -> None:
        """An edge's round: its owner died (``gone``) or may have given the room up; at most one check of a
        room at a time, off the renewing loop."""
        if pl.following:
            return
        pl.following = True

        async def run() -> None:
            try:
                if gone:
                    await self._owner_gone(pl)
                else:
                    await self._owner_still(pl)
                    with contextlib.suppress(
                        Exception
                    ):  # dropped from the set by a brief absence: back in it
                        await self.redis.sadd(keys.room_edges(pl.room.name), self.node_id)
            finally:
                pl.following = False

        self._spawn(run())

    async def _owner_still(self, pl: Placed) -> None:
        """Whether the room's owner still holds its lease: one that gave it up (drained) is replaced as a dead
        one is."""
        try:
            cur = await self.leases.current(pl.room.name)
        except Exception:
            return
        if cur is None or cur != pl.lease:
            await self._owner_gone(pl)

    async def drain(self) -> dict[str, int]:
        """Maintenance (issue 19 item 5): no one new comes here; the rooms this node owns are given up (an
        edge takes each over at its next round, or the node its presenter comes back to); everyone here is
        told to move (``moved``: the SDK reconnects to another of the nodes its join named) and leaves."""
        self.draining = True
        placed = list(self.placed.values())
        for pl in placed:  # first the rooms (whoever comes back elsewhere finds them free), then the people
            if pl.lease.node_id == self.node_id:
                pl.room.cascade = None
                with contextlib.suppress(Exception):
                    if await self.leases.release(pl.lease):
                        await self.redis.delete(keys.room_edges(pl.room.name))
        others = [u for u in self.node_urls if u != self.address]
        moved = 0
        for pl in placed:
            for p in list(pl.room.participants.values()):
                p.send("moved", {"reason": "drain", "nodes": others})
                pl.room.leave(p)
                moved += 1
            await self._leave(pl)
        log.warning("drained: %d people of %d rooms moved to the other nodes", moved, len(placed))
        return {"rooms": len(placed), "moved": moved}

    async def _step_down(self, pl: Placed) -> None:
        """This node owned the room but its lease is gone, or about to expire unrenewed (cut off from Redis):
        another node may own the room by now, so this one stops acting for it rather than go on as a second
        room (issue 19: a stale owner cannot act). Its people are told to move (the SDK reconnects over the
        nodes their join named and finds the room's owner; until Redis is back, this node takes no one for
        the room); the room is given up here without ending it (its event goes on wherever it is held)."""
        if self.placed.get(pl.room.name) is not pl:
            return
        room = pl.room
        log.error(
            "room %s: this node's lease (epoch %d) is lost or cannot be renewed; the room is given up here",
            room.name,
            pl.epoch,
        )
        room.cascade = None
        room.give_up()
        others = [u for u in self.node_urls if u != self.address] or list(self.node_urls)
        for p in list(room.participants.values()):
            p.send("moved", {"reason": "lease_lost", "nodes": others})
            room.leave(p)
        await self._leave(pl)
        self.manager.discard(room)

    async def _owner_gone(self, pl: Placed) -> None:
        """The room's owner left the registry (it died): this node takes the room over when its lease has
        expired and no other edge was first (a new epoch), or follows the edge that was."""
        try:
            asked = time.monotonic()
            lease, _ = await self.leases.acquire(pl.room.name)
        except Exception as e:
            log.warning("room %s: the lease could not be read: %s", pl.room.name, e)
            return
        if lease == pl.lease:
            return  # its lease has not expired yet
        async with pl.lock:
            if self.placed.get(pl.room.name) is not pl:
                return
            room = pl.room
            for tid, link in list(pl.links.items()):  # the dead owner's tracks
                del pl.links[tid]
                room.remove_remote_track(tid)
                self.links.abandon(link)
            old, old_epoch, pl.lease, pl.renewed = pl.lease.node_id, pl.lease.epoch, lease, asked
            if lease.node_id == self.node_id:
                log.warning(
                    "room %s: owner %s is gone; taken over here (epoch %d)", room.name, old, lease.epoch
                )
                room.owner_node, room.cascade = None, Announcer(self, pl)
                room.apply_owner_people([])  # the dead owner's people are gone; this node's are its own now
                # the interaction goes on from this node's standby copy of the owner's (issue 19)
                await self.interaction.take_over(room, old_epoch)
                with contextlib.suppress(Exception):
                    await self.redis.srem(keys.room_edges(room.name), self.node_id)
                self.announce(pl)  # the other edges (if they follow before this, they fetch the state)
                return
            log.warning(
                "room %s: owner %s is gone; %s took over (epoch %d)",
                room.name,
                old,
                lease.node_id,
                lease.epoch,
            )
            room.owner_node = lease.node_id
        try:
            await self.redis.sadd(keys.room_edges(room.name), self.node_id)
            for p in [q for q in room.participants.values() if q.status == "joined"]:
                await self.interaction.rejoin(room, p)  # this node's people, to the new owner
            got = await self.channel.request(
                lease.node_id, "room.tracks.get", {"room": room.name, "epoch": lease.epoch}
            )
        except Exception as e:  # its announcements bring the room's state when it changes next
            log.warning("room %s: following the new owner %s failed: %s", room.name, lease.node_id, e)
            return
        await self._reconcile(pl, got.get("tracks"), got.get("settings"), people=got.get("people"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ the owner's side

    def _source(self, room_id: str, track_id: str) -> Source | None:
        pl = self.placed.get(room_id)
        if pl is None or pl.lease.node_id != self.node_id:
            return None
        t = pl.room.tracks.get(track_id)
        if t is None or t.owner.kind == "remote":
            return None
        c = t.codec
        engine = pl.room.media
        layers = int(engine.producer_stats(t.producer_id).get("nlayers") or 1)
        rtx = {c.rtx_payload_type: c.payload_type} if c.rtx_payload_type is not None else {}
        return Source(
            engine, t.producer_id, t.kind, {c.payload_type: c.name}, rtx, c.clock_rate, max(layers, 1)
        )

    def _state(self, pl: Placed) -> dict[str, Any]:
        """What the edges mirror of a room: its settings (state, lock, audio mode ...), its tracks, and whom
        the edges' people see of it."""
        return {
            "settings": pl.room.settings.public(),
            "tracks": [describe(t) for t in pl.room.tracks.values() if t.owner.kind != "remote"],
            "people": pl.room.people_for_edges(),
        }

    async def _serve_tracks(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        pl = self._owned(str(body.get("room")), body.get("epoch"))
        return self._state(pl)

    def _owned(self, room_id: str, epoch: Any) -> Placed:
        pl = self.placed.get(room_id)
        if pl is None or pl.lease.node_id != self.node_id or pl.epoch != epoch:
            raise StaleEpoch(room_id, epoch if isinstance(epoch, int) else -1, pl.epoch if pl else None)
        return pl

    def announce(self, pl: Placed) -> None:
        """Tell the room's edges its tracks, once for the changes of this turn of the loop."""
        pl.dirty = True
        if pl.task is None or pl.task.done():
            pl.task = asyncio.create_task(self._announce(pl))

    async def _announce(self, pl: Placed) -> None:
        while pl.dirty:
            pl.dirty = False
            await asyncio.sleep(0)  # the other changes of this turn go in the same message
            body = {"room": pl.room.name, "epoch": pl.epoch, **self._state(pl)}
            try:
                members = await self.redis.smembers(keys.room_edges(pl.room.name))
                edges = [e.decode() if isinstance(e, bytes) else str(e) for e in members]
            except Exception as e:
                log.warning("room %s: the edges could not be listed: %s", pl.room.name, e)
                return
            for edge, r in zip(
                edges,
                await asyncio.gather(
                    *(self.channel.request(e, "room.tracks", body) for e in edges), return_exceptions=True
                ),
                strict=True,
            ):
                if isinstance(r, NodeUnreachable):  # gone: it registers again when it opens the room again
                    with contextlib.suppress(Exception):
                        await self.redis.srem(keys.room_edges(pl.room.name), edge)
                elif isinstance(r, BaseException):
                    log.warning("room %s: edge %s did not take the tracks: %s", pl.room.name, edge, r)

    # ------------------------------------------------------------------ the edge's side

    async def _on_tracks(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        pl = self.placed.get(str(body.get("room")))
        if pl is None:
            raise RpcError("not_found", "this node does not serve the room")
        if sender != pl.lease.node_id or body.get("epoch") != pl.epoch:
            raise StaleEpoch(pl.room.name, int(body.get("epoch") or -1), pl.epoch)
        self._spawn(
            self._reconcile(pl, body.get("tracks"), body.get("settings"), pl.epoch, body.get("people"))
        )
        return {}

    async def _reconcile(
        self, pl: Placed, tracks: Any, settings: Any, epoch: int | None = None, people: Any = None
    ) -> None:
        """Make the room what the owner says: its settings; whom its people see of the other nodes; its
        mirrored tracks (links opened for new tracks, closed for gone ones, mutes applied). ``epoch``: the
        owner's the state came from (the current one when None); a state of an owner this node no longer
        follows is dropped."""
        if not isinstance(tracks, list) or not isinstance(settings, dict):
            log.warning("room %s: the owner's room state is malformed", pl.room.name)
            return
        epoch = pl.epoch if epoch is None else epoch
        async with pl.lock:
            if self.placed.get(pl.room.name) is not pl or pl.epoch != epoch:
                return
            pl.room.apply_owner_settings(settings)
            if isinstance(people, list):
                pl.room.apply_owner_people(people)
            wanted = {str(d["id"]): d for d in tracks if isinstance(d, dict) and "id" in d}
            room = pl.room
            for tid in [t for t in pl.links if t not in wanted]:
                room.remove_remote_track(tid)
                await self.links.close(pl.links.pop(tid))
            for tid, d in wanted.items():
                if tid in pl.links:
                    room.set_remote_muted(tid, bool(d.get("muted")))
                    continue
                try:
                    link = await self.links.open(pl.lease.node_id, room.name, pl.epoch, tid, room.media)
                except Exception as e:
                    log.warning("room %s: track %s could not be mirrored: %s", room.name, tid, e)
                    continue
                try:
                    track = self._mirror(room, d, link)
                except (KeyError, TypeError, ValueError) as e:
                    log.warning("room %s: track %s is described wrongly: %s", room.name, tid, e)
                    await self.links.close(link)
                    continue
                if self.placed.get(room.name) is not pl:  # the room went while the link opened
                    await self.links.close(link)
                    return
                pl.links[tid] = link
                link.listeners.append(functools.partial(self._link_down, pl, tid))
                room.add_remote_track(track)

    def _mirror(self, room: Room, d: dict[str, Any], link: EdgeLink) -> Track:
        c, who = d["codec"], d["participant"]
        codec = sdp.Codec(
            payload_type=int(c["payloadType"]),
            name=str(c["name"]),
            clock_rate=int(c["clockRate"]),
            channels=int(c.get("channels") or 1),
            fmtp={str(k): str(v) for k, v in (c.get("fmtp") or {}).items()},
            rtcp_fb=[str(x) for x in c.get("rtcpFb") or []],
            rtx_payload_type=c.get("rtxPayloadType"),
        )
        owner = Participant(
            id=str(who["id"]),
            name=str(who["name"]),
            role=str(who["role"]),
            identity="",
            room=room,
            kind="remote",
        )
        return Track(
            id=str(d["id"]),
            owner=owner,
            kind=link.kind,
            producer_id=link.producer_id,
            codec=codec,
            stream_id=str(d.get("streamId") or owner.id),
            mid=str(d.get("mid") or "0"),
            source=str(d.get("source") or "camera"),
            muted=bool(d.get("muted")),
            screen_quality=d.get("screenQuality"),
            transport_id=link.transport_id,
        )

    def _link_down(self, pl: Placed, track_id: str, link: EdgeLink) -> None:
        if pl.links.get(track_id) is link:
            del pl.links[track_id]
            pl.room.remove_remote_track(track_id)
