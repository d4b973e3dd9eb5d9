"""Bandwidth estimation core (native/core/bwe.c through native._bwe).

Transport-cc feedback round trips (property tests), hand-built feedback in the draft's chunk formats, REMB,
and the estimator on the synthetic link of bwe_sim (capacity drops and rises, random loss, low capacity,
REMB-only fallback), plus fuzzing of the parsers and of the estimator's feedback input.
"""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import pytest

from tests.native.testbuild import built_module

bwe = built_module("native._bwe")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bwe_sim import Link, Sim  # noqa: E402

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
RANGE_US = (1 << 24) * 64000


def test_struct_sizes_are_modest():
    assert bwe.SIZEOF_RESULT == 16
    assert bwe.SIZEOF_BWE + bwe.SIZEOF_TWCC_RX < 24 * 1024


# ------------------------------------------------------------------ transport-cc round trips


def feed_and_collect(rx, deliveries, builds_at=(), cap=1200):
    """Delivers (seq, arrival) in order, building feedback after the given delivery indexes and at the end;
    returns the parsed (seq, recv_us) list in report order and the feedback packets."""
    packets = []
    builds = set(builds_at)
    for i, (seq, arrival) in enumerate(deliveries):
        rx.on_packet(seq, arrival)
        if i in builds:
            packets += rx.build_all(cap)
    packets += rx.build_all(cap)
    reports = []
    counts = []
    for p in packets:
        assert len(p) % 4 == 0 and len(p) <= max(cap, bwe.FB_MIN)
        assert p[0] & 0xC0 == 0x80 and p[0] & 0x1F == 15 and p[1] == 205
        assert (struct.unpack("!H", p[2:4])[0] + 1) * 4 == len(p)
        parsed = bwe.parse_twcc(p)
        assert parsed is not None
        counts.append(parsed[0])
        reports += parsed[1]
    assert counts == [i & 0xFF for i in range(len(counts))]  # feedback packet count
    return reports


def check_reports(reports, first_arrival, ext_of):
    """Every sequence number from the lowest to the highest received comes back exactly once, in order:
    received ones with their arrival time (to 125 us: rounding to 250 us units), the others as lost."""
    received_exts = sorted(ext_of[s] for s in first_arrival)
    lo, hi = received_exts[0], received_exts[-1]
    assert [s for s, _ in reports] == [e & 0xFFFF for e in range(lo, hi + 1)]
    for seq, recv in reports:
        if seq in first_arrival:
            assert recv >= 0
            assert abs(recv - first_arrival[seq] % RANGE_US) <= 125, (seq, recv, first_arrival[seq])
        else:
            assert recv == bwe.LOST


@st.composite
def patterns(draw):
    return dict(
        seed=draw(st.integers(0, 2**32 - 1)),
        start=draw(st.integers(0, 65535)),
        n=draw(st.integers(1, 1000)),
        loss=draw(st.sampled_from([0.0, 0.02, 0.3, 0.9])),
        reorder=draw(st.sampled_from([0.0, 0.05, 0.3])),
        dup=draw(st.sampled_from([0.0, 0.05])),
        big=draw(st.sampled_from([0.0, 0.005, 0.02])),
        cap=draw(st.sampled_from([bwe.FB_MIN, 40, 64, 200, 1200, 1500])),
    )


def make_deliveries(p):
    rng = random.Random(p["seed"])
    t = 1_000_000_000 + rng.randrange(64000)
    arrivals = []  # [ext seq, arrival]
    for i in range(p["n"]):
        if rng.random() < p["big"]:
            t += rng.choice([8_191_500, 8_192_250, 9_000_000, 20_000_000])
        else:
            t += rng.choice([0, rng.randint(0, 1000), rng.randint(0, 70_000)])
        if rng.random() >= p["loss"]:
            arrivals.append([p["start"] + i, t])
    for i in range(len(arrivals) - 1):
        if rng.random() < p["reorder"]:  # seq i arrives after seq i+1
            arrivals[i][1], arrivals[i + 1][1] = arrivals[i + 1][1], arrivals[i][1]
    deliveries = [(e, a) for e, a in arrivals]
    for e, a in arrivals:
        if rng.random() < p["dup"]:
            deliveries.append((e, a + rng.randint(0, 50_000)))
    deliveries.sort(key=lambda x: x[1])
    return rng, [(e & 0xFFFF, a) for e, a in deliveries], {e & 0xFFFF: e for e, _ in arrivals}


