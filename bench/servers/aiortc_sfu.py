"""aiortc "as shipped" as an SFU, for the side-by-side benchmark.

    python -m bench.servers.aiortc_sfu --port P --mode relay|passthrough

One process, one asyncio loop (uvloop when installed), so ``taskset -c <core>`` pins it (aiortc's
decoder threads and its encoder executor threads inherit the affinity).

Modes
-----
``relay``
    What aiortc's documentation suggests: every publisher track is fanned out with
    ``aiortc.contrib.media.MediaRelay``, each subscriber's sender gets ``relay.subscribe(track)``.
    The receiver decodes VP8/Opus once per publisher track (its decoder thread) and every
    subscriber's ``RTCRtpSender`` encodes again (VP8 in the default executor, at aiortc's default
    target of 500 kbit/s unless the subscriber sends REMB; Opus at 96 kbit/s). Nothing of the
    publisher's packets survives: payloads, sequence numbers, timestamps and trailers are new.
    The proxies are ``relay.subscribe(track, buffered=False)``: a subscriber whose encoder falls
    behind gets the newest decoded frame and skips the others. aiortc's default (``buffered=True``,
    ``--relay-buffered``) queues every decoded frame (460 KB at 640x480) per subscriber without
    bound, so memory grows by hundreds of MB/s once one core is saturated.

``passthrough``
    The same ``MediaRelay`` fan-out, but no decode and no encode: the receiver's decoder thread
    (``aiortc.rtcrtpreceiver.decoder_worker``, started by ``RTCRtpReceiver.receive``) is replaced by
    one that wraps each encoded frame the jitter buffer reassembled (VP8: the payloads of one
    picture, payload descriptors stripped, concatenated; Opus: one packet) in an ``av.Packet``
    (pts = the RTP timestamp, time base 1/clock rate). ``RTCRtpSender`` sends ``av.Packet``s without
    encoding (``encoder.pack()``): VP8 is packetized again (aiortc's own payload descriptor with a
    15-bit picture id, at most 1300 bytes per payload, so packet boundaries change), Opus is sent as
    is. A subscriber's PLI/FIR (which aiortc's sender would answer by forcing its own encoder to
    make a keyframe, a no-op for packets) is forwarded to the publisher as a PLI, at most every
    300 ms per publisher; a new subscriber also asks for one.

    Jitter buffer: aiortc's ``JitterBuffer`` hands a frame on only when a packet of the *next* frame
    arrives (video: +1 frame interval, ~33 ms at 30 fps), audio only after 4 more packets
    (``prefetch=4``: +80 ms), a floor no forwarding SFU has (and above the harness's 50 ms p99
    rule even at one subscriber). In passthrough mode each publisher receiver's jitter buffer is
    therefore replaced by ``MarkerJitterBuffer``, a subclass of aiortc's that also releases a frame
    as soon as it is complete (contiguous packets up to the RTP marker bit); everything else is
    aiortc's. ``--aiortc-jitter-buffer`` keeps aiortc's rule.

    What the load generator sees: every payload it sent carries its 16-byte trailer at the end; the
    jitter buffer concatenates them into the frame, and aiortc's re-packetization (1300-byte chunks)
    puts the frame's last bytes - the trailer of the frame's last source packet - at the end of the
    frame's last outgoing packet only. So one latency sample per video frame (the other packets end
    in arbitrary VP8 bytes; the sample is that of the frame's last packet, i.e. the whole frame's
    forwarding delay), one per Opus packet (passed unchanged).

``--strip-trailer`` (the adapter sets it in relay mode)
    The load generator appends a 16-byte trailer (``LGTS``, stream id, send time) to every RTP
    payload. Reassembled, the trailers land inside the VP8 frame; libvpx decodes such frames
    without an error but into garbage pictures, which then cost the encoders more (measured on
    bench/lib/media.py's clip: 4.6 instead of 3.0 ms per 640x480 frame, 2.4 instead of 0.8 Mbit/s
    at aiortc's 500 kbit/s target). With this flag the publishers' receivers drop a trailing
    ``LGTS`` trailer from each RTP payload before aiortc's receive path sees it (one slice per
    packet), so the relay decodes and encodes the real pictures. Nothing else changes.

Signaling (JSON over HTTP, 127.0.0.1 only)
-----------------------------------------
* ``POST /publish {room, name, sdp}`` -> ``{id, sdp}``: the publisher's offer (sendonly audio and/or
  video) and aiortc's answer (``a=setup:active``: aiortc is the DTLS client, ICE controlled).
* ``POST /subscribe {room, name[, publishers: [names]]}`` -> ``{id, sdp}``: the server's offer, one
  sendonly m-line per track of every current publisher of the room (or of ``publishers``), VP8 + rtx
  and Opus only; aiortc is ICE controlling and ``a=setup:actpass`` (answer ``active``: aiortc is the
  DTLS server).
* ``POST /answer {id, sdp}`` -> ``{}``: the subscriber's answer.
* ``POST /leave {id}`` -> ``{}``.
* ``GET /stats`` -> peer counts and the RTP packets/bytes every sender has sent (RTX and RTCP not
  included).

ICE gathers host candidates on 127.0.0.1 only (aioice's interface enumeration is patched), no STUN.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import functools
import itertools
import json
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aioice.ice
import av
from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
    rtcrtpreceiver,
)
from aiortc.contrib.media import MediaRelay
from aiortc.jitterbuffer import JitterBuffer, JitterFrame

log = logging.getLogger("aiortc_sfu")

PLI_INTERVAL = 0.3  # passthrough: forward at most one PLI per publisher per this many s
TRAILER_LEN = 16
PASSED = {"frames": 0}  # passthrough: encoded frames handed on without decoding (all receivers)


def loopback_only_ice() -> None:
    """aioice leaves 127.0.0.1 out of its host candidates; gather on loopback only."""
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


def passthrough_worker(
    loop: asyncio.AbstractEventLoop, input_q: Any, output_q: asyncio.Queue, decode_error: Any
) -> None:
    """Stands in for ``aiortc.rtcrtpreceiver.decoder_worker`` (same signature, same thread): instead
    of decoding, hand each reassembled encoded frame to the track as an ``av.Packet``."""
    while True:
        task = input_q.get()
        if task is None:
            asyncio.run_coroutine_threadsafe(output_q.put(None), loop)
            break
        codec, encoded_frame = task
        packet = av.Packet(encoded_frame.data)
        packet.pts = encoded_frame.timestamp
        packet.time_base = fractions.Fraction(1, codec.clockRate)
        PASSED["frames"] += 1
        loop.call_soon_threadsafe(output_q.put_nowait, packet)


def strip_trailers(receiver: Any) -> None:
    """Drop the load generator's trailer from each RTP payload before ``receiver`` handles it."""
    handle = receiver._handle_rtp_packet

    async def handle_rtp_packet(packet: Any, arrival_time_ms: int) -> None:
        payload = packet.payload
        if len(payload) > TRAILER_LEN and payload[-TRAILER_LEN : -TRAILER_LEN + 4] == b"LGTS":
            packet.payload = payload[:-TRAILER_LEN]
        await handle(packet, arrival_time_ms=arrival_time_ms)

    receiver._handle_rtp_packet = handle_rtp_packet


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, but a frame also leaves as soon as it is complete: its packets are
    contiguous from the buffer's origin up to a packet with the RTP marker bit, in any arrival order
    (video: the last packet of a picture; audio: every packet of the load generator and of aiortc senders).
    aiortc's own rule (a frame leaves when a packet of the next frame arrives; audio after 4 more) still
    applies to everything else, e.g. a frame whose marker packet was lost."""

    def add(self, packet: Any) -> tuple[bool, JitterFrame | None]:
        pli_flag, frame = super().add(packet)
        if frame is None:
            frame = self._complete()
        return pli_flag, frame

    def _complete(self) -> JitterFrame | None:
        """The frame at the origin, if its packets are all there up to one with the marker bit."""
        packets = []
        for count in range(self.capacity):
            p = self._packets[(self._origin + count) % self.capacity]
            if p is None or (packets and p.timestamp != packets[0].timestamp):
                return None  # a gap, or the frame ended without a marker
            packets.append(p)
            if p.marker:
                break
        else:
            return None
        self.remove(len(packets))
        return JitterFrame(data=b"".join(x._data for x in packets), timestamp=packets[0].timestamp)


def use_marker_jitter_buffer(receiver: Any) -> None:
    old = receiver._RTCRtpReceiver__jitter_buffer
    receiver._RTCRtpReceiver__jitter_buffer = MarkerJitterBuffer(old.capacity, is_video=old._is_video)


def enable_passthrough() -> None:
    rtcrtpreceiver.decoder_worker = passthrough_worker


def sender_counts(sender: RTCRtpSender) -> tuple[int, int]:
    """RTP packets and payload bytes a sender has sent (aiortc's private counters, as getStats reads them)."""
    return (
        getattr(sender, "_RTCRtpSender__packet_count", 0),
        getattr(sender, "_RTCRtpSender__octet_count", 0),
    )


@dataclass
class PeerState:
    id: str
    room: str
    name: str
    role: str
    pc: RTCPeerConnection
    created: float = field(default_factory=time.monotonic)
    tracks: dict[str, MediaStreamTrack] = field(default_factory=dict)  # publisher: kind -> remote track
    receivers: dict[str, Any] = field(default_factory=dict)  # publisher: kind -> RTCRtpReceiver
    last_pli: float = 0.0
    relayed: list[MediaStreamTrack] = field(default_factory=list)  # subscriber: relay proxies


class Sfu:
    def __init__(
        self,
        mode: str,
        strip_trailer: bool = False,
        relay_buffered: bool = False,
        aiortc_jitter_buffer: bool = False,
    ) -> None:
        assert mode in ("relay", "passthrough")
        self.mode = mode
        self.marker_jb = mode == "passthrough" and not aiortc_jitter_buffer
        self.strip_trailer = strip_trailer
        # passthrough: every encoded frame must reach every subscriber (a skipped VP8 frame breaks the
        # decoding until the next keyframe); the queues hold a few KB per frame.
        self.buffered = relay_buffered or mode == "passthrough"
        self.relay = MediaRelay()
        self.peers: dict[str, PeerState] = {}
        self.ids = itertools.count(1)
        self.closed_packets = 0  # packets of senders that are gone
        self.closed_bytes = 0
        self.drains: dict[MediaStreamTrack, asyncio.Task] = {}

    # ------------------------------------------------------------------------------ helpers
    def new_pc(self) -> RTCPeerConnection:
        return RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))

    def watch(self, peer: PeerState) -> None:
        @peer.pc.on("connectionstatechange")
        async def _state() -> None:
            if peer.pc.connectionState in ("failed", "closed") and peer.id in self.peers:
                await self.close(peer.id)

    async def close(self, pid: str) -> None:
        peer = self.peers.pop(pid, None)
        if peer is None:
            return
        for sender in peer.pc.getSenders():
            p, b = sender_counts(sender)
            self.closed_packets += p
            self.closed_bytes += b
        for t in peer.tracks.values():
            task = self.drains.pop(t, None)
            if task:
                task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(peer.pc.close(), 5)

    def request_keyframe(self, pub: PeerState) -> None:
        """passthrough: ask the publisher for a keyframe (a PLI on its video SSRCs), rate-limited."""
        now = time.monotonic()
        if now - pub.last_pli < PLI_INTERVAL or pub.id not in self.peers:
            return
        receiver = pub.receivers.get("video")
        if receiver is None:
            return
        ssrcs = [s.source for s in receiver.getSynchronizationSources()]
        if not ssrcs:
            return
        pub.last_pli = now
        for ssrc in ssrcs:
            asyncio.ensure_future(receiver._send_rtcp_pli(ssrc))

    async def drain(self, track: MediaStreamTrack) -> None:
        """Keep one relay consumer per publisher track, so the relay reads the remote track (and its
        queue stays short) also while nobody is subscribed."""
        proxy = self.relay.subscribe(track, buffered=False)
        with contextlib.suppress(Exception):
            while True:
                await proxy.recv()

    # ------------------------------------------------------------------------------ signaling
    async def publish(self, room: str, name: str, sdp: str) -> dict:
        pc = self.new_pc()
        peer = PeerState(f"p{next(self.ids)}", room, name, "publisher", pc)

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            peer.tracks[track.kind] = track

        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        for tr in pc.getTransceivers():
            peer.receivers[tr.kind] = tr.receiver
            if self.strip_trailer:
                strip_trailers(tr.receiver)
            if self.marker_jb:
                use_marker_jitter_buffer(tr.receiver)
        await pc.setLocalDescription(await pc.createAnswer())
        self.peers[peer.id] = peer
        self.watch(peer)
        for track in peer.tracks.values():
            self.drains[track] = asyncio.ensure_future(self.drain(track))
        return {"id": peer.id, "sdp": pc.localDescription.sdp}

    async def subscribe(self, room: str, name: str, publishers: list[str] | None) -> dict:
        pubs = [
            p
            for p in self.peers.values()
            if p.role == "publisher" and p.room == room and (publishers is None or p.name in publishers)
        ]
        if not pubs:
            raise web.HTTPConflict(
                text=json.dumps({"error": "no publisher in the room"}), content_type="application/json"
            )
        pc = self.new_pc()
        peer = PeerState(f"s{next(self.ids)}", room, name, "subscriber", pc)
        for pub in pubs:
            for kind in ("audio", "video"):
                track = pub.tracks.get(kind)
                if track is None:
                    continue
                proxy = self.relay.subscribe(track, buffered=self.buffered)
                peer.relayed.append(proxy)
                tr = pc.addTransceiver(proxy, direction="sendonly")
                caps = RTCRtpSender.getCapabilities(kind)
                want = "vp8" if kind == "video" else "opus"
                prefs = [c for c in caps.codecs if c.mimeType.lower() == f"{kind}/{want}"]
                if kind == "video":
                    prefs += [c for c in caps.codecs if c.mimeType.lower() == "video/rtx"]
                tr.setCodecPreferences(prefs)
                if self.mode == "passthrough" and kind == "video":
                    tr.sender._send_keyframe = functools.partial(self.request_keyframe, pub)
        await pc.setLocalDescription(await pc.createOffer())
        self.peers[peer.id] = peer
        self.watch(peer)
        if self.mode == "passthrough":
            for pub in pubs:
                pub.last_pli = 0.0
                self.request_keyframe(pub)
        return {"id": peer.id, "sdp": pc.localDescription.sdp}

    async def answer(self, pid: str, sdp: str) -> dict:
        peer = self.peers.get(pid)
        if peer is None or peer.role != "subscriber":
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no subscriber {pid}"}), content_type="application/json"
            )
        await peer.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        return {}

    def stats(self) -> dict:
        packets, octets = self.closed_packets, self.closed_bytes
        pubs = subs = connected = 0
        for peer in self.peers.values():
            pubs += peer.role == "publisher"
            subs += peer.role == "subscriber"
            connected += peer.pc.connectionState == "connected"
            for sender in peer.pc.getSenders():
                p, b = sender_counts(sender)
                packets += p
                octets += b
        return {
            "mode": self.mode,
            "strip_trailer": self.strip_trailer,
            "marker_jitter_buffer": self.marker_jb,
            "publishers": pubs,
            "subscribers": subs,
            "connected": connected,
            "tx_packets": packets,
            "tx_bytes": octets,
            "passthrough_frames": PASSED["frames"],
        }


