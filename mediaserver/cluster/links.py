"""Cascaded media between nodes (issue 19 item 4): the room's owner relays a published track once to each
edge node that has subscribers for it.

An edge asks the owner for a track over the signed request channel (``link.open``, with the owner's epoch of
the room: a node that is no longer the owner refuses). The owner makes a transport on the track's media
worker that expects the edge's DTLS certificate, and one consumer per simulcast layer pinned to that layer, so
every layer crosses, each on an SSRC of its own, with an RTX stream for retransmissions. The edge connects to
it with a relay client transport (ICE, then DTLS-SRTP: the SRTP keys come from that handshake, authenticated
by the fingerprints the signed requests carry, so no key crosses Redis) and makes a producer that mirrors the
track.
From there the native core does everything per packet: the mirror's gaps are NACKed to the owner, whose link
consumers answer from the publisher's cache; the edge's subscribers' NACKs are answered from the mirror's own
cache; their keyframe requests become at most one per layer and second across the link, and the owner's
producer merges those of all edges and its own subscribers the same way.

A link's end on the owner goes away when the edge closes it, when the edge stops answering (ICE consent), or
when the track's producer closes.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mediaserver.cluster.leases import Leases, StaleEpoch
from mediaserver.cluster.rpc import Channel, RpcError
from mediaserver.rtc.engine import MediaEngine, TransportInfo, new_ssrc

log = logging.getLogger(__name__)

#: the header extensions on a link: abs-send-time (the publisher's, passed through when it sent one)
LINK_EXTENSIONS = {"http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": 3}
#: a link's DTLS fingerprint algorithm (both ends are ours)
FP_ALG = "sha-256"


@dataclass(frozen=True)
class Source:
    """A published track as the owner relays it: its producer on a media worker, how it was negotiated."""

    engine: MediaEngine
    producer_id: int
    kind: str
    codecs: dict[int, str]  # payload type -> codec name
    rtx: dict[int, int]  # RTX payload type -> media payload type
    clock_rate: int
    layers: int  # simulcast layers (1: none)


#: (room id, track id) -> the track's Source on this node, or None
Resolve = Callable[[str, str], "Source | None"]


@dataclass
class OwnerLink:
    """The owner's end of a link: the transport toward one edge and one consumer per layer."""

    id: str
    edge: str
    room_id: str
    track_id: str
    engine: MediaEngine
    transport_id: int
    consumers: list[int]


@dataclass
class EdgeLink:
    """An edge's end of a link: the relay transport to the owner and the producer that mirrors the track."""

    id: str
    owner: str
    room_id: str
    track_id: str
    engine: MediaEngine
    transport_id: int
    producer_id: int
    kind: str
    closed: bool = False
    listeners: list[Callable[[EdgeLink], Any]] = field(default_factory=list)


def _fingerprint(engine: MediaEngine) -> str:
    return f"{FP_ALG} {engine.fingerprint}"


def _fp_bytes(text: Any) -> bytes:
    """The certificate fingerprint of a request or reply ("sha-256 AB:CD:..."), or RpcError."""
    try:
        alg, hexed = str(text).split(" ", 1)
        raw = bytes.fromhex(hexed.replace(":", ""))
    except ValueError:
        raise RpcError("bad_request", "fingerprint: '<algorithm> <hex bytes separated by colons>'") from None
    if alg != FP_ALG or len(raw) != 32:
        raise RpcError("bad_request", f"fingerprint: a {FP_ALG} digest of 32 bytes")
    return raw