@PROPS
@given(patterns())
def test_feedback_round_trip_with_loss_reorder_duplicates_wrap_and_gaps(p):
    """All arrivals of a window (< 1024 packets) reported at once, split over packets as cap requires."""
    rng, deliveries, ext_of = make_deliveries(p)
    if not deliveries:
        rx = bwe.TwccRx()
        assert rx.build() is None
        return
    first = {}
    for s, a in deliveries:
        first.setdefault(s, a)
    reports = feed_and_collect(bwe.TwccRx(), deliveries, cap=p["cap"])
    check_reports(reports, first, ext_of)


@PROPS
@given(patterns())
def test_feedback_round_trip_with_feedback_every_few_packets(p):
    """In-order arrivals with feedback built at random moments: each packet is reported exactly once."""
    p = dict(p, reorder=0.0)
    rng, deliveries, ext_of = make_deliveries(p)
    if not deliveries:
        return
    first = {}
    for s, a in deliveries:
        first.setdefault(s, a)
    builds = [i for i in range(len(deliveries)) if rng.random() < 0.05]
    reports = feed_and_collect(bwe.TwccRx(), deliveries, builds, cap=p["cap"])
    check_reports(reports, first, ext_of)


def test_feedback_needing_two_byte_deltas_and_several_packets():
    rx = bwe.TwccRx()
    t = 5_000_000
    sent = {}
    for i in range(600):
        seq = (65400 + i) & 0xFFFF
        t += 300_000 if i % 50 == 0 else 700  # large gaps: 2-byte deltas; small: 1-byte
        if i % 7 != 3:
            rx.on_packet(seq, t)
            sent[seq] = t
    packets = rx.build_all(200)
    assert len(packets) >= 3
    reports = [r for p in packets for r in bwe.parse_twcc(p)[1]]
    assert len(reports) == 600  # first and last are received: the whole range is reported
    for seq, recv in reports:
        if seq in sent:
            assert abs(recv - sent[seq]) <= 125
        else:
            assert recv == bwe.LOST
    assert rx.build() is None


def test_arrivals_more_than_8_s_apart_split_the_feedback():
    rx = bwe.TwccRx()
    rx.on_packet(10, 1_000_000)
    rx.on_packet(11, 1_000_000 + 8_300_000)
    rx.on_packet(12, 1_000_000 + 8_301_000)
    packets = rx.build_all()
    assert len(packets) == 2
    got = [r for p in packets for r in bwe.parse_twcc(p)[1]]
    assert got == [(10, 1_000_000), (11, 9_300_000), (12, 9_301_000)]


def test_receiver_ring_keeps_the_newest_1024():
    rx = bwe.TwccRx()
    for i in range(3000):
        if i % 10 != 9:
            rx.on_packet(i & 0xFFFF, 1_000_000 + 1000 * i)
    reports = [r for p in rx.build_all(1500) for r in bwe.parse_twcc(p)[1]]
    assert [s for s, _ in reports] == list(range(2999 - bwe.RX_RING, 2999))  # 2999 was lost
    for seq, recv in reports:
        assert recv == (bwe.LOST if seq % 10 == 9 else 1_000_000 + 1000 * seq)


def test_late_packet_after_its_feedback_is_ignored_and_renumbering_restarts():
    rx = bwe.TwccRx()
    rx.on_packet(1, 1000)
    rx.on_packet(3, 3000)
    assert bwe.parse_twcc(rx.build())[1] == [(1, 1000), (2, bwe.LOST), (3, 3000)]
    rx.on_packet(2, 4000)  # too late: it already went out as lost
    assert rx.build() is None
    for i in range(128):  # the sender starts again from far away
        rx.on_packet((40000 + i) & 0xFFFF, 10_000 + i * 1000)
    reports = [r for p in rx.build_all() for r in bwe.parse_twcc(p)[1]]
    assert reports and reports[-1] == (40127, 137_000)


# ------------------------------------------------------------------ hand-built feedback (draft formats)