def make_app(sfu: Sfu) -> web.Application:
    async def body(request: web.Request, *keys: str) -> dict:
        try:
            data = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise web.HTTPBadRequest(text=f"bad JSON: {e}") from None
        missing = [k for k in keys if not isinstance(data.get(k), str)]
        if missing:
            raise web.HTTPBadRequest(text=f"missing {missing}")
        return data

    async def publish(request: web.Request) -> web.Response:
        d = await body(request, "room", "name", "sdp")
        return web.json_response(await sfu.publish(d["room"], d["name"], d["sdp"]))

    async def subscribe(request: web.Request) -> web.Response:
        d = await body(request, "room", "name")
        return web.json_response(await sfu.subscribe(d["room"], d["name"], d.get("publishers")))

    async def answer(request: web.Request) -> web.Response:
        d = await body(request, "id", "sdp")
        return web.json_response(await sfu.answer(d["id"], d["sdp"]))

    async def leave(request: web.Request) -> web.Response:
        d = await body(request, "id")
        await sfu.close(d["id"])
        return web.json_response({})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(sfu.stats())

    app = web.Application()
    app.router.add_post("/publish", publish)
    app.router.add_post("/subscribe", subscribe)
    app.router.add_post("/answer", answer)
    app.router.add_post("/leave", leave)
    app.router.add_get("/stats", stats)
    return app


