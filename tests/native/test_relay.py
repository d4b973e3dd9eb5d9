"""The link between two nodes of a cluster (issue 19 item 4), in the native core: the room's owner forwards
every simulcast layer of a published stream once, over one SRTP transport (ICE and DTLS-SRTP, the DTLS
fingerprints exchanged beforehand), to an edge node whose relay client transport feeds a producer of its own;
the edge's subscribers get one clean stream with their own layer choice, their NACKs are answered from the
edge's cache, a lossy link is repaired by NACK/RTX between the nodes, and the subscribers' keyframe requests
reach the publisher merged to at most one per second per layer. No Python touches a packet on the way (the
lossy link of one test is a userspace relay of the test itself, standing in for `tc netem`).

Owner on 127.0.0.2, edge on 127.0.0.3, the publisher and the subscriber on a client worker of 127.0.0.1."""

from __future__ import annotations

import selectors
import socket
import threading
import time

import pytest

from native._core import NativeError, Worker, build_nack
from tests.native.test_simulcast import ABS, MID, PWD, RID, RIDS, Layer, check_clean, layer_of, wait

OWNER_IP, EDGE_IP, RELAY_IP = "127.0.0.2", "127.0.0.3", "127.0.0.4"
LINK_SSRC, LINK_RTX = 0x7000, 0x7100


def fp(w: Worker) -> bytes:
    return bytes.fromhex(w.fingerprint.replace(":", ""))


