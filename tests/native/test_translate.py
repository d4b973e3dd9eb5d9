"""The sequence number / timestamp / picture-ID translation unit on its own (native/core/translate.h
through the test binding native._units): wrap-around of 16-bit sequence numbers, 32-bit timestamps that
only move forward, VP8 picture IDs in 15 and 7 bits and TL0PICIDX in 8 bits, across layer switches,
retransmissions and temporal-layer drops; then a property test over random switch sequences."""

from __future__ import annotations

import pytest

from tests.native.testbuild import built_module

units = built_module("native._units")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

M16, M32 = 0xFFFF, 0xFFFFFFFF


def vp8(
    pic: int | None = None,
    tl0: int | None = None,
    tid: int | None = None,
    y: bool = False,
    start: bool = True,
    wide: bool = True,
    body: bytes = b"\x10\x02\x9d",
) -> bytes:
    """A VP8 payload descriptor (RFC 7741 4.2) with the optional fields asked for, then a few payload
    bytes."""
    x = (0x80 if pic is not None else 0) | (0x40 if tl0 is not None else 0) | (0x20 if tid is not None else 0)
    out = bytearray([0x80 | (0x10 if start else 0), x])
    if pic is not None:
        out += bytes([0x80 | (pic >> 8) & 0x7F, pic & 0xFF]) if wide else bytes([pic & 0x7F])
    if tl0 is not None:
        out.append(tl0 & 0xFF)
    if tid is not None:
        out.append((tid << 6) | (0x20 if y else 0))
    return bytes(out) + body


def desc(payload: bytes) -> dict:
    """Picture ID and TL0PICIDX read back from a descriptor vp8() wrote."""
    x, off, out = payload[1], 2, {}
    if x & 0x80:
        if payload[off] & 0x80:
            out["pic"], off = ((payload[off] & 0x7F) << 8) | payload[off + 1], off + 2
        else:
            out["pic"], off = payload[off] & 0x7F, off + 1
    if x & 0x40:
        out["tl0"] = payload[off]
    return out


def started(seq=1000, ts=5000, layer=0, rand_seq=0x1234, rand_ts=0x10000, **kw) -> units.Translator:
    t = units.Translator()
    t.start(seq, ts, seq, layer=layer, rand_seq=rand_seq, rand_ts=rand_ts, **kw)
    return t


class TestSequenceNumbers:
    def test_first_epoch_starts_at_the_random_value_below_0x8000(self):
        t = started(seq=40000, rand_seq=0xFFFF)
        assert t.forward(40000, 0, 40000)[0] == 0x7FFF
        assert t.forward(40001, 0, 40001)[0] == 0x8000

    def test_input_wrap_keeps_output_consecutive(self):
        t = started(seq=65533, rand_seq=100)
        outs = [t.forward(s & M16, 0, 65533 + i)[0] for i, s in enumerate(range(65533, 65540))]
        assert outs == list(range(100, 107))

    def test_output_wraps_mod_2_16(self):
        t = started(seq=0, rand_seq=0x7FFF)
        assert [t.forward(s, 0, s)[0] for s in (0x8000, 0x8001, 0x8002)] == [0xFFFF, 0, 1]

    def test_layer_switch_carries_on_at_the_last_plus_one(self):
        t = started(seq=500, rand_seq=65534 & 0x7FFF)
        last = [t.forward(s, 0, s)[0] for s in range(500, 505)][-1]
        t.start(9, 777, 70000, layer=2)  # another layer, far away in its own numbering
        assert t.forward(9, 777, 70000)[0] == (last + 1) & M16
        assert t.forward(10, 777, 70001)[0] == (last + 2) & M16

    def test_switch_across_the_output_wrap(self):
        t = started(seq=0, rand_seq=0x7FFF)
        assert t.forward(0x8000, 0, 0x8000)[0] == 0xFFFF
        t.start(3, 0, 3, layer=1)
        assert t.forward(3, 0, 3)[0] == 0

    def test_retransmission_finds_the_epoch_and_input_of_an_output_seq(self):
        t = started(seq=100, rand_seq=10, layer=0)
        old = [t.forward(s, 0, s)[0] for s in range(100, 103)]
        t.start(4000, 0, 4000, layer=1)
        new = t.forward(4000, 0, 4000)[0]
        assert t.retransmission(old[1])[:2] == (101, 0)
        assert t.retransmission(new)[:2] == (4000, 1)

    def test_epochs_are_bounded(self):
        t = started()
        for k in range(units.EPOCHS + 5):
            t.start(10 * k, 0, 10 * k, layer=k % 3)
            t.forward(10 * k, 0, 10 * k)
        assert t.state["nep"] == units.EPOCHS


