"""An impaired network path for tests: a UDP relay that drops, delays and rate-limits RTP/RTCP one way.

This kernel has no `tc netem` (tbf and htb exist), so loss and delay come from here.
"""

from __future__ import annotations

import asyncio
import random


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: LossyRelay, client: tuple[str, int]) -> None:
        self.relay, self.client = relay, client
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: list[bytes] = []  # what the client sent while this socket was being opened

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.relay.down_bytes[self.client] = self.relay.down_bytes.get(self.client, 0) + len(data)
        if self.relay.drop_down and self.relay.impaired(self.client):
            self.relay.impair(data, lambda d: self.relay.front.sendto(d, self.client))
        else:
            self.relay.front.sendto(data, self.client)


class LossyRelay(asyncio.DatagramProtocol):
    """Clients talk to relay.port; the relay talks to the server from one socket per client.

    RTP/RTCP datagrams (RFC 7983: first byte 128..191) are dropped with probability ``loss`` in the
    chosen direction; STUN and DTLS pass, so only media sees the loss.
    """

    def __init__(
        self,
        server: tuple[str, int],
        loss: float,
        drop_down: bool,
        seed: int = 7,
        delay_ms: float = 0.0,
        rate_kbps: float = 0.0,
        queue_ms: float = 300.0,
        bind: tuple[str, int] = ("127.0.0.1", 0),
    ) -> None:
        """loss: drop probability; delay_ms: one-way delay added; rate_kbps: a bottleneck of that rate with a
        drop-tail queue of queue_ms (0 = no limit). All apply to media in the impaired direction only, and
        only for the clients in ``targets`` when that is a set (None = every client)."""
        self.bind = bind
        self.targets: set[tuple[str, int]] | None = None
        #: when a list: (transport-wide seq, bytes, in_us, out_us or -1 when dropped) of every impaired RTP
        #: packet that carries the transport-cc extension ``trace_ext`` (RTP headers are not encrypted)
        self.trace: list[tuple[int, int, int, int]] | None = None
        self.trace_ext = 0
        self.down_bytes: dict[tuple[str, int], int] = {}
        self.server, self.loss, self.drop_down = server, loss, drop_down
        self.delay, self.rate, self.queue = delay_ms / 1000, rate_kbps * 1000 / 8, queue_ms / 1000
        self._free_at = 0.0  # when the bottleneck has sent everything queued so far
        self.queue_drops = 0
        self.rng = random.Random(seed)
        self.front: asyncio.DatagramTransport | None = None
        self.ups: dict[tuple[str, int], _Upstream] = {}
        self.dropped = 0
        self.passed = 0
        self.port = 0

    def impaired(self, client: tuple[str, int]) -> bool:
        return self.targets is None or client in self.targets

    def set_rate(self, rate_kbps: float) -> None:
        """Change the bottleneck (0 lifts it); what is queued still leaves at the old pace."""
        self.rate = rate_kbps * 1000 / 8

    def lose(self, data: bytes) -> bool:
        if data and 128 <= data[0] <= 191:
            if self.rng.random() < self.loss:
                self.dropped += 1
                return True
            self.passed += 1
        return False

    async def start(self) -> LossyRelay:
        loop = asyncio.get_running_loop()
        self.front, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=self.bind)
        self.port = self.front.get_extra_info("sockname")[1]
        return self

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.front = transport

    def datagram_received(self, data: bytes, addr) -> None:
        up = self.ups.get(addr)
        if up is None:
            up = self.ups[addr] = _Upstream(self, addr)
            asyncio.ensure_future(self._open(up, data))
            return
        self._send_up(up, data)

    async def _open(self, up: _Upstream, first: bytes) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: up, local_addr=("127.0.0.1", 0))
        for data in [first, *up.pending]:
            self._send_up(up, data)
        up.pending.clear()

    def impair(self, data: bytes, send) -> None:
        """Loss, then the bottleneck queue, then the fixed delay; STUN/DTLS go straight through."""
        if self.trace is not None and (seq := twcc_seq(data, self.trace_ext)) is not None:
            send = self._traced(send, seq, len(data))
        if self.lose(data):
            return
        if not (data and 128 <= data[0] <= 191) or (not self.delay and not self.rate):
            send(data)
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        leave = now
        if self.rate:
            start = max(now, self._free_at)
            if self.queue and start - now > self.queue:
                self.queue_drops += 1
                return
            leave = self._free_at = start + len(data) / self.rate
        loop.call_at(leave + self.delay, self._late, send, data)

    def _late(self, send, data: bytes) -> None:
        if not getattr(self, "closed", False):
            send(data)

    def _traced(self, send, seq: int, size: int):
        loop = asyncio.get_running_loop()
        entry = [seq, size, int(loop.time() * 1e6), -1]
        self.trace.append(entry)  # type: ignore[union-attr]

        def out(d: bytes) -> None:
            entry[3] = int(loop.time() * 1e6)
            send(d)

        return out

    def _send_up(self, up: _Upstream, data: bytes) -> None:
        if up.transport is None:
            up.pending.append(data)
            return
        if self.drop_down or not self.impaired(up.client):
            up.transport.sendto(data, self.server)
        else:
            self.impair(data, lambda d: up.transport.sendto(d, self.server))

    def close(self) -> None:
        self.delay, self.rate = 0.0, 0.0
        self.closed = True
        for up in self.ups.values():
            if up.transport:
                up.transport.close()
        if self.front:
            self.front.close()


def via(sdp: str, server_port: int, relay_port: int) -> str:
    """Point the server's host candidates in an SDP at the relay."""
    return sdp.replace(f" {server_port} typ host", f" {relay_port} typ host")


def twcc_seq(data: bytes, ext_id: int) -> int | None:
    """The transport-wide sequence number of an RTP packet (one-byte header extension ext_id), if any."""
    if (
        len(data) < 16
        or not 128 <= data[0] <= 191
        or 192 <= data[1] <= 223
        or not data[0] & 0x10
        or not ext_id
    ):
        return None
    off = 12 + 4 * (data[0] & 0x0F)
    if len(data) < off + 4 or data[off : off + 2] != b"\xbe\xde":
        return None
    end = off + 4 + 4 * int.from_bytes(data[off + 2 : off + 4], "big")
    i = off + 4
    while i < min(end, len(data)):
        b = data[i]
        if b == 0:
            i += 1
            continue
        xid, ln = b >> 4, (b & 0x0F) + 1
        if xid == 15:
            return None
        if xid == ext_id and ln == 2 and i + 3 <= len(data):
            return int.from_bytes(data[i + 1 : i + 3], "big")
        i += 1 + ln
    return None
