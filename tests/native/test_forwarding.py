"""The worker's media path end to end between two native workers: ICE, DTLS-SRTP, routing, rewriting,
NACK answers, keyframe gating and UDP GSO bursts. The client side is the core's own client transport."""

from __future__ import annotations

import struct
import threading
import time

import pytest

from native._core import Worker, build_nack

PWD = "subscriberpassword012345"
ABS = 3


def vp8(seq: int, ts: int, key: bool, ssrc: int = 1234, size: int = 1000, marker: bool = False) -> bytes:
    ext = struct.pack("!HH", 0xBEDE, 1) + bytes([(ABS << 4) | 2, 0, 0, 0])
    desc = bytes([0x10, 0x00 if key else 0x01])  # S=1, partition 0; VP8 frame header P bit: 0 = key
    return (
        struct.pack("!BBHII", 0x90, (0x80 if marker else 0) | 96, seq & 0xFFFF, ts, ssrc)
        + ext
        + desc
        + bytes(size)
    )


def wait(pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


class Rig:
    """A server worker with one publisher transport and n subscriber transports, and a client worker."""

    def __init__(self, n: int, gso: bool = True) -> None:
        self.srv, self.cli = Worker(), Worker()
        self.srv.gso = gso
        self.srv.start()
        self.cli.start()
        sfp = bytes.fromhex(self.srv.fingerprint.replace(":", ""))
        cfp = bytes.fromhex(self.cli.fingerprint.replace(":", ""))
        self.pub = self.srv.create_transport("pub", PWD, False, "sha-256", cfp)
        self.cpub = self.cli.create_client_transport(
            "127.0.0.1", self.srv.port, "cp", "pub", PWD, "sha-256", sfp
        )
        self.subs = []
        for i in range(n):
            st = self.srv.create_transport(f"s{i}", PWD, False, "sha-256", cfp)
            ct = self.cli.create_client_transport(
                "127.0.0.1", self.srv.port, f"c{i}", f"s{i}", PWD, "sha-256", sfp, sink_abs_ext=ABS
            )
            self.subs.append((st, ct))
        ids = [self.cpub] + [c for _, c in self.subs]
        assert wait(lambda: all(self.cli.transport_stats(t)["dtls_state"] == "connected" for t in ids))
        self.producer = self.srv.create_producer(
            self.pub, "video", 1234, 0, {96: "VP8"}, {}, 90000, {"abs_send_time": ABS}, "0"
        )
        self.consumers = [
            self.srv.create_consumer(
                st, self.producer, 5000 + i, 0, {96: 100}, {}, {"abs_send_time": ABS}, "0"
            )
            for i, (st, _) in enumerate(self.subs)
        ]

    def close(self) -> None:
        self.cli.close()
        self.srv.close()


@pytest.fixture
def rig():
    rigs = []

    def make(n, gso=True):
        rigs.append(Rig(n, gso))
        return rigs[-1]

    yield make
    for r in rigs:
        r.close()


def test_dtls_srtp_profile_and_keyframe_gate(rig):
    r = rig(2)
    assert r.cli.transport_stats(r.cpub)["srtp_profile"] == 7  # AEAD_AES_128_GCM preferred
    # delta frames before the first keyframe are held back, and a PLI goes to the publisher
    r.cli.send_rtp(r.cpub, [vp8(i, i * 3000, False) for i in range(10)], abs_ext=ABS)
    assert wait(lambda: r.srv.producer_stats(r.producer)["packets"] == 10)
    assert all(r.srv.consumer_stats(c)["packets"] == 0 for c in r.consumers)
    assert r.srv.stats()["plis_tx"] >= 1
    r.cli.send_rtp(r.cpub, [vp8(10 + i, 30000 + i * 3000, i == 0) for i in range(20)], abs_ext=ABS)
    assert wait(lambda: all(r.cli.transport_stats(c)["sink_packets"] == 20 for _, c in r.subs))
    for _, c in r.subs:
        s = r.cli.transport_stats(c)
        assert s["sink_lost"] == 0 and s["sink_decrypt_errors"] == 0


@pytest.mark.parametrize("gso", [True, False])
def test_bursts_reach_every_subscriber(rig, gso):
    r = rig(20, gso)
    pkts = [vp8(i, (i // 8) * 3000, i == 0, marker=(i % 8 == 7)) for i in range(800)]
    for k in range(0, len(pkts), 40):
        r.cli.send_rtp(r.cpub, pkts[k : k + 40], abs_ext=ABS)
        time.sleep(0.003)
    assert wait(lambda: all(r.cli.transport_stats(c)["sink_packets"] == 800 for _, c in r.subs)), [
        r.cli.transport_stats(c)["sink_packets"] for _, c in r.subs
    ]
    st = r.srv.stats()
    assert st["rtp_tx"] == 800 * 20
    assert all(r.cli.transport_stats(c)["sink_lost"] == 0 for _, c in r.subs)
    if gso and r.srv.gso:
        assert st["tx_gso_messages"] > 0 and st["tx_messages"] < st["tx_packets"] / 2
    else:
        assert st["tx_gso_messages"] == 0


def test_rewrites_ssrc_seq_and_payload_type(rig):
    r = rig(1)
    # a raw subscriber view: the server's consumer packets decrypted by the client sink, checked via stats,
    # and the consumer's numbers: packets and bytes follow what was sent
    r.cli.send_rtp(r.cpub, [vp8(65530 + i, i * 3000, i == 0) for i in range(12)], abs_ext=ABS)  # wraps
    assert wait(lambda: r.cli.transport_stats(r.subs[0][1])["sink_packets"] == 12)
    cs = r.srv.consumer_stats(r.consumers[0])
    assert cs["ssrc"] == 5000 and cs["packets"] == 12 and cs["keyframes"] == 1
    assert r.cli.transport_stats(r.subs[0][1])["sink_lost"] == 0


def test_nack_is_answered_from_the_cache(rig):
    r = rig(1)
    r.cli.send_rtp(r.cpub, [vp8(100 + i, i * 3000, i == 0) for i in range(50)], abs_ext=ABS)
    _, sub_cli = r.subs[0]
    assert wait(lambda: r.cli.transport_stats(sub_cli)["sink_packets"] == 50)
    last = r.cli.transport_stats(sub_cli)["sink_streams"][5000]["max_seq"] & 0xFFFF
    before = r.srv.stats()["rtx_tx"]
    # three packets the subscriber says it lost, and one it could not have (not in the cache)
    assert r.cli.send_rtcp(
        sub_cli, build_nack(1, 5000, [(last - 5) & 0xFFFF, (last - 3) & 0xFFFF, last, (last + 1000) & 0xFFFF])
    )
    assert wait(lambda: r.srv.stats()["rtx_tx"] - before == 3)
    # they arrive as exact copies (no RTX negotiated here), so the receiver's SRTP replay check drops them
    assert wait(lambda: r.cli.transport_stats(sub_cli)["sink_decrypt_errors"] == 3)
    assert r.srv.consumer_stats(r.consumers[0])["nacks"] == 1
    # a NACK for an SSRC this transport does not receive changes nothing
    assert r.cli.send_rtcp(sub_cli, build_nack(1, 4242, [last]))
    time.sleep(0.1)
    assert r.srv.stats()["rtx_tx"] - before == 3


def test_two_subscribers_may_use_one_ssrc(rig):
    """Rooms pick a consumer's SSRC unique per subscriber, not per worker: two subscribers' consumers with one
    SSRC both forward, each subscriber's feedback reaches its own consumer, and only the same subscriber
    is refused the SSRC a second time."""
    r = rig(2)
    (st0, ct0), (st1, ct1) = r.subs
    for c in r.consumers:
        r.srv.close_consumer(c)
    ext = {"abs_send_time": ABS}
    mine = [r.srv.create_consumer(st, r.producer, 7777, 0, {96: 100}, {}, ext, "0") for st in (st0, st1)]
    with pytest.raises(Exception, match="already used"):
        r.srv.create_consumer(st0, r.producer, 7777, 0, {96: 100}, {}, ext, "1")
    r.cli.send_rtp(r.cpub, [vp8(i, i * 3000, i == 0) for i in range(20)], abs_ext=ABS)
    assert wait(lambda: all(r.cli.transport_stats(c)["sink_packets"] >= 20 for c in (ct0, ct1)))
    last = r.cli.transport_stats(ct1)["sink_streams"][7777]["max_seq"] & 0xFFFF
    assert r.cli.send_rtcp(ct1, build_nack(1, 7777, [(last - 2) & 0xFFFF]))
    assert wait(lambda: r.srv.consumer_stats(mine[1])["nacks"] == 1)
    assert r.srv.consumer_stats(mine[0])["nacks"] == 0
    r.srv.close_consumer(mine[0])  # closing one leaves the other's feedback working
    assert r.cli.send_rtcp(ct1, build_nack(1, 7777, [(last - 1) & 0xFFFF]))
    assert wait(lambda: r.srv.consumer_stats(mine[1])["nacks"] == 2)


def test_pli_from_subscribers_reaches_the_publisher_at_most_once_a_second(rig):
    """Issue 18: at most one keyframe request a second per publisher layer, whatever the audience."""
    r = rig(2)
    r.cli.send_rtp(r.cpub, [vp8(i, i * 3000, i == 0) for i in range(5)], abs_ext=ABS)
    assert wait(lambda: all(r.cli.transport_stats(c)["sink_packets"] == 5 for _, c in r.subs))
    time.sleep(1.2)  # a second since the consumers' start asked for a keyframe
    before = r.srv.stats()["plis_tx"]
    start = time.monotonic()
    for _ in range(5):
        for i, (_, c) in enumerate(r.subs):
            assert r.cli.send_rtcp(c, struct.pack("!BBHII", 0x81, 206, 2, 1, 5000 + i))
    assert wait(lambda: r.srv.stats()["plis_rx"] >= 10)
    assert r.srv.stats()["plis_tx"] - before == 1  # ten requests, one PLI
    assert wait(lambda: r.srv.stats()["plis_tx"] - before == 2, 2.0)  # the pending one, a second later
    assert time.monotonic() - start >= 0.95
    time.sleep(1.3)
    assert r.srv.stats()["plis_tx"] - before == 2


def test_dtls_fails_when_the_certificate_does_not_match_the_sdp_fingerprint():
    srv, cli = Worker(), Worker()
    srv.start()
    cli.start()
    try:
        sfp = bytes.fromhex(srv.fingerprint.replace(":", ""))
        wrong = bytes(32)
        st = srv.create_transport("bad", PWD, False, "sha-256", wrong)
        ct = cli.create_client_transport("127.0.0.1", srv.port, "c", "bad", PWD, "sha-256", sfp)
        assert wait(lambda: srv.transport_stats(st)["dtls_state"] == "failed")
        events = srv.poll_events()
        assert ("dtls", st, 3, 0, "certificate fingerprint does not match the SDP") in events
        assert (
            cli.transport_stats(ct)["dtls_state"] != "connected"
            or srv.transport_stats(st)["srtp_profile"] == 0
        )
        # and SRTP never starts: media from this peer is dropped as not ready
        assert srv.transport_stats(st)["srtp_profile"] == 0
    finally:
        cli.close()
        srv.close()


def test_a_long_stream_keeps_flowing_across_32768_packets(rig):
    """The consumer's start point is compared as an extended sequence number, not modulo 2^16."""
    r = rig(1)
    total = 33_500
    for k in range(0, total, 250):
        r.cli.send_rtp(
            r.cpub, [vp8(60_000 + i, i * 300, i == 0, size=60) for i in range(k, min(k + 250, total))]
        )
        time.sleep(0.003)
    assert wait(lambda: r.cli.transport_stats(r.subs[0][1])["sink_packets"] == total, 20), (
        r.cli.transport_stats(r.subs[0][1])["sink_packets"]
    )
    assert r.srv.consumer_stats(r.consumers[0])["packets"] == total


def test_resume_continues_the_sequence_and_timestamps(rig):
    r = rig(1)
    _, sub = r.subs[0]
    r.cli.send_rtp(r.cpub, [vp8(i, i * 3000, i == 0) for i in range(20)], abs_ext=ABS)
    assert wait(lambda: r.cli.transport_stats(sub)["sink_packets"] == 20)
    assert r.srv.pause_consumer(r.consumers[0], True)
    r.cli.send_rtp(r.cpub, [vp8(20 + i, (20 + i) * 3000, False) for i in range(30)], abs_ext=ABS)
    time.sleep(0.2)
    assert r.cli.transport_stats(sub)["sink_packets"] == 20  # paused: nothing went
    assert r.srv.pause_consumer(r.consumers[0], False)
    r.cli.send_rtp(r.cpub, [vp8(50 + i, (50 + i) * 3000, i == 0) for i in range(20)], abs_ext=ABS)
    assert wait(lambda: r.cli.transport_stats(sub)["sink_packets"] == 40)
    s = r.cli.transport_stats(sub)
    # one stream to the receiver: no gap, no replayed (rejected) packets
    assert s["sink_lost"] == 0 and s["sink_decrypt_errors"] == 0, s
    assert s["sink_streams"][5000]["received"] == 40


def test_no_media_after_ice_consent_expires(rig):
    r = rig(1)
    _, sub = r.subs[0]
    r.srv.set_consent_timeout(0.3)  # the client checks every 2.5 s once connected
    r.cli.send_rtp(r.cpub, [vp8(i, i * 3000, i == 0) for i in range(5)], abs_ext=ABS)
    assert wait(lambda: r.cli.transport_stats(sub)["sink_packets"] == 5)
    assert wait(lambda: r.srv.transport_stats(r.subs[0][0])["ice_state"] == "disconnected", 3)
    before = r.srv.consumer_stats(r.consumers[0])["packets"]
    r.cli.send_rtp(r.cpub, [vp8(5 + i, (5 + i) * 3000, False) for i in range(5)], abs_ext=ABS)
    time.sleep(0.1)
    assert r.srv.consumer_stats(r.consumers[0])["packets"] == before


def test_a_replayed_binding_request_from_elsewhere_moves_nothing():
    import socket

    from tests.native.test_ice import binding_request

    w = Worker()
    w.start()
    try:
        tid = w.create_transport("rep", PWD, False, "sha-256", bytes(32))
        a, b = (socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2))
        for s in (a, b):
            s.bind(("127.0.0.1", 0))
            s.settimeout(2)
        req = binding_request("rep:peer", PWD)
        a.sendto(req, ("127.0.0.1", w.port))
        a.recvfrom(2048)
        assert w.transport_stats(tid)["remote_port"] == a.getsockname()[1]
        b.sendto(req, ("127.0.0.1", w.port))  # the same bytes, captured and sent from another address
        b.recvfrom(2048)
        assert w.transport_stats(tid)["remote_port"] == a.getsockname()[1]
        a.sendto(req, ("127.0.0.1", w.port))  # a retransmission from the same place is fine
        a.recvfrom(2048)
        b.sendto(binding_request("rep:peer", PWD), ("127.0.0.1", w.port))  # a fresh request may move it
        b.recvfrom(2048)
        assert w.transport_stats(tid)["remote_port"] == b.getsockname()[1]
        a.close()
        b.close()
    finally:
        w.close()


def test_ice_first_dtls_peer_later():
    """A subscriber's transport answers ICE from the moment the offer is out; DTLS waits for the answer's
    fingerprint, and the keyframe request goes out only once the consumer can send."""
    srv, cli = Worker(), Worker()
    srv.start()
    cli.start()
    try:
        sfp = bytes.fromhex(srv.fingerprint.replace(":", ""))
        cfp = bytes.fromhex(cli.fingerprint.replace(":", ""))
        pub = srv.create_transport("p", PWD, False, "sha-256", cfp)
        cpub = cli.create_client_transport("127.0.0.1", srv.port, "cp", "p", PWD, "sha-256", sfp)
        st = srv.create_transport("early", PWD, False, "sha-256", b"")  # no peer yet
        ct = cli.create_client_transport(
            "127.0.0.1", srv.port, "c", "early", PWD, "sha-256", sfp, sink_abs_ext=ABS
        )
        assert wait(lambda: srv.transport_stats(st)["ice_state"] == "connected")
        assert wait(lambda: cli.transport_stats(cpub)["dtls_state"] == "connected")
        prod = srv.create_producer(pub, "video", 1234, 0, {96: "VP8"}, {}, 90000, {"abs_send_time": ABS}, "0")
        srv.create_consumer(st, prod, 7000, 0, {96: 96}, {}, {}, "0")
        time.sleep(0.2)
        assert srv.transport_stats(st)["dtls_state"] == "new"
        assert srv.stats()["plis_tx"] == 0  # nobody could use a keyframe yet
        srv.set_transport_dtls(st, False, "sha-256", cfp)
        assert wait(lambda: cli.transport_stats(ct)["dtls_state"] == "connected")
        assert wait(lambda: srv.stats()["plis_tx"] == 1)  # now the consumer can start
        cli.send_rtp(cpub, [vp8(i, i * 3000, i == 0) for i in range(10)], abs_ext=ABS)
        assert wait(lambda: cli.transport_stats(ct)["sink_packets"] == 10)
        with pytest.raises(Exception, match="already set"):
            srv.set_transport_dtls(st, False, "sha-256", cfp)
    finally:
        cli.close()
        srv.close()


def test_a_saturated_worker_batches_into_bursts_and_sheds_retransmissions(rig):
    """Issue 6 (overload): a worker that finds its socket still full after a whole drain forwards what
    piled up consumer by consumer (GSO bursts, nothing lost), counts the overload, and for a while
    answers no NACK, so fresh media gets the core; afterwards NACKs are answered again."""
    r = rig(4)
    r.cli.send_rtp(r.cpub, [vp8(i, i * 3000, i == 0, size=200) for i in range(10)], abs_ext=ABS)
    assert wait(lambda: all(r.cli.transport_stats(c)["sink_packets"] == 10 for _, c in r.subs))
    before = r.srv.stats()
    assert before["overloads"] == 0
    stall = threading.Thread(target=r.srv.stall, args=(0.4,))
    stall.start()
    time.sleep(0.05)
    burst = [vp8(10 + i, (10 + i // 4) * 3000, False, size=200) for i in range(1600)]  # > 16 x 64 queued
    for k in range(0, len(burst), 200):
        r.cli.send_rtp(r.cpub, burst[k : k + 200], abs_ext=ABS)
    stall.join()
    assert wait(lambda: all(r.cli.transport_stats(c)["sink_packets"] == 1610 for _, c in r.subs)), [
        r.cli.transport_stats(c)["sink_packets"] for _, c in r.subs
    ]
    after = r.srv.stats()
    assert after["overloads"] == 1
    assert all(r.cli.transport_stats(c)["sink_lost"] == 0 for _, c in r.subs)
    if r.srv.gso:
        sent = after["tx_packets"] - before["tx_packets"]
        assert after["tx_messages"] - before["tx_messages"] < sent / 4  # the backlog left in bursts
    _, sub_cli = r.subs[0]
    last = r.cli.transport_stats(sub_cli)["sink_streams"][5000]["max_seq"] & 0xFFFF
    assert r.cli.send_rtcp(sub_cli, build_nack(1, 5000, [(last - 2) & 0xFFFF]))
    assert wait(lambda: r.srv.stats()["rtx_shed"] == 1)
    assert r.srv.stats()["rtx_tx"] == before["rtx_tx"]
    time.sleep(0.25)  # the overload hold (200 ms) is over
    assert r.cli.send_rtcp(sub_cli, build_nack(1, 5000, [(last - 2) & 0xFFFF]))
    assert wait(lambda: r.srv.stats()["rtx_tx"] == before["rtx_tx"] + 1)
    assert r.srv.stats()["rtx_shed"] == 1


def test_consumers_made_first_are_served_first_in_their_order(rig):
    """A link to another node (issue 19) is served before the producer's other consumers in every batch,
    whatever the rotation among the others; the leaders keep their order when one of them or another
    consumer goes. Every consumer here is on one subscriber transport, so the order its packets reach
    the sink over that one path is the order the worker sent them in."""
    r = rig(1)
    st, ct = r.subs[0]
    r.srv.close_consumer(r.consumers[0])
    made: dict[int, int] = {}

    def consumer(ssrc: int, first: bool) -> None:
        made[ssrc] = r.srv.create_consumer(
            st, r.producer, ssrc, 0, {96: 100}, {}, {"abs_send_time": ABS}, "0", first=first
        )

    for ssrc, first in ((5100, False), (5200, True), (5101, False), (5201, True), (5102, False)):
        consumer(ssrc, first)
    r.cli.capture(ct)  # starts the capture
    sent = iter(range(1000))

    def orders(batches: int) -> list[list[int]]:
        """For each of ``batches`` packets sent alone (a keyframe: every consumer takes it), the SSRCs it
        went out to, in the order they arrived."""
        out = []
        for _ in range(batches):
            seq = next(sent)
            r.cli.send_rtp(r.cpub, [vp8(seq, seq * 3000, True, marker=True)], abs_ext=ABS)
            got: list = []
            assert wait(lambda got=got: bool(got.extend(r.cli.capture(ct))) or len(got) >= len(made)), got
            assert len(got) == len(made), got
            out.append([p[1] for p in got])
        return out

    seen = orders(6)
    for o in seen:
        assert o[:2] == [5200, 5201] and sorted(o[2:]) == [5100, 5101, 5102], o  # the leaders, in order
    assert len({tuple(o[2:]) for o in seen}) > 1, seen  # the others still take turns at the front
    r.srv.close_consumer(made.pop(5200))
    r.srv.close_consumer(made.pop(5101))
    for o in orders(4):
        assert o[0] == 5201 and sorted(o[1:]) == [5100, 5102], o
    consumer(5202, True)
    for o in orders(4):
        assert o[:2] == [5201, 5202] and sorted(o[2:]) == [5100, 5102], o
