"""Issue 14 finding 10: a subscriber's NACKs cannot make the media core an amplifier. Every consumer, with or
without transport-cc in the subscriber's answer, has a NACK budget (native/core/worker.h, MS_RTX_*): a cap
on the sequence numbers honoured per RTCP packet, a packet at most once per round trip, and a token bucket of
a share of what it forwards plus a floor. Driven over UDP: the server is the core's worker, the subscriber a
real DTLS-SRTP peer (the core's client transport) whose socket counts what the server sent it."""

from __future__ import annotations

import math
import struct
import time
from collections import Counter

import pytest

from native._core import RTX_BUDGET, Worker, build_nack

PWD = "subscriberpassword012345"
ABS, TWCC = 3, 5
SSRC, RTX_SSRC, PT, RTX_PT = 5000, 6000, 100, 101


def vp8(seq: int, ts: int, key: bool, size: int) -> bytes:
    ext = struct.pack("!HH", 0xBEDE, 1) + bytes([(ABS << 4) | 2, 0, 0, 0])
    desc = bytes([0x10, 0x00 if key else 0x01])
    return struct.pack("!BBHII", 0x90, 96, seq & 0xFFFF, ts, 1234) + ext + desc + bytes(size)


def wait(pred, timeout: float = 5.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


class Subscriber:
    """A publisher and one subscriber (with RTX; transport-cc negotiated or not) on a server worker; the
    subscriber is a client transport of a second worker."""

    def __init__(self, twcc: bool) -> None:
        self.twcc = twcc
        self.srv, self.cli = Worker(), Worker()
        self.srv.start()
        self.cli.start()
        sfp = bytes.fromhex(self.srv.fingerprint.replace(":", ""))
        cfp = bytes.fromhex(self.cli.fingerprint.replace(":", ""))
        pub = self.srv.create_transport("pub", PWD, False, "sha-256", cfp)
        self.cpub = self.cli.create_client_transport(
            "127.0.0.1", self.srv.port, "cp", "pub", PWD, "sha-256", sfp
        )
        st = self.srv.create_transport("sub", PWD, False, "sha-256", cfp)
        self.sub = self.cli.create_client_transport(
            "127.0.0.1", self.srv.port, "cs", "sub", PWD, "sha-256", sfp, sink_abs_ext=ABS
        )
        assert wait(
            lambda: all(
                self.cli.transport_stats(t)["dtls_state"] == "connected" for t in (self.cpub, self.sub)
            )
        )
        prod = self.srv.create_producer(
            pub, "video", 1234, 0, {96: "VP8"}, {}, 90000, {"abs_send_time": ABS}, "0"
        )
        ext = {"abs_send_time": ABS, **({"twcc": TWCC} if twcc else {})}
        self.consumer = self.srv.create_consumer(st, prod, SSRC, RTX_SSRC, {96: PT}, {PT: RTX_PT}, ext, "0")
        self.sent = 0

    def publish(self, n: int, size: int, seconds: float) -> None:
        """n packets of size payload bytes, evenly over seconds (the first a keyframe)."""
        for k in range(0, n, 10):
            self.cli.send_rtp(
                self.cpub,
                [
                    vp8(self.sent + i, (self.sent + i) * 300, self.sent + i == 0, size)
                    for i in range(k, min(k + 10, n))
                ],
                abs_ext=ABS,
            )
            time.sleep(seconds * 10 / n)
        self.sent += n
        assert wait(
            lambda: (
                self.cli.transport_stats(self.sub)["sink_streams"].get(SSRC, {}).get("received") == self.sent
            )
        )

    def last_seq(self) -> int:
        return self.cli.transport_stats(self.sub)["sink_streams"][SSRC]["max_seq"] & 0xFFFF

    def retransmitted(self) -> Counter[int]:
        """The original sequence numbers of the RTX packets the subscriber received since the last call."""
        return Counter(
            struct.unpack("!H", payload[:2])[0]
            for _, ssrc, *_, payload in self.cli.capture(self.sub)
            if ssrc == RTX_SSRC and len(payload) >= 2  # not a bandwidth probe (padding only)
        )

    def close(self) -> None:
        self.cli.close()
        self.srv.close()


@pytest.fixture(params=[False, True], ids=["no-transport-cc", "transport-cc"])
def subscriber(request):
    s = Subscriber(request.param)
    yield s
    s.close()


def test_a_nack_flood_gets_at_most_the_budget_on_the_wire(subscriber):
    """Issue 14 finding 10: 1 s of RTCP packets, each a NACK for one packet (again and again) and four NACKs
    of 64 other sequence numbers each, sent to the server over SRTCP. Before the fix a subscriber without
    transport-cc got every one back (about 25,700 packets); now its socket receives at most the budget, the
    same packet at most once per round trip, and the core counts each refusal by reason."""
    s = subscriber
    s.publish(300, 100, 1.0)
    time.sleep(1.1)  # the forwarded rate is measured; no originals from now on, so it only decays
    bps = s.srv.consumer_stats(s.consumer)["bps"]
    assert bps > 0
    last = s.last_seq()
    hot = (last - 150) & 0xFFFF
    window = [(last - 299 + i) & 0xFFFF for i in range(300)]
    s.retransmitted()  # starts the capture
    before = s.cli.transport_stats(s.sub)["rx_bytes"]
    t0 = time.monotonic()
    for k in range(100):
        compound = build_nack(1, SSRC, [hot]) + b"".join(
            build_nack(1, SSRC, window[(k * 64 + j * 64) % 236 : (k * 64 + j * 64) % 236 + 64])
            for j in range(4)
        )
        assert s.cli.send_rtcp(s.sub, compound)
        time.sleep(0.01)
    time.sleep(0.3)  # the tail of what the last ones asked for
    elapsed = time.monotonic() - t0
    received = s.cli.transport_stats(s.sub)["rx_bytes"] - before
    got = s.retransmitted()
    rate = bps / 8 * RTX_BUDGET["share_pct"] / 100 + RTX_BUDGET["floor_bytes"]  # bytes per second
    allowed = rate * RTX_BUDGET["burst_ms"] / 1000 + rate * elapsed + 1500  # + reports and consent answers
    assert received <= allowed, (received, allowed, sum(got.values()))
    assert 0 < got[hot] <= math.ceil(elapsed * 1e6 / RTX_BUDGET["rtt_default_us"]) + 1, got[hot]
    st, cs = s.srv.stats(), s.srv.consumer_stats(s.consumer)
    assert st["rtx_refused_rtcp"] > 0 and st["rtx_refused_repeat"] > 0
    # over the rate: the consumer's bucket, or first the transport's share of its estimate (transport-cc)
    assert st["rtx_refused_rate"] > 0 or (s.twcc and st["rtx_skipped"] > 0), st
    assert cs["rtx_refused"] == st["rtx_refused_rtcp"] + st["rtx_refused_repeat"] + st["rtx_refused_rate"]
    assert cs["rtx"] == sum(got.values()) == st["rtx_tx"]
    # what the subscriber got still counts as media: nothing was mangled
    assert s.cli.transport_stats(s.sub)["sink_decrypt_errors"] == 0


def test_loss_at_a_realistic_rate_is_still_repaired(subscriber):
    """Issue 14 finding 10: the budget leaves honest repair alone. A receiver that loses 5% of a 0.8 Mbit/s
    stream NACKs each lost packet as it notices the gap, and two of them again more than a round trip later
    (as if their retransmission was lost too): every one is retransmitted, nothing is refused."""
    s = subscriber
    s.publish(100, 1000, 1.0)
    s.retransmitted()
    nacked: list[int] = []
    for _ in range(2):
        for k in range(100):
            s.cli.send_rtp(s.cpub, [vp8(s.sent + k, (s.sent + k) * 300, False, 1000)], abs_ext=ABS)
            if k % 20 == 10:
                n = s.sent + k + 1
                assert wait(lambda n=n: s.cli.transport_stats(s.sub)["sink_streams"][SSRC]["received"] == n)
                nacked.append(s.last_seq())
                assert s.cli.send_rtcp(s.sub, build_nack(1, SSRC, [nacked[-1]]))
            time.sleep(0.01)
        s.sent += 100
        time.sleep(0.15)  # longer than a round trip
        assert s.cli.send_rtcp(s.sub, build_nack(1, SSRC, nacked[-5:-3]))
    assert wait(lambda: s.srv.consumer_stats(s.consumer)["rtx"] == len(nacked) + 4)
    time.sleep(0.1)
    got = s.retransmitted()
    assert got == Counter({seq: 2 if seq in nacked[0:2] + nacked[5:7] else 1 for seq in nacked}), got
    assert s.srv.consumer_stats(s.consumer)["rtx_refused"] == 0