class LossyRelay:
    """A userspace UDP relay between the edge and the owner (`tc netem` is not in this kernel): it drops
    every `every`-th SRTP media packet the owner sends, once the link is up; STUN, DTLS and RTCP pass."""

    def __init__(self, owner: tuple[str, int], every: int) -> None:
        self.owner, self.every = owner, every
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind((RELAY_IP, 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind((RELAY_IP, 0))
        self.port = self.front.getsockname()[1]
        self.edge: tuple[str, int] | None = None
        self.media = self.dropped = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.front, selectors.EVENT_READ)
        sel.register(self.back, selectors.EVENT_READ)
        while not self.stop.is_set():
            for key, _ in sel.select(0.1):
                data, addr = key.fileobj.recvfrom(2048)  # type: ignore[union-attr]
                if key.fileobj is self.front:
                    self.edge = addr
                    self.back.sendto(data, self.owner)
                    continue
                if self.edge is None:
                    continue
                is_rtp = 128 <= data[0] < 192 and not 192 <= data[1] <= 223
                if is_rtp:
                    self.media += 1
                    if self.media % self.every == 0:
                        self.dropped += 1
                        continue
                self.front.sendto(data, self.edge)
        sel.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(2)
        self.front.close()
        self.back.close()


class Cascade:
    """The publisher on the owner; the owner's link transport with one consumer pinned to each layer; the
    edge's relay transport with the mirroring producer; a subscriber on the edge."""

    def __init__(self, lossy_every: int = 0) -> None:
        self.owner, self.edge, self.cli = Worker(OWNER_IP), Worker(EDGE_IP), Worker()
        for w in (self.owner, self.edge, self.cli):
            w.start()
        self.pub = self.owner.create_transport("pub", PWD, False, "sha-256", fp(self.cli))
        self.cpub = self.cli.create_client_transport(
            OWNER_IP, self.owner.port, "cpub", "pub", PWD, "sha-256", fp(self.owner)
        )
        self.producer = self.owner.create_producer(
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
        # the owner's end of the link: a server transport that expects the edge's certificate
        self.link = self.owner.create_transport("link", PWD, False, "sha-256", fp(self.edge))
        ext = {"abs_send_time": ABS}
        self.link_consumers = []
        for layer in range(3):
            c = self.owner.create_consumer(
                self.link,
                self.producer,
                LINK_SSRC + layer,
                LINK_RTX + layer,
                {96: 96},
                {96: 97},
                ext,
                str(layer),
            )
            self.owner.set_consumer_layer(c, layer)
            self.link_consumers.append(c)
        self.relay = LossyRelay((OWNER_IP, self.owner.port), lossy_every) if lossy_every else None
        to = (RELAY_IP, self.relay.port) if self.relay else (OWNER_IP, self.owner.port)
        self.elink = self.edge.create_client_transport(
            to[0], to[1], "elink", "link", PWD, "sha-256", fp(self.owner), local_ip=EDGE_IP, relay=True
        )
        self.mirror = self.edge.create_producer(
            self.elink,
            "video",
            0,
            0,
            {96: "VP8"},
            {97: 96},
            90000,
            ext,
            "0",
            layers=[{"ssrc": LINK_SSRC + i, "rtx_ssrc": LINK_RTX + i} for i in range(3)],
        )
        self.sub = self.edge.create_transport("sub", PWD, False, "sha-256", fp(self.cli))
        self.csub = self.cli.create_client_transport(
            EDGE_IP, self.edge.port, "csub", "sub", PWD, "sha-256", fp(self.edge), sink_abs_ext=ABS
        )
        self.consumer = self.edge.create_consumer(self.sub, self.mirror, 0x5000, 0, {96: 100}, {}, ext, "0")
        assert wait(
            lambda: (
                all(self.cli.transport_stats(t)["dtls_state"] == "connected" for t in (self.cpub, self.csub))
                and self.edge.transport_stats(self.elink)["dtls_state"] == "connected"
            )
        )
        self.cli.capture(self.csub)
        self.got: list[tuple] = []

    def send(self, packets: list[bytes]) -> None:
        self.cli.send_rtp(self.cpub, packets, abs_ext=ABS)

    def received(self, n: int, timeout: float = 5.0) -> list[tuple]:
        def more() -> bool:
            self.got += self.cli.capture(self.csub)
            return len(self.got) >= n

        wait(more, timeout)
        return self.got

    def close(self) -> None:
        if self.relay:
            self.relay.close()
        for w in (self.cli, self.edge, self.owner):
            w.close()


@pytest.fixture
def cascade():
    c = Cascade()
    yield c
    c.close()


def test_every_layer_crosses_the_link_once_and_the_edge_picks_its_subscribers_layer(cascade):
    c = cascade
    layers = [Layer(i, seq=65500 + 7 * i, ts=0xFFFFF000, pic=0x7FF0 + i, tl0=9) for i in range(3)]
    c.edge.set_consumer_layer(c.consumer, 2)
    for k in range(40):
        c.send([lay.frame(key=k == 0) for lay in layers])
        time.sleep(0.002)
    got = c.received(40)
    assert [layer_of(p) for p in got] == [2] * 40
    check_clean(got)
    # every layer crossed, each on its own SSRC, once: the edge's producer took in all 120 packets
    assert wait(lambda: c.edge.producer_stats(c.mirror)["packets"] == 120)
    assert c.owner.producer_stats(c.producer)["packets"] == 120
    for cid in c.link_consumers:
        assert c.owner.consumer_stats(cid)["packets"] == 40
    # the edge switches its subscriber down at the next keyframe of that layer; the owner is not involved
    c.edge.set_consumer_layer(c.consumer, 0)
    for k in range(10):
        c.send([lay.frame(key=k == 4) for lay in layers])
        time.sleep(0.002)
    got = c.received(50)
    time.sleep(0.1)
    got = c.received(51)
    # the link carries each layer on its own SSRC, not in the publisher's interleaving: the top layer's frame
    # of the switch may come before or after the keyframe of the lowest
    after = [layer_of(p) for p in got[40:]]
    assert after in ([2] * 4 + [0] * 6, [2] * 5 + [0] * 6), after
    check_clean(got)


def test_the_edges_subscribers_nacks_are_answered_on_the_edge(cascade):
    c = cascade
    layers = [Layer(i, seq=100, ts=0, pic=1, tl0=1) for i in range(3)]
    c.edge.set_consumer_layer(c.consumer, 1)
    for k in range(30):
        c.send([lay.frame(key=k == 0) for lay in layers])
        time.sleep(0.002)
    got = c.received(30)
    last = got[-1][2]
    owner_rtx, edge_rtx = c.owner.stats()["rtx_tx"], c.edge.stats()["rtx_tx"]
    assert c.cli.send_rtcp(c.csub, build_nack(1, 0x5000, [(last - 3) & 0xFFFF, (last - 1) & 0xFFFF]))
    assert wait(lambda: c.edge.stats()["rtx_tx"] - edge_rtx == 2)
    assert c.owner.stats()["rtx_tx"] == owner_rtx  # nothing was asked across the link


def test_keyframe_requests_reach_the_publisher_merged_per_layer(cascade):
    c = cascade
    layers = [Layer(i, seq=1, ts=0, pic=1, tl0=1) for i in range(3)]
    c.edge.set_consumer_layer(c.consumer, 2)
    for k in range(5):
        c.send([lay.frame(key=k == 0) for lay in layers])
    c.received(5)
    time.sleep(2.2)  # the requests of the start are out
    before = c.owner.stats()["plis_tx"]
    start = time.monotonic()
    while time.monotonic() - start < 3.0:  # the subscriber asks every 20 ms for 3 s
        c.cli.send_rtcp(
            c.csub, bytes([0x81, 206, 0, 2]) + (1).to_bytes(4, "big") + (0x5000).to_bytes(4, "big")
        )
        time.sleep(0.02)
    time.sleep(0.3)
    asked = c.owner.stats()["plis_tx"] - before
    # one layer wanted, at most one request a second reaches the publisher (3 s: 3 or 4 of them), and some do
    assert 2 <= asked <= 4, asked
    assert c.edge.producer_stats(c.mirror)["plis"] >= 2  # the edge asked across the link


def test_a_lossy_link_is_repaired_by_nack_and_rtx():
    c = Cascade(lossy_every=10)
    try:
        layers = [Layer(i, seq=30000, ts=5000, pic=50, tl0=3) for i in range(3)]
        c.edge.set_consumer_layer(c.consumer, 2)
        n = 300
        for k in range(n):
            c.send([lay.frame(key=k == 0) for lay in layers])
            time.sleep(0.004)
        assert c.relay is not None
        got = c.received(n, timeout=8.0)
        assert c.relay.dropped >= 80  # a tenth of 900 packets went missing on the way
        seqs = sorted({p[2] for p in got})
        assert len(got) == len(seqs) == n  # every one arrived, none twice
        assert (seqs[-1] - seqs[0]) & 0xFFFF == n - 1
        assert c.edge.producer_stats(c.mirror)["nacks"] > 0
        # repaired from the owner's cache (a packet lost last on its layer has no later one to show the gap)
        rtx = sum(c.owner.consumer_stats(x)["rtx"] for x in c.link_consumers)
        assert rtx >= c.relay.dropped - 3, (rtx, c.relay.dropped)
        assert wait(lambda: c.edge.producer_stats(c.mirror)["lost"] <= 3)
    finally:
        c.close()


def test_the_link_shows_the_owner_gone_and_a_sink_transport_takes_no_producer():
    owner, edge = Worker(OWNER_IP), Worker(EDGE_IP)
    owner.start()
    edge.start()
    edge.set_consent_timeout(1.0)
    try:
        owner.create_transport("link", PWD, False, "sha-256", fp(edge))
        elink = edge.create_client_transport(
            OWNER_IP, owner.port, "elink", "link", PWD, "sha-256", fp(owner), local_ip=EDGE_IP, relay=True
        )
        sink = edge.create_client_transport(
            OWNER_IP, owner.port, "esink", "nobody", PWD, "sha-256", fp(owner), local_ip=EDGE_IP
        )
        with pytest.raises(NativeError):
            edge.create_producer(sink, "audio", 1, 0, {111: "opus"}, {}, 48000, {}, "0")
        assert wait(lambda: edge.transport_stats(elink)["dtls_state"] == "connected")
        owner.close()  # the owner's node dies: its answers stop
        assert wait(lambda: edge.transport_stats(elink)["ice_state"] == "disconnected", timeout=5.0)
        assert any(e[0] == "ice" and e[1] == elink for e in edge.poll_events())
    finally:
        edge.close()
        owner.close()
