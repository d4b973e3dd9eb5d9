"""A published stream handed from one media worker to another of the process (issue 18 item 2: a room over
several workers): every simulcast layer crosses a lock-free ring to a producer that mirrors it on the other
worker, whose subscribers get one clean stream with their own layer choice; their NACKs are answered from
that worker's own cache; their keyframe requests reach the publisher through the source's worker, merged per
layer; closing the pipe takes its producer and consumers down, and a source that closes first leaves the
pipe idle until it is closed. Real transports (ICE, DTLS-SRTP) over loopback at both ends."""

from __future__ import annotations

import struct
import time

import pytest

from native._core import NativeError, Worker, build_nack, pipe_close, pipe_create
from tests.native.test_simulcast import ABS, MID, PWD, RID, RIDS, Layer, check_clean, layer_of, wait


class Rig:
    """Worker A with the publisher (a 3-layer simulcast producer) and a subscriber; worker B with another
    subscriber; a client worker for the three peers."""

    def __init__(self) -> None:
        self.a, self.b, self.cli = Worker(), Worker(), Worker()
        for w in (self.a, self.b, self.cli):
            w.start()
        cfp = bytes.fromhex(self.cli.fingerprint.replace(":", ""))

        def peer(srv: Worker, name: str, sink: bool) -> tuple[int, int]:
            sfp = bytes.fromhex(srv.fingerprint.replace(":", ""))
            st = srv.create_transport(name, PWD, False, "sha-256", cfp)
            extra = {"sink_abs_ext": ABS} if sink else {}
            ct = self.cli.create_client_transport(
                "127.0.0.1", srv.port, "c" + name, name, PWD, "sha-256", sfp, **extra
            )
            return st, ct

        self.pub, self.cpub = peer(self.a, "pub", False)
        self.sub_a, self.csub_a = peer(self.a, "suba", True)
        self.sub_b, self.csub_b = peer(self.b, "subb", True)
        assert wait(
            lambda: all(
                self.cli.transport_stats(t)["dtls_state"] == "connected"
                for t in (self.cpub, self.csub_a, self.csub_b)
            )
        )
        self.producer = self.a.create_producer(
            self.pub,
            "video",
            0,
            0,
            {96: "VP8"},
            {},
            90000,
            {"mid": MID, "abs_send_time": ABS, "rid": RID},
            "0",
            layers=[{"rid": r} for r in RIDS],
        )
        self.piped = pipe_create(self.a, self.producer, self.b)
        ext = {"abs_send_time": ABS}
        self.cons_a = self.a.create_consumer(self.sub_a, self.producer, 0x5000, 0, {96: 100}, {}, ext, "0")
        self.cons_b = self.b.create_consumer(self.sub_b, self.piped, 0x6000, 0, {96: 100}, {}, ext, "0")
        for t in (self.csub_a, self.csub_b):
            self.cli.capture(t)  # starts the capture
        self.got = {self.csub_a: [], self.csub_b: []}
        self.sent = 0

    def send(self, packets: list[bytes]) -> None:
        self.cli.send_rtp(self.cpub, packets, abs_ext=ABS)
        self.sent += len(packets)
        assert wait(lambda: self.b.stats()["pipe_rx"] >= self.sent)  # across the pipe, in order

    def received(self, t: int, n: int) -> list[tuple]:
        def more() -> bool:
            self.got[t] += self.cli.capture(t)
            return len(self.got[t]) >= n

        wait(more)
        return self.got[t]

    def close(self) -> None:
        self.cli.close()
        self.b.close()
        self.a.close()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def test_every_layer_crosses_and_each_worker_picks_its_subscribers_layer(rig):
    layers = [Layer(i, seq=65500 + 11 * i, ts=0xFFFFF000, pic=0x7FF0 + i, tl0=200) for i in range(3)]
    rig.a.set_consumer_layer(rig.cons_a, 0)
    rig.b.set_consumer_layer(rig.cons_b, 2)
    for k in range(40):  # a keyframe of every layer first; 16-bit sequence numbers wrap on the way
        rig.send([lay.frame(key=k == 0) for lay in layers])
    on_a, on_b = rig.received(rig.csub_a, 40), rig.received(rig.csub_b, 40)
    assert [layer_of(p) for p in on_a] == [0] * 40 and [layer_of(p) for p in on_b] == [2] * 40
    check_clean(on_b)
    # B switches its subscriber down on the next keyframe, A's stays: the choice is each worker's own
    rig.b.set_consumer_layer(rig.cons_b, 1)
    for k in range(10):
        rig.send([lay.frame(key=k == 3) for lay in layers])
    on_b = rig.received(rig.csub_b, 47)
    assert [layer_of(p) for p in on_b[40:]] == [2, 2, 2] + [1] * 7
    check_clean(on_b)
    sa, sb = rig.a.stats(), rig.b.stats()
    assert sa["pipe_tx"] == 150 and sa["pipe_dropped"] == 0 and sb["pipe_rx"] == 150 and sb["pipes_in"] == 1
    ps = rig.b.producer_stats(rig.piped)
    assert ps["nlayers"] == 3 and ps["keyframes"] >= 3, ps  # its own keyframe count, one per layer at least
    assert ps["packets"] == rig.a.producer_stats(rig.producer)["packets"] == 150  # all layers


