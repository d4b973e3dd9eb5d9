"""A lossy network path for tests: a UDP relay that drops a share of RTP/RTCP datagrams one way."""
from __future__ import annotations

import asyncio
import random


class _Upstream(asyncio.DatagramProtocol):
    def __init__(self, relay: LossyRelay, client: tuple[str, int]) -> None:
        self.relay, self.client = relay, client
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if self.relay.drop_down and self.relay.lose(data):
            return
        self.relay.front.sendto(data, self.client)


class LossyRelay(asyncio.DatagramProtocol):
    """Clients talk to relay.port; the relay talks to the server from one socket per client.

    RTP/RTCP datagrams (RFC 7983: first byte 128..191) are dropped with probability ``loss`` in the
    chosen direction; STUN and DTLS pass, so only media sees the loss.
    """

    def __init__(self, server: tuple[str, int], loss: float, drop_down: bool, seed: int = 7) -> None:
        self.server, self.loss, self.drop_down = server, loss, drop_down
        self.rng = random.Random(seed)
        self.front: asyncio.DatagramTransport | None = None
        self.ups: dict[tuple[str, int], _Upstream] = {}
        self.dropped = 0
        self.passed = 0
        self.port = 0

    def lose(self, data: bytes) -> bool:
        if data and 128 <= data[0] <= 191:
            if self.rng.random() < self.loss:
                self.dropped += 1
                return True
            self.passed += 1
        return False

    async def start(self) -> LossyRelay:
        loop = asyncio.get_running_loop()
        self.front, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
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
        self._send_up(up, first)

    def _send_up(self, up: _Upstream, data: bytes) -> None:
        if not self.drop_down and self.lose(data):
            return
        if up.transport is not None:
            up.transport.sendto(data, self.server)

    def close(self) -> None:
        for up in self.ups.values():
            if up.transport:
                up.transport.close()
        if self.front:
            self.front.close()


def via(sdp: str, server_port: int, relay_port: int) -> str:
    """Point the server's host candidates in an SDP at the relay."""
    return sdp.replace(f" {server_port} typ host", f" {relay_port} typ host")