class Links:
    """Both ends of this node's links: :meth:`open` (an edge's, asking the owner) and the handlers of
    ``link.open`` and ``link.close`` (the owner's, answering edges)."""

    def __init__(self, node_id: str, channel: Channel, leases: Leases, resolve: Resolve) -> None:
        self.node_id, self.channel, self.leases, self.resolve = node_id, channel, leases, resolve
        self.served: dict[str, OwnerLink] = {}  # owner side, by link id
        self.taken: dict[str, EdgeLink] = {}  # edge side, by link id
        channel.handlers["link.open"] = self._serve_open
        channel.handlers["link.close"] = self._serve_close

    # ------------------------------------------------------------------ the edge's side

    async def open(
        self, owner: str, room_id: str, epoch: int, track_id: str, engine: MediaEngine, timeout: float = 3.0
    ) -> EdgeLink:
        """Ask ``owner`` (the room's owner at ``epoch``) for ``track_id`` and mirror it on ``engine``: the
        link, whose ``producer_id`` this node's subscribers consume. RpcError when the owner refuses."""
        body = {"room": room_id, "epoch": epoch, "track": track_id, "fingerprint": _fingerprint(engine)}
        r = await self.channel.request(owner, "link.open", body, timeout)
        try:
            link_id = str(r["link"])
            layers = [(int(s), int(x)) for s, x in r["layers"]]
            codecs = {int(pt): str(name) for pt, name in r["codecs"].items()}
            rtx = {int(pt): int(apt) for pt, apt in r["rtx"].items()}
            ice = r["ice"]
            fp = _fp_bytes(r["fingerprint"])
            kind, clock = str(r["kind"]), int(r["clockRate"])
            if not layers or kind not in ("audio", "video"):
                raise ValueError("no layers")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise RpcError("bad_reply", f"link.open: a malformed reply ({e})") from None
        tid = 0
        try:
            relay = engine.create_relay(
                str(ice["ip"]), int(ice["port"]), str(ice["ufrag"]), str(ice["pwd"]), fp
            )
            tid = relay.id
            ssrc, rtx_ssrc = layers[0] if len(layers) == 1 else (0, 0)
            pid = engine.create_producer(
                tid,
                kind,
                ssrc,
                rtx_ssrc,
                codecs,
                rtx,
                clock,
                LINK_EXTENSIONS,
                "0",
                nack=True,
                sim_ssrcs=layers if len(layers) > 1 else None,
            )
        except Exception:
            if tid:
                engine.close_transport(tid)
            await self._tell_close(owner, link_id)
            raise
        link = EdgeLink(link_id, owner, room_id, track_id, engine, tid, pid, kind)
        self.taken[link_id] = link
        engine.transports[tid].listeners.append(lambda t: self._edge_state(link, t))
        log.info("link %s: %s's track %s of room %s mirrored here", link_id, owner, track_id, room_id)
        return link

    async def close(self, link: EdgeLink) -> None:
        """Take the edge's end down (its mirror and that mirror's consumers) and tell the owner."""
        self._drop_edge(link)
        await self._tell_close(link.owner, link.id)

    def abandon(self, link: EdgeLink) -> None:
        """Take the edge's end down without a word to the owner (it is gone)."""
        self._drop_edge(link)

    def _drop_edge(self, link: EdgeLink) -> None:
        if link.closed:
            return
        link.closed = True
        self.taken.pop(link.id, None)
        link.engine.close_transport(link.transport_id)
        for cb in list(link.listeners):
            cb(link)

    def _edge_state(self, link: EdgeLink, t: TransportInfo) -> None:
        if t.ice_state == "disconnected" or t.dtls_state in ("failed", "closed"):
            log.warning(
                "link %s to %s went down (ice %s, dtls %s)", link.id, link.owner, t.ice_state, t.dtls_state
            )
            self._drop_edge(link)

    async def _tell_close(self, owner: str, link_id: str) -> None:
        try:
            await self.channel.request(owner, "link.close", {"link": link_id}, timeout=2.0)
        except RpcError as e:  # the owner is gone, or closed it already: its end goes by itself
            log.info("link %s: the owner %s did not take the close (%s)", link_id, owner, e.code)

    # ------------------------------------------------------------------ the owner's side

    async def _serve_open(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            room_id, track_id, epoch = str(body["room"]), str(body["track"]), int(body["epoch"])
        except (KeyError, TypeError, ValueError):
            raise RpcError("bad_request", "link.open needs room, track and epoch") from None
        fp = _fp_bytes(body.get("fingerprint"))
        lease = await self.leases.current(
            room_id
        )  # the sender's owner: the room's current one, and this node
        if lease is None or lease.node_id != self.node_id or lease.epoch != epoch:
            raise StaleEpoch(room_id, epoch, lease.epoch if lease else None)
        src = self.resolve(room_id, track_id)
        if src is None:
            raise RpcError("not_found", f"no track {track_id} in room {room_id} on {self.node_id}")
        engine = src.engine
        ufrag, pwd = engine.new_credentials()
        info = engine.create_transport("active", FP_ALG, fp, ufrag, pwd)  # the edge is the DTLS client
        link = OwnerLink(secrets.token_hex(8), sender, room_id, track_id, engine, info.id, [])
        taken: set[int] = set()
        layers: list[tuple[int, int]] = []
        try:
            pt_map = {pt: pt for pt in src.codecs}
            rtx_of = {media: rtx for rtx, media in src.rtx.items()}
            for layer in range(src.layers):
                ssrc, rtx_ssrc = new_ssrc(taken), new_ssrc(taken) if rtx_of else 0
                cid = engine.create_consumer(  # served first: the edge's whole audience waits on it
                    info.id,
                    src.producer_id,
                    ssrc,
                    rtx_ssrc,
                    pt_map,
                    rtx_of,
                    LINK_EXTENSIONS,
                    str(layer),
                    first=True,
                )
                link.consumers.append(cid)
                if src.layers > 1:
                    engine.set_consumer_layer(cid, layer)
                layers.append((ssrc, rtx_ssrc))
        except Exception:
            engine.close_transport(info.id)
            raise
        self.served[link.id] = link
        info.listeners.append(lambda t: self._owner_state(link, t))
        log.info("link %s: track %s of room %s relayed to %s", link.id, track_id, room_id, sender)
        return {
            "link": link.id,
            "kind": src.kind,
            "codecs": {str(pt): name for pt, name in src.codecs.items()},
            "rtx": {str(pt): apt for pt, apt in src.rtx.items()},
            "clockRate": src.clock_rate,
            "layers": layers,
            "ice": {"ip": engine.announced_ip, "port": engine.port, "ufrag": ufrag, "pwd": pwd},
            "fingerprint": _fingerprint(engine),
        }

    async def _serve_close(self, sender: str, body: dict[str, Any]) -> dict[str, Any]:
        link = self.served.get(str(body.get("link")))
        if link is None or link.edge != sender:
            raise RpcError("not_found", "no such link of this node")
        self._drop_owner(link)
        return {}

    def _owner_state(self, link: OwnerLink, t: TransportInfo) -> None:
        if t.ice_state == "disconnected" or t.dtls_state in ("failed", "closed"):
            log.warning(
                "link %s to %s went down (ice %s, dtls %s)", link.id, link.edge, t.ice_state, t.dtls_state
            )
            self._drop_owner(link)

    def _drop_owner(self, link: OwnerLink) -> None:
        if self.served.pop(link.id, None) is not None:
            link.engine.close_transport(link.transport_id)

    def drop_nodes_except(self, alive: set[str]) -> None:
        """The owner's ends of links to edges that are no longer in the registry (they died)."""
        for link in [x for x in self.served.values() if x.edge not in alive]:
            log.warning("link %s: edge %s is gone", link.id, link.edge)
            self._drop_owner(link)

    def drop_track(self, room_id: str, track_id: str) -> None:
        """The track's producer closed here: its links' ends on this node go (the edges see their links
        fall silent and close them when the room tells them the track is gone)."""
        for link in [x for x in self.served.values() if x.room_id == room_id and x.track_id == track_id]:
            self._drop_owner(link)

    # ------------------------------------------------------------------ what /metrics shows

    def stats(self) -> list[dict[str, Any]]:
        """One row per link end: on an edge, what the mirror received (packets, lost after repair, jitter,
        NACKs and keyframe requests sent to the owner); on the owner, the round trip the edge's reports
        give and the retransmissions sent."""
        out: list[dict[str, Any]] = []
        for e in self.taken.values():
            s = e.engine.producer_stats(e.producer_id)
            out.append(
                {
                    "side": "edge",
                    "peer": e.owner,
                    "track": e.track_id,
                    "kind": e.kind,
                    "packets": s["packets"],
                    "bytes": s["bytes"],
                    "lost": s["lost"],
                    "jitter": s["jitter"],
                    "nacks": s["nacks"],
                    "plis": s["plis"],
                    "rtt_ms": None,
                    "rtx": 0,
                }
            )
        for o in self.served.values():
            cs = [o.engine.consumer_stats(c) for c in o.consumers]
            rtts = [c["rtt_us"] for c in cs if c["rtt_us"] > 0]
            out.append(
                {
                    "side": "owner",
                    "peer": o.edge,
                    "track": o.track_id,
                    "kind": "",
                    "packets": sum(c["packets"] for c in cs),
                    "bytes": sum(c["bytes"] for c in cs),
                    "lost": 0,
                    "jitter": 0,
                    "nacks": sum(c["nacks"] for c in cs),
                    "plis": sum(c["plis"] for c in cs),
                    "rtt_ms": max(rtts) / 1000 if rtts else None,
                    "rtx": sum(c["rtx"] for c in cs),
                }
            )
        return out

    def close_all(self) -> None:
        for e in list(self.taken.values()):
            self._drop_edge(e)
        for o in list(self.served.values()):
            self._drop_owner(o)