def rtcp_fb(base, count, ref, fbc, body, p_bit=False, pad_to=4):
    payload = struct.pack("!IIHHI", 0x11111111, 0x22222222, base, count, (ref << 8) | fbc) + body
    n = 4 + len(payload)
    pad = (-n) % pad_to
    if p_bit and pad:
        payload += b"\0" * (pad - 1) + bytes([pad])
    else:
        payload += b"\0" * pad
    first = 0x80 | (0x20 if p_bit and pad else 0) | 15
    return struct.pack("!BBH", first, 205, (4 + len(payload)) // 4 - 1) + payload


def test_parse_one_bit_vector_and_run_length_chunk_across_the_wrap():
    # 1-bit status vector |1|0|1 1 0 1 0 0 0 1 1 1 1 1 0 1| then a run of three "large delta" |0|10|3|
    chunks = struct.pack("!HH", 0x8000 | 0b11010001111101, 0x4000 | 3)
    small = bytes([4, 0, 255, 1, 2, 3, 4, 5, 6])
    large = struct.pack("!hhh", -4, 1000, 32767)
    pkt = rtcp_fb(65533, 17, 16, 7, chunks + small + large)
    fbc, res = bwe.parse_twcc(pkt)
    assert fbc == 7
    t0 = 16 * 64000
    L = bwe.LOST
    assert res == [
        (65533, t0 + 1000),
        (65534, t0 + 1000),
        (65535, L),
        (0, t0 + 64750),
        (1, L),
        (2, L),
        (3, L),
        (4, t0 + 65000),
        (5, t0 + 65500),
        (6, t0 + 66250),
        (7, t0 + 67250),
        (8, t0 + 68500),
        (9, L),
        (10, t0 + 70000),
        (11, t0 + 69000),
        (12, t0 + 319000),
        (13, t0 + 319000 + 32767 * 250),
    ]
    assert bwe.parse_twcc(pkt, 5)[1] == res[:5]  # max results
    assert bwe.parse_twcc(pkt[:-4]) is None  # truncated: length field says more


def test_parse_two_bit_vector_run_of_221_lost_and_padding_bit():
    # 2-bit vector |1|1|01 10 00 11 01 00 10|, the run of 221 "not received" |0|00|221|, a run of 2 small
    chunks = struct.pack("!HHH", 0xC000 | 0b01100011010010, 221, 0x2000 | 2)
    deltas = bytes([40]) + struct.pack("!h", -32768) + bytes([4]) + struct.pack("!h", 256) + bytes([1, 1])
    ref = 0x800000  # unsigned: the top bit is not a sign
    pkt = rtcp_fb(100, 230, ref, 255, chunks + deltas, p_bit=True)
    assert pkt[0] & 0x20 and pkt[-1] == 2
    fbc, res = bwe.parse_twcc(pkt)
    assert fbc == 255 and len(res) == 230
    t = ref * 64000
    assert res[:7] == [
        (100, t + 10_000),
        (101, t + 10_000 - 8_192_000),
        (102, bwe.LOST),
        (103, bwe.NO_TIME),
        (104, t - 8_181_000),
        (105, bwe.LOST),
        (106, t - 8_117_000),
    ]
    assert all(r == (107 + i, bwe.LOST) for i, r in enumerate(res[7:228]))
    assert res[228:] == [(328, t - 8_116_750), (329, t - 8_116_500)]


def test_parse_rejects_what_is_not_valid_feedback():
    good = rtcp_fb(1, 2, 0, 0, struct.pack("!H", 0x2000 | 2) + bytes([1, 2]))
    assert bwe.parse_twcc(good)[1] == [(1, 250), (2, 750)]
    assert bwe.parse_twcc(good + b"extra bytes of a compound packet")[1] == [(1, 250), (2, 750)]
    assert bwe.parse_twcc(good[:-4]) is None  # length field says more
    assert bwe.parse_twcc(rtcp_fb(1, 0, 0, 0, b"")) is None  # empty feedback
    assert bwe.parse_twcc(rtcp_fb(1, 3, 0, 0, struct.pack("!H", 0x2000 | 2) + bytes([1, 2]))) is None
    assert bwe.parse_twcc(rtcp_fb(1, 2, 0, 0, struct.pack("!H", 0x4000 | 2) + bytes([1, 2]))) is None
    bad_pt = bytearray(good)
    bad_pt[1] = 206
    assert bwe.parse_twcc(bytes(bad_pt)) is None
    bad_fmt = bytearray(good)
    bad_fmt[0] = 0x80 | 1  # generic NACK
    assert bwe.parse_twcc(bytes(bad_fmt)) is None
    bad_pad = bytearray(good)
    bad_pad[0] |= 0x20
    bad_pad[-1] = 0  # P bit with a zero padding count
    assert bwe.parse_twcc(bytes(bad_pad)) is None


# ------------------------------------------------------------------ REMB


def test_remb_hand_built_and_round_trip():
    pkt = (
        bytes.fromhex("8fce00050000000100000000")
        + b"REMB"
        + bytes([1, (3 << 2) | 1, 0x23, 0x45])
        + bytes.fromhex("deadbeef")
    )
    assert bwe.parse_remb(pkt) == 0x12345 << 3
    assert bwe.parse_remb(pkt[:20]) is None  # one SSRC announced, none present
    for bps in [0, 1, 1000, 0x3FFFF, 0x40000, 700_000, 2_500_000, 123_456_789, 2**32 - 1]:
        built = bwe.build_remb(0xABCD, bps, [1, 2, 3])
        assert len(built) == 32 and built[1] == 206 and built[0] & 0x1F == 15
        got = bwe.parse_remb(built)
        assert got <= bps and bps - got <= bps / 2**17
    huge = bytearray(bwe.build_remb(1, 1, []))
    huge[17] = (63 << 2) | 3  # exponent 63: saturates
    assert bwe.parse_remb(bytes(huge)) == 2**32 - 1
    assert bwe.parse_remb(bytes(huge).replace(b"REMB", b"REMX")) is None


# ------------------------------------------------------------------ fuzzing the parsers


def valid_packets():
    rx = bwe.TwccRx()
    rng = random.Random(5)
    for i in range(300):
        if rng.random() > 0.2:
            rx.on_packet((65500 + i) & 0xFFFF, 1_000_000 + i * rng.randint(0, 40_000))
    return rx.build_all(300) + [bwe.build_remb(1, 1_234_567, [9, 8])]


VALID = valid_packets()


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    for p in (data, b"\x8f\xcd" + data, b"\x8f\xce" + data, b"\xaf\xcd" + data):
        r = bwe.parse_twcc(p)
        if r is not None:
            assert all(recv >= -2 for _, recv in r[1])
            assert len(r[1]) <= struct.unpack("!H", p[14:16])[0]
        b = bwe.parse_remb(p)
        assert b is None or 0 <= b < 2**32


@FUZZ
@given(
    st.integers(0, len(VALID) - 1),
    st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)), max_size=8),
    st.integers(0, 2000),
)
def test_fuzz_mutated_packets(which, flips, cut):
    p = bytearray(VALID[which])
    for pos, val in flips:
        p[pos % len(p)] = val
    p = bytes(p[: max(0, len(p) - cut % 8)])
    r = bwe.parse_twcc(p)
    if r is not None:
        assert all(recv >= -2 for _, recv in r[1])
    bwe.parse_remb(p)
    est = bwe.Bwe(1_000_000, 50_000, 5_000_000)
    for i in range(300):
        est.on_sent((65500 + i) & 0xFFFF, 1200, 1_000_000 + i * 3000)
    est.on_feedback_packet(p, 2_000_000)
    assert 50_000 <= est.estimate <= 5_000_000


