"""The typed RTCP parsers the worker acts on (native/core/rtcp_fb.h through the test binding
native._units), one per packet type: SR, RR, generic NACK, PLI, FIR and XR RRTR; each with fixtures,
malformed packets and a hypothesis fuzzer (random bytes and mutations of valid packets), as
tests/native/test_parsers_fuzz.py does for the other parsers. REMB and transport-cc have theirs in
tests/native/test_bwe.py."""

from __future__ import annotations

import struct

import pytest

from tests.native.testbuild import built_module

units = built_module("native._units")
core = pytest.importorskip("native._core")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.native.test_parsers import nack_seqs, rtcp_rr, rtcp_sr  # noqa: E402
from tests.native.test_parsers_fuzz import mutated  # noqa: E402

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PARSERS = {
    "sr": units.parse_sr,
    "rr": units.parse_rr,
    "nack": units.parse_nack,
    "pli": units.parse_pli,
    "fir": units.parse_fir,
    "rrtr": units.parse_xr_rrtr,
}


def rtcp(fmt: int, ptype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(">BBH", 0x80 | fmt, ptype, len(body) // 4) + body


def pli(sender: int, media: int) -> bytes:
    return rtcp(1, 206, struct.pack(">II", sender, media))


def fir(sender: int, entries: list[tuple[int, int]]) -> bytes:
    return rtcp(
        4, 206, struct.pack(">II", sender, 0) + b"".join(struct.pack(">IB3x", s, n) for s, n in entries)
    )


def xr(sender: int, blocks: list[tuple[int, bytes]]) -> bytes:
    body = struct.pack(">I", sender)
    for bt, content in blocks:
        body += struct.pack(">BBH", bt, 0, len(content) // 4) + content
    return rtcp(0, 207, body)


def rrtr(ntp: int) -> tuple[int, bytes]:
    return 4, struct.pack(">Q", ntp)


class TestReports:
    def test_sr_sender_info_and_blocks(self):
        r = units.parse_sr(rtcp_sr(0xAABBCCDD, 2))
        assert r["ssrc"] == 0xAABBCCDD
        assert r["ntp_mid"] == ((0xE1234567 << 16) | (0x89ABCDEF >> 16)) & 0xFFFFFFFF
        assert (r["rtp_ts"], r["packets"], r["octets"]) == (1000, 50, 5000)
        assert [b["ssrc"] for b in r["blocks"]] == [0x1000, 0x1001]
        assert r["blocks"][0]["fraction_lost"] == 0 and r["blocks"][0]["cumulative_lost"] == 1

    def test_rr_blocks(self):
        r = units.parse_rr(rtcp_rr(7, 3))
        assert r["ssrc"] == 7 and [b["ssrc"] for b in r["blocks"]] == [0x2000, 0x2001, 0x2002]

    def test_negative_cumulative_loss_and_lsr(self):
        block = struct.pack(
            ">IB3sIIII", 9, 64, (-5 & 0xFFFFFF).to_bytes(3, "big"), 70000, 33, 0x12345678, 0x10000
        )
        r = units.parse_rr(rtcp(1, 201, struct.pack(">I", 1) + block))
        b = r["blocks"][0]
        assert (b["fraction_lost"], b["cumulative_lost"], b["highest_seq"]) == (64, -5, 70000)
        assert (b["jitter"], b["lsr"], b["dlsr"]) == (33, 0x12345678, 0x10000)

    def test_count_larger_than_the_packet_keeps_the_complete_blocks(self):
        data = bytearray(rtcp_rr(7, 2))
        data[0] = 0x80 | 5
        assert len(units.parse_rr(bytes(data))["blocks"]) == 2

    def test_wrong_type_or_short(self):
        assert units.parse_sr(rtcp_rr(1, 1)) is None and units.parse_rr(rtcp_sr(1, 1)) is None
        assert units.parse_sr(rtcp_sr(1, 0)[:27]) is None
        assert units.parse_rr(rtcp_rr(1)[:7]) is None
        assert units.parse_rr(b"\x40" + rtcp_rr(1)[1:]) is None  # version 1


class TestNack:
    def test_seqs_in_fci_order(self):
        data = core.build_nack(1, 0x22222222, [100, 101, 117, 300])
        n = units.parse_nack(data)
        assert (n["sender"], n["media"]) == (1, 0x22222222)
        assert n["seqs"] == [100, 101, 117, 300] and set(n["seqs"]) == nack_seqs(data)

    def test_bitmask_across_the_wrap(self):
        n = units.parse_nack(rtcp(1, 205, struct.pack(">IIHH", 1, 2, 65534, 0b101)))
        assert n["seqs"] == [65534, 65535, 1]

    def test_a_nack_is_no_amplifier(self):
        fci = b"".join(struct.pack(">HH", 1000 + 17 * i, 0xFFFF) for i in range(20))  # 340 packets asked
        n = units.parse_nack(rtcp(1, 205, struct.pack(">II", 1, 2) + fci))
        assert len(n["seqs"]) == units.NACK_MAX_SEQS == 64
        assert n["seqs"][:17] == list(range(1000, 1017))

    def test_not_a_nack(self):
        assert units.parse_nack(rtcp(15, 205, bytes(16))) is None  # transport-cc
        assert units.parse_nack(rtcp(1, 206, bytes(8))) is None  # PLI
        assert units.parse_nack(rtcp(1, 205, bytes(8))[:11]) is None
        assert units.parse_nack(rtcp(1, 205, struct.pack(">II", 1, 2)))["seqs"] == []  # no FCI: nothing to do


class TestKeyframeRequests:
    def test_pli(self):
        assert units.parse_pli(pli(5, 0xDEADBEEF)) == {"sender": 5, "media": 0xDEADBEEF}
        assert units.parse_pli(pli(5, 6)[:11]) is None
        assert units.parse_pli(fir(5, [(6, 1)])) is None

    def test_fir_first_entry(self):
        assert units.parse_fir(fir(5, [(0xCAFE, 7), (0xBEEF, 8)])) == {"sender": 5, "media": 0xCAFE, "seq": 7}

    def test_fir_without_entry(self):
        assert units.parse_fir(fir(5, [])) == {"sender": 5, "media": 0, "seq": 0}
        assert units.parse_fir(pli(5, 6)) is None


class TestXr:
    def test_rrtr(self):
        r = units.parse_xr_rrtr(xr(0x51, [rrtr(0x0102030405060708)]))
        assert r == {"ssrc": 0x51, "ntp_mid": 0x03040506}

    def test_last_rrtr_of_several_blocks(self):
        dlrr = (5, struct.pack(">III", 1, 2, 3))
        r = units.parse_xr_rrtr(xr(1, [rrtr(0x1111111122222222), dlrr, rrtr(0xAAAABBBBCCCCDDDD)]))
        assert r["ntp_mid"] == 0xBBBBCCCC

    def test_no_rrtr_or_truncated_block(self):
        assert units.parse_xr_rrtr(xr(1, [(5, struct.pack(">III", 1, 2, 3))])) is None
        data = xr(1, [rrtr(5)])
        cut = data[:-4]
        assert units.parse_xr_rrtr(cut[:2] + struct.pack(">H", len(cut) // 4 - 1) + cut[4:]) is None
        assert units.parse_xr_rrtr(rtcp_rr(1)) is None


# ---------------------------------------------------------------- fuzzing

SEEDS = [
    rtcp_sr(1, 2),
    rtcp_rr(2, 3),
    core.build_nack(1, 2, [1, 2, 30, 65535]),
    pli(1, 2),
    fir(1, [(2, 3)]),
    xr(1, [rrtr(123), (5, bytes(12))]),
]


def check(data: bytes) -> None:
    """Every parser on every input: None, or a result that stays inside the packet's own claims."""
    for name, parse in PARSERS.items():
        r = parse(data)
        if r is None:
            continue
        assert len(data) >= 8 and data[0] >> 6 == 2
        if name in ("sr", "rr"):
            assert len(r["blocks"]) <= min(data[0] & 0x1F, (len(data) - (28 if name == "sr" else 8)) // 24)
        elif name == "nack":
            assert len(r["seqs"]) <= units.NACK_MAX_SEQS
            assert not r["seqs"] or len(data) >= 16


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes(data):
    check(data)


@FUZZ
@given(fmt=st.integers(0, 31), ptype=st.sampled_from([200, 201, 205, 206, 207]), body=st.binary(max_size=120))
def test_random_body_behind_a_valid_header(fmt, ptype, body):
    check(rtcp(fmt, ptype, body))


@FUZZ
@given(data=st.one_of(*[mutated(s) for s in SEEDS]))
def test_mutations(data):
    check(data)


@FUZZ
@given(seqs=st.lists(st.integers(0, 65535), min_size=1, max_size=64))
def test_nack_round_trip(seqs):
    """What the worker's NACK builder writes, the parser reads back (at most 64: the budget)."""
    data = core.build_nack(1, 2, sorted(set(seqs)))
    got = units.parse_nack(data)["seqs"]
    assert set(got) <= nack_seqs(data) and len(got) == min(len(nack_seqs(data)), units.NACK_MAX_SEQS)