class TestTimestamps:
    def test_offset_wraps_mod_2_32(self):
        t = started(ts=100, rand_ts=0xFFFFFFF0)
        assert t.forward(1000, 100, 1000)[1] == 0xFFFFFFF0
        assert t.forward(1001, 100 + 3000, 1001)[1] == (0xFFFFFFF0 + 3000) & M32

    def test_switch_moves_forward_by_the_elapsed_time(self):
        t = started(ts=90000)
        sent = t.forward(1000, 90000, 1000)[1]
        t.start(7, 12, 7, layer=1, gap_us=100_000, clock=90000)  # the new layer's clock is far behind
        assert t.forward(7, 12, 7)[1] == (sent + 9000 + 1) & M32

    def test_switch_across_the_32_bit_wrap(self):
        t = started(ts=0, rand_ts=M32 - 10)
        sent = t.forward(1000, 0, 1000)[1]
        t.start(1, 0xABCDEF01, 1, layer=2, gap_us=20_000, clock=48000)
        out = t.forward(1, 0xABCDEF01, 1)[1]
        assert out == (sent + 960 + 1) & M32 and out < sent  # wrapped, and still forward mod 2^32

    def test_switch_with_no_gap_still_moves_forward(self):
        t = started(ts=5)
        sent = t.forward(1000, 5, 1000)[1]
        t.start(2, 5, 2, layer=1, gap_us=0)
        assert (t.forward(2, 5, 2)[1] - sent) & M32 == 1

    def test_default_clock_is_90k(self):
        t = started(ts=0)
        sent = t.forward(1000, 0, 1000)[1]
        t.start(2, 0, 2, layer=1, gap_us=1_000_000, clock=0)
        assert (t.forward(2, 0, 2)[1] - sent) & M32 == 90001


class TestPictureIds:
    def test_first_epoch_keeps_the_publishers_ids(self):
        t = started()
        assert desc(t.forward(1000, 0, 1000, vp8(pic=1234, tl0=77), vp8=True)[2]) == {"pic": 1234, "tl0": 77}

    def test_15_bit_picture_id_wraps_across_a_switch(self):
        t = started()
        for i, pic in enumerate((0x7FFD, 0x7FFE, 0x7FFF)):
            t.forward(1000 + i, 0, 1000 + i, vp8(pic=pic, tl0=3), vp8=True)
        t.start(50, 0, 50, layer=1)
        first = desc(t.forward(50, 0, 50, vp8(pic=9000, tl0=200), vp8=True)[2])
        nxt = desc(t.forward(51, 0, 51, vp8(pic=9001, tl0=201), vp8=True)[2])
        assert first == {"pic": 0, "tl0": 4} and nxt == {"pic": 1, "tl0": 5}

    def test_7_bit_picture_id_wraps(self):
        t = started()
        assert desc(t.forward(1000, 0, 1000, vp8(pic=0x7F, wide=False), vp8=True)[2]) == {"pic": 0x7F}
        t.start(5, 0, 5, layer=1)
        assert desc(t.forward(5, 0, 5, vp8(pic=33, wide=False), vp8=True)[2]) == {"pic": 0}
        assert desc(t.forward(6, 0, 6, vp8(pic=34, wide=False), vp8=True)[2]) == {"pic": 1}

    def test_tl0picidx_wraps_at_8_bits(self):
        t = started()
        t.forward(1000, 0, 1000, vp8(pic=10, tl0=255), vp8=True)
        t.start(5, 0, 5, layer=2)
        assert desc(t.forward(5, 0, 5, vp8(pic=500, tl0=17), vp8=True)[2]) == {"pic": 11, "tl0": 0}

    def test_retransmission_rewrites_like_the_original_and_changes_nothing(self):
        t = started()
        out = t.forward(1000, 0, 1000, vp8(pic=300, tl0=9), vp8=True)
        t.start(5, 0, 5, layer=1)
        t.forward(5, 0, 5, vp8(pic=7000, tl0=100), vp8=True)
        before = t.state
        again = t.retransmission(out[0], vp8(pic=300, tl0=9), vp8=True)
        assert desc(again[3]) == desc(out[2]) and t.state == before

    def test_descriptor_without_picture_id_is_left_alone(self):
        t = started()
        payload = vp8()
        assert t.forward(1000, 0, 1000, payload, vp8=True)[2] == payload

    def test_truncated_descriptors_are_not_overrun(self):
        t = started()
        for cut in range(0, 5):
            t.forward(1000 + cut, 0, 1000 + cut, vp8(pic=0x1234, tl0=5, body=b"")[:cut], vp8=True)