async def serve(
    port: int,
    mode: str,
    strip_trailer: bool = False,
    relay_buffered: bool = False,
    aiortc_jitter_buffer: bool = False,
) -> None:
    loopback_only_ice()
    if mode == "passthrough":
        enable_passthrough()
    sfu = Sfu(mode, strip_trailer, relay_buffered, aiortc_jitter_buffer)
    runner = web.AppRunner(make_app(sfu), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    print(json.dumps({"ev": "ready", "port": port, "mode": mode, "strip_trailer": strip_trailer}), flush=True)
    await stop.wait()
    for pid in list(sfu.peers):
        await sfu.close(pid)
    await runner.cleanup()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mode", choices=("relay", "passthrough"), default="relay")
    ap.add_argument(
        "--strip-trailer",
        action="store_true",
        help="drop the load generator's 16-byte payload trailer on receipt (see the module doc)",
    )
    ap.add_argument(
        "--relay-buffered",
        action="store_true",
        help="relay: aiortc's default unbounded per-subscriber frame queues (see the module doc)",
    )
    ap.add_argument(
        "--aiortc-jitter-buffer",
        action="store_true",
        help="passthrough: keep aiortc's jitter buffer release rule (see the module doc)",
    )
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args()
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    try:
        import uvloop
    except ImportError:
        asyncio.run(
            serve(args.port, args.mode, args.strip_trailer, args.relay_buffered, args.aiortc_jitter_buffer)
        )
    else:
        uvloop.run(
            serve(args.port, args.mode, args.strip_trailer, args.relay_buffered, args.aiortc_jitter_buffer)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