# ------------------------------------------------------------------ estimator robustness


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.integers(0, 65535),
            st.one_of(st.integers(-3, 2**41), st.sampled_from([-1, -2, 0, 2**63 - 1, -(2**63)])),
        ),
        max_size=400,
    ),
    st.integers(0, 2**40),
    st.integers(-(10**9), 10**9),
)
def test_garbage_feedback_keeps_the_estimate_bounded(results, now, rtt):
    est = bwe.Bwe(1_000_000, 50_000, 5_000_000)
    est.on_rtt(rtt)
    cid = est.probe_start(3_000_000, 0)
    for i in range(600):
        est.on_sent((65200 + i) & 0xFFFF, 1200, 1_000_000 + i * 4000, cid if i < 20 else -1)
    est.on_feedback(results, now)
    est.on_feedback(list(reversed(results)), now + 50_000)
    assert 50_000 <= est.estimate <= 5_000_000
    assert est.state in (0, 1, 2) and est.detector in (0, 1, 2)
    assert 0 <= est.should_probe(10_000_000, now + 10**7) <= 5_000_000


def test_estimator_recovers_after_garbage_and_duplicate_feedback():
    b = bwe.Bwe(2_500_000, 30_000, 10_000_000)
    sim = Sim(b, Link(3_000_000), seed=3)
    sim.run(5_000_000)
    rng = random.Random(1)
    base = sim.seq
    for _ in range(20):
        b.on_feedback(
            [
                ((base - rng.randint(0, 800)) & 0xFFFF, rng.choice([-1, rng.randint(0, 2**40)]))
                for _ in range(200)
            ],
            sim.t_us,
        )
    assert 30_000 <= b.estimate <= 10_000_000
    sim.link.capacity_bps = 700_000
    sim.run(12_000_000)
    assert max(s.estimate for s in sim.window(9_000_000)) <= 770_000
    # the same feedback twice changes nothing the second time
    rx = bwe.TwccRx()
    b2 = bwe.Bwe(1_000_000, 30_000, 10_000_000)
    for i in range(200):
        b2.on_sent(i, 1200, 1000 * 10 * i)
        rx.on_packet(i, 50_000 + 1000 * 10 * i)
    pkts = rx.build_all()
    for p in pkts:
        b2.on_feedback_packet(p, 2_100_000)
    before = (b2.estimate, b2.acked_bps, b2.delay_bps)
    for p in pkts:
        b2.on_feedback_packet(p, 2_100_000)
    assert (b2.estimate, b2.acked_bps, b2.delay_bps) == before


