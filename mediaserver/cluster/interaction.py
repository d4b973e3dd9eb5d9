"""A room's interaction across nodes (issue 19 item 2): the owner runs it, the edges relay it.

The room's features (chat, Q&A, polls, hands, reactions, the call to action, the stage) keep their state on
the room's owner node, as on a server alone. Someone who joins on an edge is registered with the owner
(``room.member.join``: the owner counts them in the room's capacity and answers with what they see of the
interaction); their commands go to the owner (``room.command``) and are run there as theirs; when they leave,
the owner hears it (``room.member.leave``). What the features append to the owner's log goes, once per tick
of its fan-out, into a Redis stream of the room (trimmed to its last ``STREAM_LEN`` ticks); each edge reads
the streams of its rooms and puts the entries, with the owner's numbers, into its own room's log, whose
fan-out sends them to its sockets by audience as the owner's does to its own.

Failover (issue 19 item 5: "nothing another node holds is lost"): each edge also applies the entries to its
own copy of the room's features, which do not act there (``Interaction.follow``, ``Feature.mirror``): the
chat, Q&A, the poll, the raised hands, the call to action and what is on the stage, with their audiences. An
edge that opens the room late first replays the room's stream as it stands into that copy. The edge that
takes the room over reads what is left of the dead owner's stream, then runs the features from the copy
(``Interaction.take_over``); its numbers go on from the owner's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import inspect
import json
import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from mediaserver.cluster import keys
from mediaserver.cluster.rpc import Channel, RpcError
from mediaserver.errors import ControlError
from mediaserver.interaction.log import Entry, MemoryLog
from mediaserver.rtc.room_rules import RuleError
from mediaserver.rtc.rooms import Participant, Room

log = logging.getLogger(__name__)

#: the ticks of entries a room's stream keeps (about: Redis trims whole macro nodes)
STREAM_LEN = 10_000
#: how long an edge's read of the streams blocks, in ms (a room placed meanwhile is read from the next)
READ_BLOCK_MS = 500
#: a room's stream outlives its last entry by this long (seconds) unless its owner frees the room first
STREAM_TTL = 86_400
#: ticks waiting for Redis at most (an outage): older ones are dropped, the edges see the gap in seq
OUT_MAX = 10_000
#: stream items read at once when an edge replays a room's stream into its standby copy
REPLAY_BATCH = 500


@dataclass
class RemoteMember:
    """On the owner: someone who joined the room on ``node`` (an interaction member, no media here)."""

    id: str
    name: str
    role: str
    person_key: str
    floor: bool
    email: str
    device: str
    node: str
    person: frozenset[str] = frozenset()  # what a removal bans (their identity, e-mail)


def member_of(p: Participant) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "role": p.role,
        "personKey": p.person_key,
        "floor": p.floor,
        "email": p.email,
        "device": p.device,
        "person": sorted(p.person),
    }


def _entries(raw: Any) -> list[Entry]:
    return [
        Entry(
            int(e["seq"]),
            str(e["kind"]),
            dict(e["data"]),
            (str(e["aud"][0]), str(e["aud"][1])),
            dict(e["sb"]) if e.get("sb") else None,
        )
        for e in raw
    ]


def _wire(e: Entry) -> dict[str, Any]:
    """An entry as a stream item carries it (``sb``: what only the edges' standby copies read)."""
    item = {"seq": e.seq, "kind": e.kind, "data": e.data, "aud": list(e.audience)}
    if e.standby:
        item["sb"] = e.standby
    return item


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


class _Owners:
    """A replay's test of the items' epochs: the room's owners in turn up to the one followed now, never
    going back (a stale owner's late items are refused)."""

    def __init__(self, followed: int) -> None:
        self.followed, self.newest = followed, 0

    def __call__(self, epoch: int) -> bool:
        if not self.newest <= epoch <= self.followed:
            return False
        self.newest = epoch
        return True


class RoomInteraction:
    """This node's side of its rooms' interaction in the cluster. ``owned(room_id, epoch)`` gives the room
    this node owns at that epoch (or raises StaleEpoch); ``owner_of(room_id)`` the owner node and epoch of a
    room this node serves as an edge, or None."""

    def __init__(
        self,
        redis: Redis,
        channel: Channel,
        owned: Callable[[str, Any], Room],
        owner_of: Callable[[str], tuple[str, int] | None],
        epoch_of: Callable[[Room], int],
        address: str = "",
    ) -> None:
        self.redis, self.channel, self.owned, self.owner_of = redis, channel, owned, owner_of
        self.address = address  # this node's node_url (where the host moves people to)
        self._epoch_of = epoch_of  # the epoch of a room this node owns
        self.reading: dict[str, tuple[Room, str]] = {}  # edge: room id -> (room, last stream id read)
        self._out: asyncio.Queue[tuple[Room, list[Entry]]] = asyncio.Queue(OUT_MAX)
        self._tasks: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[Any]] = set()
        channel.handlers["room.member.join"] = self._serve_join
        channel.handlers["room.member.leave"] = self._serve_leave
        channel.handlers["room.command"] = self._serve_command
        channel.handlers["room.member.admit"] = self._on_admit
        channel.handlers["room.member.act"] = self._on_act

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._write(), name="room log writer"),
            asyncio.create_task(self._read(), name="room log reader"),
        ]

    async def stop(self) -> None:
        for t in [*self._tasks, *self._spawned]:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    # ------------------------------------------------------------------ the owner's side

    def own(self, room: Room, shipped: int = 0) -> None:
        """This node owns ``room``: its log's entries go to the edges (those numbered after ``shipped``: the
        ones up to it came from a dead owner's stream, taken over)."""
        entries_of = room.interaction.log
        if isinstance(entries_of, MemoryLog):
            if shipped:
                entries_of.on_take = lambda got: self._ship(room, [e for e in got if e.seq > shipped])
            else:
                entries_of.on_take = lambda got: self._ship(room, got)

    def _ship(self, room: Room, entries: list[Entry]) -> None:
        if not entries:
            return
        with contextlib.suppress(asyncio.QueueFull):  # Redis away for long: the edges see the gap in seq
            self._out.put_nowait((room, entries))

    def _sign(self, room_id: str, epoch: int, data: bytes) -> str:
        """Each stream item is signed like the channel's messages, with its room and epoch: an item written
        by anyone but the room's owner at that epoch is refused by the edges."""
        return hmac.new(self.channel.key, f"{room_id}|{epoch}|".encode() + data, hashlib.sha256).hexdigest()

    async def _write(self) -> None:
        """The owner's entries into the rooms' streams, in the order the fan-out took them."""
        while True:
            room, entries = await self._out.get()
            room_id = room.name
            try:
                epoch = self._epoch_of(room)
            except KeyError:  # the room was given up meanwhile
                continue
            batch = [_wire(e) for e in entries]
            data = json.dumps(batch).encode()
            item = {"e": data, "ep": str(epoch), "s": self._sign(room_id, epoch, data)}
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.xadd(keys.room_log(room_id), item, maxlen=STREAM_LEN, approximate=True)  # type: ignore[arg-type]
                    pipe.expire(keys.room_log(room_id), STREAM_TTL)
                    await pipe.execute()
            except Exception as e:  # the edges miss this tick; their people see the gap in seq
                log.warning(
                    "room %s: %d interaction entries did not reach the stream: %s", room_id, len(entries), e
                )

    async def _serve_join(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        room = self.owned(str(body.get("room")), body.get("epoch"))
        d = body.get("member")
        if not isinstance(d, dict):
            raise RpcError("bad_request", "room.member.join needs the member")
        try:
            m = RemoteMember(
                str(d["id"]),
                str(d["name"]),
                str(d["role"]),
                str(d["personKey"]),
                bool(d.get("floor")),
                str(d.get("email") or ""),
                str(d.get("device") or "desktop"),
                sender,
                frozenset(str(x) for x in d.get("person") or () if isinstance(x, str)),
            )
        except KeyError as e:
            raise RpcError("bad_request", f"room.member.join: the member has no {e}") from None
        try:
            status = room.add_remote_member(m, rejoin=body.get("rejoin") is True)
        except RuleError as e:  # the room is full, counting every node's people; locked; ended
            raise RpcError(e.code, e.message) from None
        if room.admit_remote is None:
            room.admit_remote = lambda who, seen: self._spawn(self._admit(room, who, seen))
            room.act_remote = lambda who, action, reason: self._spawn(self._act(room, who, action, reason))
        seen = room.interaction.snapshot(m) if status == "joined" else None
        return {"status": status, "interaction": seen}

    async def _admit(self, room: Room, m: Any, seen: dict[str, Any]) -> None:
        """A seat came free for someone waiting on an edge: its node lets them in."""
        node = getattr(m, "node", "")
        body = {"room": room.name, "epoch": self._epoch_of(room), "id": m.id, "interaction": seen}
        try:
            await self.channel.request(node, "room.member.admit", body)
        except RpcError as e:
            log.warning("room %s: %s on %s could not be let in (%s)", room.name, m.id, node, e.code)

    def _from_owner(self, sender: str, body: dict[str, Any]) -> tuple[Room, Participant]:
        """The room this node serves as an edge and the participant of it that a request of the room's owner
        (at its epoch) names; RpcError for anyone else's request or someone not here."""
        room_id = str(body.get("room"))
        owner = self.owner_of(room_id)
        if owner is None or owner != (sender, body.get("epoch")):
            raise RpcError("stale_epoch", "not the room's owner at its epoch")
        held = self.reading.get(room_id)
        p = held[0].participants.get(str(body.get("id"))) if held else None
        if held is None or p is None:
            raise RpcError("not_joined", "no such participant here")
        return held[0], p

    async def _on_admit(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        room, p = self._from_owner(sender, body)
        seen = body.get("interaction")
        room.admitted_by_owner(p, seen if isinstance(seen, dict) else {})
        return {}

    async def _act(self, room: Room, m: Any, action: str, reason: str) -> None:
        """The host removed someone seated on an edge, or moved them here (``move``: to this node, the owner,
        where they take the floor or the presenter's role): their node does it."""
        node = getattr(m, "node", "")
        body = {
            "room": room.name,
            "epoch": self._epoch_of(room),
            "id": m.id,
            "action": action,
            "reason": reason,
            "to": self.address,
        }
        try:
            await self.channel.request(node, "room.member.act", body)
        except RpcError as e:
            log.warning("room %s: %s on %s was not %sd (%s)", room.name, m.id, node, action, e.code)

    async def _on_act(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        room, p = self._from_owner(sender, body)
        action, reason = body.get("action"), str(body.get("reason") or "")
        if action == "remove":
            room.removed.update(p.person)  # they come back neither here nor on another node
            room.leave(p, reason=reason or "removed by the host")
        elif action == "move" and isinstance(body.get("to"), str):
            p.send("moved", {"reason": reason, "nodes": [body["to"]]})  # the SDK reconnects there
            room.leave(p)
        else:
            raise RpcError("bad_request", "room.member.act: remove, or move with a node to go to")
        return {}

    def _member(self, room: Room, sender: str, pid: Any) -> RemoteMember:
        m = room.remote_members.get(str(pid))
        if not isinstance(m, RemoteMember) or m.node != sender:
            raise RpcError("not_joined", "no such member of the room on the sending node")
        return m

    async def _serve_leave(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        room = self.owned(str(body.get("room")), body.get("epoch"))
        room.remove_remote_member(self._member(room, sender, body.get("id")).id)
        return {}

    async def _serve_command(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        room = self.owned(str(body.get("room")), body.get("epoch"))
        m = self._member(room, sender, body.get("id"))
        method, params = body.get("method"), body.get("params")
        if not isinstance(method, str) or not isinstance(params, dict):
            raise RpcError("bad_request", "room.command needs a method and its params")
        try:
            out = room.interaction.command(m, method, params)
            if inspect.isawaitable(out):
                out = await out
        except ControlError as e:
            return {"error": {"code": e.code, "message": e.message, "status": e.status}}
        except RuleError as e:
            return {"error": {"code": e.code, "message": e.message, "status": 409}}
        return {"result": out}

    def drop_node(self, room: Room, node: str) -> None:
        """``node`` is gone: the people who had joined there leave the room's interaction."""
        for pid in [m.id for m in room.remote_members.values() if getattr(m, "node", None) == node]:
            room.remove_remote_member(pid)

    # ------------------------------------------------------------------ the edge's side

    async def edge(self, room: Room) -> None:
        """This node serves ``room`` as an edge: its interaction commands go to the owner, the owner's entries
        come here from the room's stream (from now on: the join's snapshot covers what came before). The
        stream as it stands goes into the features' standby copy first (issue 19: failover)."""
        room.interaction.follow()
        last: Any = await self.redis.xrevrange(keys.room_log(room.name), count=1)
        upto = _text(last[0][0]) if last else "0-0"
        owner = self.owner_of(room.name)
        if last and owner is not None:
            await self._catch_up(room, "-", upto, _Owners(owner[1]), put=False)
        self.reading[room.name] = (room, upto)
        room.relay = lambda p, method, params: self._relay(room, p, method, params)

    async def take_over(self, room: Room, epoch: int) -> None:
        """Issue 19: this edge took ``room`` over from its owner at ``epoch`` (dead): what is left of that
        owner's stream is read into the room, then the features run here from their standby copy and this
        node's entries go to the other edges."""
        held = self.reading.pop(room.name, None)  # not the reader's any more: nothing is applied twice
        if held is not None and held[0] is room:
            try:
                await self._catch_up(room, "(" + held[1], "+", lambda ep: ep == epoch, put=True)
            except Exception as e:  # Redis away: the copy as it stands
                log.warning("room %s: the dead owner's last entries could not be read: %s", room.name, e)
        room.relay = None
        self.own(room, room.interaction.log.last_seq)  # the dead owner's entries are not written again
        room.interaction.take_over()

    async def _catch_up(
        self, room: Room, start: str, end: str, epoch_ok: Callable[[int], bool], put: bool
    ) -> None:
        """The room's stream from ``start`` to ``end`` into the standby copy (and the log when ``put``)."""
        interaction = room.interaction
        while True:
            items: Any = await self.redis.xrange(
                keys.room_log(room.name), min=start, max=end, count=REPLAY_BATCH
            )
            for item_id, fields in items:
                entries = self._opened(room.name, _text(item_id), fields, epoch_ok)
                if not isinstance(interaction.log, MemoryLog):
                    continue
                for entry in entries:
                    if entry.seq <= interaction.log.last_seq:  # seen already
                        continue
                    if put:
                        interaction.log.put(entry)
                    else:
                        interaction.log.skip_to(entry.seq)
                    interaction.mirror(entry)
            if len(items) < REPLAY_BATCH:
                return
            start = "(" + _text(items[-1][0])

    def _opened(self, rid: str, item_id: str, fields: Any, epoch_ok: Callable[[int], bool]) -> list[Entry]:
        """A stream item's entries, if its owner signed it at an epoch ``epoch_ok`` accepts; else none."""
        try:
            data, epoch, sig = fields[b"e"], int(fields[b"ep"]), fields[b"s"].decode()
            if not hmac.compare_digest(sig, self._sign(rid, epoch, data)):
                raise ValueError("not signed by the room's owner")
            if not epoch_ok(epoch):
                raise ValueError(f"epoch {epoch} is not the followed owner's")
            return _entries(json.loads(data))
        except (KeyError, ValueError, TypeError, IndexError, UnicodeDecodeError, AttributeError) as e:
            log.warning("room %s: a stream item %s refused: %s", rid, item_id, e)
            return []

    def forget(self, room: Room) -> None:
        if self.reading.get(room.name, (None,))[0] is room:
            del self.reading[room.name]

    async def _relay(self, room: Room, p: Participant, method: str, params: dict[str, Any]) -> dict[str, Any]:
        owner = self.owner_of(room.name)
        if owner is None:
            raise ControlError("cluster_unavailable", "this room has no owner node now; try again", 503)
        body = {"room": room.name, "epoch": owner[1], "id": p.id, "method": method, "params": params}
        try:
            r = await self.channel.request(owner[0], "room.command", body, timeout=10.0)
        except RpcError as e:
            raise ControlError(
                "cluster_unavailable", f"the room's owner node did not answer ({e.code})", 503
            ) from None
        if "error" in r:
            err = r["error"]
            raise ControlError(str(err.get("code")), str(err.get("message")), int(err.get("status") or 400))
        result = r.get("result")
        return result if isinstance(result, dict) else {}

    async def rejoin(self, room: Room, p: Participant) -> None:
        """``p``, seated here, to the room's new owner (this node followed it): no admission again."""
        owner = self.owner_of(room.name)
        if owner is None:
            return
        body = {"room": room.name, "epoch": owner[1], "member": member_of(p), "rejoin": True}
        try:
            await self.channel.request(owner[0], "room.member.join", body, timeout=5.0)
        except RpcError as e:
            log.warning(
                "room %s: %s could not be registered with the new owner (%s)", room.name, p.id, e.code
            )

    async def joined(self, room: Room, p: Participant) -> dict[str, Any]:
        owner = self.owner_of(room.name)
        if owner is None:
            return {}
        body = {"room": room.name, "epoch": owner[1], "member": member_of(p)}
        try:
            r = await self.channel.request(owner[0], "room.member.join", body, timeout=5.0)
        except RpcError as e:
            if e.code in ("room_full", "removed", "locked"):
                raise RuleError(e.code, e.message) from None
            raise RuleError(
                "cluster_unavailable", f"the room's owner node did not admit you ({e.code})"
            ) from None
        p.on_leave.append(lambda q: self._spawn(self._left(room, q)))
        room.follow_owner_status(p, str(r.get("status") or p.status))  # the seats are counted on the owner
        view = r.get("interaction")
        return {"interaction": view} if isinstance(view, dict) and p.status == "joined" else {}

    async def _left(self, room: Room, p: Participant) -> None:
        owner = self.owner_of(room.name)
        if owner is None:
            return
        try:
            await self.channel.request(
                owner[0], "room.member.leave", {"room": room.name, "epoch": owner[1], "id": p.id}
            )
        except RpcError as e:  # the owner is gone or took it already
            log.info("room %s: the owner did not take %s's leave (%s)", room.name, p.id, e.code)

    async def _read(self) -> None:
        """The owner's entries of this node's edge rooms, into their logs."""
        while True:
            if not self.reading:
                await asyncio.sleep(READ_BLOCK_MS / 1000)
                continue
            streams = {keys.room_log(rid): last for rid, (_, last) in self.reading.items()}
            try:
                got: Any = await self.redis.xread(dict(streams), count=100, block=READ_BLOCK_MS)  # type: ignore[arg-type]
            except Exception as e:
                log.warning("reading the rooms' interaction streams failed: %s", e)
                await asyncio.sleep(1.0)
                continue
            for key, items in got or []:
                rid = (key.decode() if isinstance(key, bytes) else key).split("{", 1)[1].rsplit("}", 1)[0]
                held = self.reading.get(rid)
                if held is None:
                    continue
                room = held[0]
                owner = self.owner_of(rid)
                followed = functools.partial(operator.eq, owner[1] if owner is not None else None)
                for item_id, fields in items:
                    self.reading[rid] = (room, _text(item_id))
                    entries = self._opened(rid, _text(item_id), fields, followed)
                    if isinstance(room.interaction.log, MemoryLog):
                        for entry in entries:
                            room.interaction.log.put(entry)
                            room.interaction.mirror(entry)  # the standby copy, should this node take over

    def _spawn(self, coro: Any) -> None:
        t = asyncio.create_task(coro)
        self._spawned.add(t)
        t.add_done_callback(self._spawned.discard)
