"""The narrow API between the control plane and the native media core.

This is the only module that imports ``native``. Signaling and room logic ask it for transports,
producers and consumers and learn about ICE/DTLS state changes through callbacks; they never see
packets.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from native._core import DTLS_STATES, ICE_STATES, NativeError, Worker, pipe_close, pipe_create

__all__ = ["MediaEngine", "MediaError", "TransportInfo", "EXT_NAMES"]

log = logging.getLogger("mediaserver.rtc.engine")

MediaError = NativeError

#: SDP header-extension URIs -> the names the native core understands.
EXT_NAMES = {
    "urn:ietf:params:rtp-hdrext:sdes:mid": "mid",
    "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id": "rid",
    "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id": "rrid",
    "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time": "abs_send_time",
    "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01": "twcc",
    "urn:ietf:params:rtp-hdrext:ssrc-audio-level": "audio_level",
    "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay": "playout_delay",
}


def ext_ids(extensions: dict[str, int]) -> dict[str, int]:
    """Map {uri: id} from SDP to {native name: id}."""
    return {EXT_NAMES[u]: i for u, i in extensions.items() if u in EXT_NAMES and 0 < i < 15}


@dataclass
class TransportInfo:
    """The server side of one transport, as SDP needs it."""

    id: int
    ufrag: str
    pwd: str
    fingerprint: str
    candidates: list[tuple[str, int, str]]
    ice_state: str = "new"
    dtls_state: str = "new"
    listeners: list[Callable[[TransportInfo], Any]] = field(default_factory=list)


class MediaEngine:
    """Owns the native worker and routes its events to the transports' listeners."""

    def __init__(
        self,
        listen_ip: str = "127.0.0.1",
        port: int = 0,
        announced_ip: str | None = None,
        ice_tcp: bool = True,
        udp_gso: bool = True,
        consent_timeout: float = 30.0,
    ) -> None:
        self.worker = Worker(listen_ip, port)
        self.listen_ip = listen_ip
        self.worker.set_consent_timeout(consent_timeout)
        if not udp_gso:
            self.worker.gso = False
        self.announced_ip = announced_ip or listen_ip
        self.ice_tcp = ice_tcp and self.worker.tcp_enabled
        self.transports: dict[int, TransportInfo] = {}
        self.on_consumer_closed: Callable[[int], Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def port(self) -> int:
        return self.worker.port

    @property
    def fingerprint(self) -> str:
        return self.worker.fingerprint

    def start(self) -> None:
        """Start the packet thread and watch its event fd on the running loop."""
        self.worker.start()
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.worker.fileno(), self._drain)

    def pin(self, cpu: int) -> None:
        """Run this worker's thread on CPU ``cpu`` only."""
        self.worker.set_cpu(cpu)

    def close(self) -> None:
        if self._loop is not None:
            self._loop.remove_reader(self.worker.fileno())
            self._loop = None
        self.worker.close()

    def _drain(self) -> None:
        for name, oid, a, _b, text in self.worker.poll_events():
            if name == "notice":
                log.warning("media worker: %s", text)
                continue
            if name == "consumer_closed":
                if self.on_consumer_closed:
                    self.on_consumer_closed(oid)
                continue
            t = self.transports.get(oid)
            if t is None:
                continue
            if name == "ice":
                t.ice_state = ICE_STATES.get(a, "?")
            elif name == "dtls":
                t.dtls_state = DTLS_STATES.get(a, "?")
            log.info(
                "transport %d %s -> %s %s", oid, name, t.ice_state if name == "ice" else t.dtls_state, text
            )
            for cb in list(t.listeners):
                cb(t)

    @staticmethod
    def new_credentials() -> tuple[str, str]:
        """Fresh ICE ufrag and password (RFC 8839: at least 24 bits and 128 bits of randomness)."""
        return secrets.token_hex(4), secrets.token_hex(12)

    @property
    def candidates(self) -> list[tuple[str, int, str]]:
        """Host candidates: UDP, and ICE-TCP (passive) on the same port number for UDP-blocked clients."""
        out = [(self.announced_ip, self.port, "udp")]
        if self.ice_tcp:
            out.append((self.announced_ip, self.port, "tcp"))
        return out

    def local_params(self, ufrag: str, pwd: str) -> tuple[str, str, str, list[tuple[str, int, str]]]:
        return ufrag, pwd, self.fingerprint, self.candidates

    def create_transport(
        self,
        remote_setup: str,
        fp_algorithm: str,
        fingerprint: bytes,
        ufrag: str | None = None,
        pwd: str | None = None,
    ) -> TransportInfo:
        """A transport for one peer connection. remote_setup is the peer's a=setup value."""
        if ufrag is None or pwd is None:
            ufrag, pwd = self.new_credentials()
        dtls_client = remote_setup == "passive"
        tid = self.worker.create_transport(ufrag, pwd, dtls_client, fp_algorithm, fingerprint)
        info = TransportInfo(tid, ufrag, pwd, self.fingerprint, self.candidates)
        self.transports[tid] = info
        return info

    def prepare_transport(self, ufrag: str, pwd: str) -> TransportInfo:
        """A transport whose ICE runs at once; its DTLS peer comes later with :meth:`set_remote_dtls`
        (a server offer goes out before the answer tells who the peer is)."""
        tid = self.worker.create_transport(ufrag, pwd, False, "sha-256", b"")
        info = TransportInfo(tid, ufrag, pwd, self.fingerprint, self.candidates)
        self.transports[tid] = info
        return info

    def set_remote_dtls(self, tid: int, remote_setup: str, fp_algorithm: str, fingerprint: bytes) -> None:
        self.worker.set_transport_dtls(tid, remote_setup == "passive", fp_algorithm, fingerprint)

    def create_relay(self, ip: str, port: int, ufrag: str, pwd: str, fingerprint: bytes) -> TransportInfo:
        """A relay transport to another node's media worker at ip:port (issue 19: a cluster edge's link to a
        room's owner): this worker is the ICE controlling agent (credentials ufrag and pwd of the other end)
        and the DTLS client (the other end's SHA-256 certificate fingerprint); producers made on it take in
        what the other end sends as a publisher's transport does. Its socket is on this worker's address."""
        local = "0.0.0.0" if self.listen_ip in ("", "0.0.0.0") else self.listen_ip
        tid = self.worker.create_client_transport(
            ip,
            port,
            self.new_credentials()[0],
            ufrag,
            pwd,
            "sha-256",
            fingerprint,
            local_ip=local,
            relay=True,
        )
        info = TransportInfo(tid, "", "", self.fingerprint, [])
        self.transports[tid] = info
        return info

    def close_transport(self, tid: int) -> None:
        self.transports.pop(tid, None)
        self.worker.close_transport(tid)

    def create_recorder(self, buffer_bytes: int = 4 << 20) -> int:
        """A recorder transport (R-REC-1): consumers made on it hand their packets, rewritten (the consumer's
        SSRC, gap-free sequence numbers, continuous timestamps) but not encrypted, to a buffer that
        :meth:`recorder_drain` empties. Nothing goes on the network and the media thread writes no file."""
        return self.worker.create_recorder(buffer_bytes)

    def recorder_drain(self, tid: int, max_bytes: int = 4 << 20) -> tuple[bytes, int]:
        """Whole records (u32 length LE, u64 worker time in microseconds LE, the RTP packet) up to max_bytes,
        and how many packets the recorder has dropped so far for want of buffer room."""
        return self.worker.recorder_drain(tid, max_bytes)

    def create_producer(
        self,
        tid: int,
        kind: str,
        ssrc: int,
        rtx_ssrc: int,
        codecs: dict[int, str],
        rtx: dict[int, int],
        clock_rate: int,
        extensions: dict[str, int],
        mid: str,
        nack: bool = True,
        rids: list[str] | None = None,
        sim_ssrcs: list[tuple[int, int]] | None = None,
    ) -> int:
        """A published stream; with two or more rids (or (SSRC, RTX SSRC) pairs of an a=ssrc-group:SIM), a
        simulcast source whose layers the core tells apart and picks from per subscriber."""
        layers: list[dict[str, Any]] | None = None
        if rids and len(rids) > 1:
            layers = [{"rid": r} for r in rids]
        elif sim_ssrcs and len(sim_ssrcs) > 1:
            layers = [{"ssrc": s, "rtx_ssrc": r} for s, r in sim_ssrcs]
        return self.worker.create_producer(
            tid, kind, ssrc, rtx_ssrc, codecs, rtx, clock_rate, ext_ids(extensions), mid, nack, layers
        )

    def close_producer(self, pid: int) -> None:
        self.worker.close_producer(pid)

    def create_consumer(
        self,
        tid: int,
        pid: int,
        ssrc: int,
        rtx_ssrc: int,
        pt_map: dict[int, int],
        rtx_pt_of: dict[int, int],
        extensions: dict[str, int],
        mid: str,
        first: bool = False,
    ) -> int:
        """``first``: served before the producer's other consumers every batch (a link to another node)."""
        return self.worker.create_consumer(
            tid, pid, ssrc, rtx_ssrc, pt_map, rtx_pt_of, ext_ids(extensions), mid, first
        )

    def set_consumer_budget(self, cid: int, max_bps: int, priority: int) -> None:
        """A forwarded stream's R-MEDIA-3 budget and its allocation priority (higher first)."""
        self.worker.set_consumer_budget(cid, max_bps, priority)

    def set_consumer_layer(self, cid: int, layer: int | None) -> None:
        """Pin a consumer to a simulcast layer (-1 video off), or None for automatic selection."""
        self.worker.set_consumer_layer(cid, layer)

    def set_consumer_temporal(self, cid: int, tl: int | None) -> None:
        """VP8 temporal layers: forward TID <= tl (down at the next frame, up at a layer-sync frame);
        None for all of them."""
        self.worker.set_consumer_temporal(cid, tl)

    def set_transport_budget(self, tid: int, max_bps: int) -> None:
        self.worker.set_transport_budget(tid, max_bps)

    def pause_consumer(self, cid: int, paused: bool) -> None:
        self.worker.pause_consumer(cid, paused)

    def close_consumer(self, cid: int) -> None:
        self.worker.close_consumer(cid)

    def request_keyframe(self, pid: int) -> None:
        self.worker.request_keyframe(pid)

    def pipe_to(self, pid: int, other: MediaEngine) -> int:
        """Issue 18: producer ``pid``'s stream, every layer, handed on to ``other`` (another worker of this
        process) through a lock-free ring; the id of the producer that mirrors it there, whose consumers are
        made on ``other``. Its subscribers' keyframe requests reach the publisher through this worker."""
        return pipe_create(self.worker, pid, other.worker)

    def unpipe(self, other: MediaEngine, pipe_pid: int) -> None:
        """Take down a pipe of :meth:`pipe_to` (its producer on ``other`` and that producer's consumers)."""
        pipe_close(self.worker, other.worker, pipe_pid)

    def stats(self) -> dict[str, Any]:
        return self.worker.stats()

    def producer_stats(self, pid: int) -> dict[str, Any]:
        return self.worker.producer_stats(pid)

    def consumer_stats(self, cid: int) -> dict[str, Any]:
        return self.worker.consumer_stats(cid)

    def transport_stats(self, tid: int) -> dict[str, Any]:
        return self.worker.transport_stats(tid)


def new_ssrc(taken: set[int]) -> int:
    """A random SSRC not in taken."""
    while True:
        s = secrets.randbits(32)
        if s and s not in taken:
            taken.add(s)
            return s
