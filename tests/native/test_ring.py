"""The packet ring between two media workers (native/core/ring.h; issue 18: one room over several workers,
a track handed from its worker to another without a socket): packets come out in order and intact, a full
ring refuses (and counts) instead of waiting or overwriting, and two threads pushing and popping at once
without a lock lose, reorder or tear nothing."""

from __future__ import annotations

import threading

import pytest

from tests.native.testbuild import built_module

units = built_module("native._units")


def test_packets_come_out_in_order_with_their_metadata():
    r = units.Ring(5)
    assert r.size == 8  # a power of two
    for i in range(3):
        assert r.push(bytes([i]) * (i + 1), ssrc=100 + i, kind=1, layer=i, at_us=1000 * i)
    assert [r.pop() for _ in range(4)] == [
        (b"\x00", 100, 1, 0, 0),
        (b"\x01\x01", 101, 1, 1, 1000),
        (b"\x02\x02\x02", 102, 1, 2, 2000),
        None,
    ]
    assert r.counters == {"pushed": 3, "dropped": 0, "popped": 3}


def test_a_full_ring_refuses_and_counts_and_wraps_around():
    r = units.Ring(4)
    assert all(r.push(bytes([i])) for i in range(4))
    assert not r.push(b"x")  # full: refused, the oldest is not overwritten
    assert r.counters["dropped"] == 1
    assert r.pop()[0] == b"\x00"
    assert r.push(b"\x04")  # one slot free again
    assert [r.pop()[0] for _ in range(4)] == [b"\x01", b"\x02", b"\x03", b"\x04"]
    for i in range(10_000):  # the indexes go round the ring many times
        assert r.push(i.to_bytes(4, "big")) and r.pop()[0] == i.to_bytes(4, "big")
    assert not r.push(b"y" * 1501) and r.push(b"z" * 1500)  # a slot holds an MTU's packet
    assert r.pop()[0] == b"z" * 1500


@pytest.mark.parametrize("slots,batch", [(64, 16), (8, 1), (1024, 64)])
def test_two_threads_at_once_lose_reorder_and_tear_nothing(slots, batch):
    r = units.Ring(slots)
    n = 300_000
    out: dict[str, object] = {}
    pusher = threading.Thread(target=lambda: out.update(full=r.push_many(n, batch)))
    popper = threading.Thread(target=lambda: out.update(got=r.pop_many(n)))
    popper.start()
    pusher.start()
    pusher.join(60)
    popper.join(60)
    assert not pusher.is_alive() and not popper.is_alive()
    assert out["got"] == (n, 0), out  # every packet, in order, each byte as written
    c = r.counters
    assert c["pushed"] == c["popped"] == n and c["dropped"] == out["full"], (c, out)