class TestTemporalLayers:
    def test_dropped_frames_leave_no_gap(self):
        t = started()
        t.set_temporal(0)
        got, seq = [], 1000
        for frame in range(6):  # TID pattern 0 1 0 1 ..., two packets a frame
            tid = frame % 2
            for k in range(2):
                r = t.forward(
                    seq,
                    frame * 3000,
                    seq,
                    vp8(pic=100 + frame, tl0=frame // 2, tid=tid, start=k == 0),
                    vp8=True,
                )
                seq += 1
                if r is not None:
                    got.append((r[0], desc(r[2])["pic"]))
        assert [s for s, _ in got] == list(range(got[0][0], got[0][0] + 6))
        assert sorted({p for _, p in got}) == [100, 101, 102]  # pictures 100, 102, 104 renumbered
        assert t.state["frames_dropped"] == 3

    def test_up_only_at_a_sync_frame(self):
        t = started()
        t.set_temporal(0)
        assert t.forward(1000, 0, 1000, vp8(pic=1, tl0=0, tid=1), vp8=True) is None
        t.set_temporal(None)
        assert t.forward(1001, 0, 1001, vp8(pic=2, tl0=0, tid=1), vp8=True) is None  # no Y bit yet
        assert t.forward(1002, 0, 1002, vp8(pic=3, tl0=0, tid=1, y=True), vp8=True) is not None


class TestSeqTracker:
    def test_wrap_and_late_packets(self):
        s = units.SeqTracker()
        assert [s.track(x) for x in (65534, 65535, 0, 1)] == [65534, 65535, 65536, 65537]
        assert s.track(65535) == 65535  # late, from before the wrap
        assert s.expected == 4 and s.received == 5 and s.max_ext == 65537


# ---------------------------------------------------------------- property: random switches


@st.composite
def plans(draw):
    """Epochs: (layer, first input seq, first input ts, 15- or 7-bit ids, packets, gap_us, the ids' start)."""
    return draw(
        st.lists(
            st.tuples(
                st.integers(0, 2),
                st.integers(0, M16),
                st.integers(0, M32),
                st.booleans(),
                st.integers(1, 30),
                st.integers(0, 3_000_000),
                st.integers(0, 0x7FFF),
                st.integers(0, 255),
            ),
            min_size=1,
            max_size=12,
        )
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=plans(), rand_seq=st.integers(0, M16), rand_ts=st.integers(0, M32))
def test_output_is_one_continuous_stream(plan, rand_seq, rand_ts):
    t = units.Translator()
    prev = None
    ext = 0
    for layer, seq0, ts0, wide, n, gap, pic0, tl00 in plan:
        t.start(seq0, ts0, ext, layer=layer, gap_us=gap, clock=90000, rand_seq=rand_seq, rand_ts=rand_ts)
        for i in range(n):
            pic = (pic0 + i) & (0x7FFF if wide else 0x7F)
            seq, ts, payload = t.forward(
                (seq0 + i) & M16,
                (ts0 + 3000 * i) & M32,
                ext,
                vp8(pic=pic, tl0=(tl00 + i) & 0xFF, wide=wide),
                vp8=True,
            )
            d = desc(payload)
            if prev is None:
                assert seq == rand_seq & 0x7FFF and ts == rand_ts
            else:
                assert seq == (prev[0] + 1) & M16  # 16-bit, no gap, no repeat
                assert 0 < (ts - prev[1]) & M32 < 0x80000000  # 32-bit, forward only
                assert d["pic"] == (prev[2] + 1) & (0x7FFF if wide else 0x7F)
                assert d["tl0"] == (prev[3] + 1) & 0xFF
            prev = (seq, ts, d["pic"], d["tl0"])
            ext += 1