# ------------------------------------------------------------------ estimator on synthetic traces


def run(capacity, seconds, start=2_500_000, seed=1, **link):
    sim = Sim(bwe.Bwe(start, 30_000, 10_000_000), Link(capacity, **link), seed=seed)
    sim.run(int(seconds * 1e6))
    return sim


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_capacity_below_start_estimate_falls_within_2_s_and_settles(seed):
    sim = run(700_000, 20, seed=seed)
    assert sim.seq > 65536  # the sequence numbers wrapped
    fell = sim.first_time(lambda s: s.estimate <= 700_000)
    assert fell is not None and fell <= 2_000_000
    settled = [s.estimate for s in sim.window(2_000_000)]
    assert 550_000 <= min(settled) and max(settled) <= 770_000
    assert 580_000 <= sum(settled) / len(settled) <= 700_000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_capacity_rise_is_found_by_probing_within_10_s(seed):
    sim = run(700_000, 10, seed=seed)
    before = sim.probes_started
    sim.link.capacity_bps = 3_000_000
    sim.run(25_000_000)
    up = sim.first_time(lambda s: s.estimate > 2_000_000, after_us=10_000_000)
    assert up is not None and up - 10_000_000 <= 10_000_000
    assert sim.probes_started > before
    late = [s.estimate for s in sim.window(20_000_000)]
    assert min(late) >= 2_000_000 and max(late) <= 3_300_000


def test_without_probing_the_rise_is_slower():
    sim = Sim(bwe.Bwe(2_500_000, 30_000, 10_000_000), Link(700_000), probing=False)
    sim.run(10_000_000)
    sim.link.capacity_bps = 3_000_000
    sim.run(20_000_000)  # 8 %/s, then additive: below 2 Mbit/s at 10 s
    assert sim.samples[-1].estimate < 2_000_000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_loss_of_3_percent_with_100_ms_rtt_keeps_the_estimate_up(seed):
    sim = Sim(
        bwe.Bwe(2_500_000, 30_000, 10_000_000),
        Link(3_000_000, delay_us=50_000, loss=0.03),
        seed=seed,
        feedback_loss=0.03,
    )
    sim.run(30_000_000)
    assert min(s.estimate for s in sim.samples) > 1_500_000
    assert sum(s.estimate for s in sim.window(5_000_000)) / len(sim.window(5_000_000)) > 2_400_000


def test_heavy_random_loss_brings_the_estimate_down():
    sim = run(3_000_000, 15, loss=0.2)
    assert sim.samples[-1].estimate < 1_000_000


@pytest.mark.parametrize("seed", [1, 2])
def test_low_capacity_of_300_kbits_settles_near_it(seed):
    sim = run(300_000, 30, seed=seed)
    settled = [s.estimate for s in sim.window(8_000_000)]
    assert 240_000 <= min(settled) and max(settled) <= 370_000
    assert 260_000 <= sum(settled) / len(settled) <= 320_000


