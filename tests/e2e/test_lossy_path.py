"""The test network's impaired path behaves as configured: loss, delay, and a rate cap with a drop-tail
queue."""

from __future__ import annotations

import asyncio

import pytest

from tests.e2e.lossy_path import LossyRelay

# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone


class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.transport.sendto(data, addr)


class Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[tuple[float, bytes]] = []

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.got.append((asyncio.get_running_loop().time(), data))


async def run(relay_kw: dict, count: int, size: int, gap: float = 0.0):
    loop = asyncio.get_running_loop()
    echo_t, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.0.0.1", 0))
    relay = await LossyRelay(echo_t.get_extra_info("sockname"), drop_down=True, **relay_kw).start()
    sink = Sink()
    cli_t, _ = await loop.create_datagram_endpoint(lambda: sink, local_addr=("127.0.0.1", 0))
    sent_at = {}
    try:
        for i in range(count):
            pkt = bytes([0x80, 96]) + i.to_bytes(4, "big") + bytes(size - 6)
            sent_at[i] = loop.time()
            cli_t.sendto(pkt, ("127.0.0.1", relay.port))
            if gap:
                await asyncio.sleep(gap)
        await asyncio.sleep(1.5)
        return relay, sink.got, sent_at
    finally:
        cli_t.close()
        echo_t.close()
        relay.close()


@pytest.mark.timeout(30)
async def test_loss_share():
    relay, got, _ = await run({"loss": 0.2, "seed": 3}, 1000, 200, gap=0.0005)
    assert 150 <= relay.dropped <= 250 and len(got) == 1000 - relay.dropped


@pytest.mark.timeout(30)
async def test_delay_is_added():
    relay, got, sent_at = await run({"loss": 0.0, "delay_ms": 80}, 50, 200, gap=0.005)
    delays = [t - sent_at[int.from_bytes(d[2:6], "big")] for t, d in got]
    assert len(got) == 50 and 0.079 <= min(delays) and max(delays) < 0.2, (min(delays), max(delays))


@pytest.mark.timeout(30)
async def test_rate_cap_and_drop_tail():
    # 1000-byte packets every 5 ms (1.6 Mbit/s) for a second into 800 kbit/s with a 300 ms queue: the
    # delivered rate is the cap, nothing waits longer than the queue, and the excess is dropped at the tail.
    relay, got, sent_at = await run({"loss": 0.0, "rate_kbps": 800, "queue_ms": 300}, 200, 1000, gap=0.005)
    assert relay.queue_drops > 30 and len(got) == 200 - relay.queue_drops
    span = got[-1][0] - got[0][0]
    rate = (len(got) - 1) * 1000 * 8 / span / 1000
    assert 700 <= rate <= 900, rate
    waits = [t - sent_at[int.from_bytes(d[2:6], "big")] for t, d in got]
    assert max(waits) < 0.3 + 0.15, max(waits)