def test_nacks_are_answered_on_the_subscribers_worker(rig):
    layers = [Layer(i, seq=100, ts=0, pic=1, tl0=1) for i in range(3)]
    rig.b.set_consumer_layer(rig.cons_b, 1)
    for k in range(30):
        rig.send([lay.frame(key=k == 0) for lay in layers])
    got = rig.received(rig.csub_b, 30)
    last = got[-1][2]
    before_a, before_b = rig.a.stats()["rtx_tx"], rig.b.stats()["rtx_tx"]
    assert rig.cli.send_rtcp(rig.csub_b, build_nack(1, 0x6000, [(last - 4) & 0xFFFF, (last - 2) & 0xFFFF]))
    assert wait(lambda: rig.b.stats()["rtx_tx"] - before_b == 2)
    assert rig.a.stats()["rtx_tx"] == before_a  # nothing went back through the pipe for them
    assert rig.b.consumer_stats(rig.cons_b)["nacks"] == 1


def test_keyframe_requests_reach_the_publisher_through_the_source_merged_per_layer(rig):
    layers = [Layer(i, seq=1, ts=0, pic=1, tl0=1) for i in range(3)]
    rig.a.set_consumer_layer(rig.cons_a, 2)
    rig.b.set_consumer_layer(rig.cons_b, 2)
    for k in range(5):
        rig.send([lay.frame(key=k == 0) for lay in layers])
    rig.received(rig.csub_b, 5)
    time.sleep(2.2)  # the requests of the consumers' start, and the one each held back, are out
    before_a, before_fwd = rig.a.stats()["plis_tx"], rig.a.stats()["pipe_plis"]
    start = time.monotonic()
    for _ in range(5):  # both subscribers, on both workers, ask again and again for a keyframe
        assert rig.cli.send_rtcp(rig.csub_b, struct.pack("!BBHII", 0x81, 206, 2, 1, 0x6000))
        assert rig.cli.send_rtcp(rig.csub_a, struct.pack("!BBHII", 0x81, 206, 2, 1, 0x5000))
    assert wait(lambda: rig.b.stats()["plis_rx"] >= 5 and rig.a.stats()["plis_rx"] >= 5)
    arrived = time.monotonic() - start  # under a second unless the machine is very busy
    assert wait(lambda: rig.a.stats()["pipe_plis"] > before_fwd, 1.0)  # B's wish reached A
    assert wait(lambda: rig.a.stats()["plis_tx"] - before_a >= 2, 2.5)  # one, then the pending one
    assert time.monotonic() - start >= 0.95  # a second apart at the publisher
    time.sleep(1.3)
    # ten requests on two workers within one interval: one PLI for layer 2, and the one held back
    assert rig.a.stats()["plis_tx"] - before_a == (2 if arrived < 0.9 else 3), arrived


def test_closing_the_pipe_takes_its_producer_and_consumers_down(rig):
    with pytest.raises(NativeError, match="two different workers"):
        pipe_create(rig.a, rig.producer, rig.a)
    with pytest.raises(NativeError, match="no such producer"):
        pipe_create(rig.a, 999_999, rig.b)
    assert not rig.b.close_producer(rig.piped)  # a pipe's producer goes only with its pipe
    assert not pipe_close(rig.b, rig.a, rig.piped)  # the wrong way round
    assert pipe_close(rig.a, rig.b, rig.piped)
    events = rig.b.poll_events()
    assert ("consumer_closed", rig.cons_b, 0, 0, "") in events, events
    sb = rig.b.stats()
    assert sb["pipes_in"] == 0 and sb["producers"] == 0 and sb["consumers"] == 0
    assert not pipe_close(rig.a, rig.b, rig.piped)
    # the source goes first: the pipe stays, idle, until it is closed; the source's other subscriber is fine
    again = pipe_create(rig.a, rig.producer, rig.b)
    layers = [Layer(i, seq=1, ts=0, pic=1, tl0=1) for i in range(3)]
    rig.send([lay.frame(key=True) for lay in layers])
    assert rig.a.close_producer(rig.producer)
    assert rig.b.stats()["pipes_in"] == 1
    assert pipe_close(rig.a, rig.b, again)
    assert rig.b.stats()["pipes_in"] == 0 and rig.a.stats()["producers"] == 0