def test_remb_only_fallback_follows_remb_and_rr_losses():
    b = bwe.Bwe(2_500_000, 30_000, 10_000_000)
    t = 0
    for remb in [800_000, 1_500_000, 600_000, 3_000_000]:
        b.on_remb(remb, t)
        assert b.estimate == remb
        t += 1_000_000
    assert b.should_probe(5_000_000, t) == 0  # no transport-cc: nothing would measure a probe
    b.on_remb(1_000_000, t)
    for _ in range(4):  # 23 % loss in receiver reports
        t += 500_000
        b.on_loss(60, t)
    low = b.estimate
    assert low < 700_000
    for _ in range(30):  # no loss: climbs back, never above REMB
        t += 500_000
        b.on_loss(0, t)
        assert b.estimate <= 1_000_000
    assert b.estimate == 1_000_000
    b.on_remb(20_000_000, t)
    assert b.estimate == 10_000_000  # bounded by max
    b.on_remb(0, t)
    assert b.estimate == 30_000  # bounded by min, never zero


def test_remb_caps_transport_cc_estimate_while_fresh():
    sim = run(3_000_000, 6)
    b = sim.bwe
    assert b.estimate > 2_000_000
    b.on_remb(1_000_000, sim.t_us)
    assert b.estimate == 1_000_000
    sim.run(
        sim.t_us + 2_000_000,
        on_tick=lambda s: s.bwe.on_remb(1_000_000, s.t_us) if s.t_us % 500_000 == 0 else None,
    )
    assert max(s.estimate for s in sim.window(6_100_000)) <= 1_000_000
    sim.run(sim.t_us + 5_000_000)  # REMB stops: after 3 s it no longer caps
    assert sim.samples[-1].estimate > 1_000_000


def test_probe_cluster_result_lifts_the_estimate():
    b = bwe.Bwe(1_000_000, 30_000, 10_000_000)
    t = 1_000_000
    seq = 0
    results = []
    for i in range(100):  # 1 Mbit/s of media, delivered
        b.on_sent(seq, 1200, t + i * 9600)
        results.append((seq, 5_000_000 + i * 9600))
        seq += 1
    b.on_feedback(results, t + 1_000_000)
    assert b.estimate < 1_200_000
    assert b.should_probe(5_000_000, t + 1_000_000) == 2 * b.estimate
    start = b.estimate
    cid = b.probe_start(4_000_000, t + 1_000_000)
    results = []
    for i in range(10):  # 10 x 1200 B at 4 Mbit/s: 2.4 ms apart
        b.on_sent(seq, 1200, t + 1_000_000 + i * 2400, cid)
        results.append((seq, 6_000_000 + i * 2400))
        seq += 1
    b.on_feedback(results, t + 1_100_000)
    assert 3_800_000 <= b.estimate <= 4_100_000 > start
    assert b.should_probe(20_000_000, t + 1_100_000) == 0  # paced
    assert b.should_probe(20_000_000, t + 1_400_000) > 0  # success: the next may follow soon
    # a probe squeezed by a 2 Mbit/s bottleneck reports 95 % of what arrived
    cid = b.probe_start(8_000_000, t + 1_400_000)
    results = []
    for i in range(10):
        b.on_sent(seq, 1200, t + 1_400_000 + i * 1200, cid)
        results.append((seq, 6_400_000 + i * 4800))
        seq += 1
    before = b.estimate
    b.on_feedback(results, t + 1_500_000)
    assert b.estimate <= before  # 1.9 Mbit/s: below the estimate, ignored


def test_probe_pacing_backs_off_after_failures():
    b = bwe.Bwe(1_000_000, 30_000, 10_000_000)
    assert b.should_probe(1_050_000, 0) == 0  # wanted within 10 % of the estimate
    assert b.should_probe(50_000_000, 0) == 2_000_000  # at most twice the estimate
    starts = []
    t = 0
    while t < 12_000_000:
        if b.should_probe(5_000_000, t):
            b.probe_start(2_000_000, t)
            starts.append(t)
        t += 10_000
    gaps = [b2 - a for a, b2 in zip(starts, starts[1:], strict=False)]
    assert gaps[:3] == [1_000_000, 2_000_000, 3_000_000] and set(gaps[3:]) == {3_000_000}


@pytest.mark.parametrize("jitter_us,reorder", [(10_000, False), (20_000, False), (2_000, True)])
def test_jitter_and_light_reordering_do_not_collapse_the_estimate(jitter_us, reorder):
    sim = run(3_000_000, 30, jitter_us=jitter_us, reorder=reorder)
    w = [s.estimate for s in sim.window(5_000_000)]
    assert min(w) > 1_500_000 and sum(w) / len(w) > 2_300_000
    sim = run(700_000, 20, jitter_us=jitter_us, reorder=reorder)
    w = [s.estimate for s in sim.window(3_000_000)]
    assert 560_000 <= sum(w) / len(w) <= 700_000
