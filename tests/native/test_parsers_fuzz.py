"""Hypothesis fuzzing of the worker's C parsers: random bytes and mutations of valid packets.

The only acceptable outcomes are a well-formed result or None (the worker would drop the datagram); a crash
takes the whole test process down, and a result that points outside the input is a failure.
"""

from __future__ import annotations

import struct

import pytest

core = pytest.importorskip("native._core")
pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.native.test_parsers import (  # noqa: E402
    PWD,
    VP8_KEY_HDR,
    binding_request,
    nack_seqs,
    one_byte_ext,
    rtcp_rr,
    rtcp_sdes,
    rtcp_sr,
    rtp,
    stun_message,
    two_byte_ext,
)

FUZZ = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CODECS = ["vp8", "vp9", "h264", "av1", "opus", "other"]


@st.composite
def mutated(draw, base: bytes) -> bytes:
    """base with a few random edits: byte flips, truncation, insertion, deletion or an appended tail."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "append"]))
        if op in ("flip", "set") and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = data[i] ^ draw(st.integers(1, 255)) if op == "flip" else draw(st.integers(0, 255))
        elif op == "truncate":
            del data[draw(st.integers(0, len(data))) :]
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and data:
            i = draw(st.integers(0, len(data) - 1))
            del data[i : i + draw(st.integers(1, 8))]
        elif op == "append":
            data += draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


def check_stun(data: bytes, key: str | None) -> dict | None:
    m = core.parse_stun(data, key)
    if m is None:
        return None
    assert isinstance(m, dict)
    assert 0 <= m["type"] < 0x4000
    assert isinstance(m["username"], bytes)
    assert not m["username"] or len(m["username"]) <= len(data) - 24
    if key is not None:
        assert isinstance(m["integrity_ok"], bool)
        assert not m["integrity_ok"] or m["integrity"]
    return m


def check_rtp(data: bytes) -> dict | None:
    h = core.parse_rtp(data)
    if h is None:
        return None
    assert 12 <= h["header_len"] <= len(data)
    assert h["payload_len"] >= 0
    assert h["header_len"] + h["payload_len"] <= len(data)
    assert len(h["extensions"]) <= 16
    for ext_id, value in h["extensions"].items():
        assert 0 <= ext_id < 256 and len(value) <= 255  # id 0 with a length is tolerated (never looked up)
    return h


def check_rtcp(data: bytes) -> list:
    pkts = core.walk_rtcp(data)
    assert sum(pl for _, _, pl in pkts) <= len(data)
    for ptype, fmt, pl in pkts:
        assert 0 <= ptype < 256 and 0 <= fmt < 32 and pl >= 4 and pl % 4 == 0
    return pkts


# ---------------------------------------------------------------- STUN

STUN_SEEDS = [
    binding_request(),
    binding_request(key=None),
    binding_request(fingerprint=False),
    binding_request("a:b", use_candidate=False),
    stun_message(0x0111, [(0x0009, b"\0\0\x04\x01Unauthorized")]),
    stun_message(0x0101, [(0x0020, b"\0\x01\x21\x12\x5e\x12\xa4\x43")], key=PWD),
    stun_message(0x0101, [(0x0020, b"\0\x02\x21\x12" + bytes(16))], key=PWD),  # IPv6 XOR-MAPPED-ADDRESS
]


@FUZZ
@given(data=st.binary(max_size=600), key=st.sampled_from([None, PWD, ""]))
def test_stun_random_bytes(data, key):
    check_stun(data, key)


@FUZZ
@given(
    data=st.binary(min_size=0, max_size=200), mtype=st.integers(0, 0x3FFF), key=st.sampled_from([None, PWD])
)
def test_stun_random_body_behind_valid_header(data, mtype, key):
    """Random attributes behind a plausible header (magic cookie and a matching length)."""
    data = data[: len(data) // 4 * 4]
    msg = struct.pack(">HHI", mtype, len(data), 0x2112A442) + b"\x07" * 12 + data
    check_stun(msg, key)


@FUZZ
@given(data=st.one_of(*[mutated(s) for s in STUN_SEEDS]), key=st.sampled_from([None, PWD, "wrong"]))
def test_stun_mutations(data, key):
    check_stun(data, key)


@FUZZ
@given(pos=st.integers(0, 200), flip=st.integers(1, 255))
def test_stun_integrity_detects_any_covered_byte_change(pos, flip):
    """Changing any byte MESSAGE-INTEGRITY covers (header, attributes, the MAC itself) must fail the check.

    The length field (bytes 2-3) is excluded: RFC 5389 recomputes it for the check, and a shorter length that
    leaves FINGERPRINT outside the message is legitimately still authentic.
    """
    msg = binding_request(fingerprint=False)
    covered = len(msg)  # no FINGERPRINT: the message ends with MESSAGE-INTEGRITY
    pos = pos % covered
    if pos in (2, 3):
        return
    data = bytearray(msg)
    data[pos] ^= flip
    m = check_stun(bytes(data), PWD)
    assert m is None or m["integrity_ok"] is False, pos


# ---------------------------------------------------------------- RTP

RTP_SEEDS = [
    rtp(),
    rtp(csrcs=(1, 2, 3), payload=b"x" * 30, marker=1),
    rtp(ext=(0xBEDE, one_byte_ext((1, b"0"), (2, b"\x01\x02\x03"), (3, b"\x7f"))), payload=b"y" * 50),
    rtp(ext=(0x1000, two_byte_ext((1, b""), (200, b"z" * 30))), payload=b"q" * 10, pad=3),
    rtp(payload=b"", pad=20),
    rtp(
        ext=(0xBEDE, one_byte_ext(*[(1 + i % 14, bytes([i]) * (1 + i % 16)) for i in range(20)])),
        payload=b"p",
    ),
]


@FUZZ
@given(data=st.binary(max_size=400))
def test_rtp_random_bytes(data):
    check_rtp(data)


@FUZZ
@given(rest=st.binary(min_size=11, max_size=300), b0=st.integers(0x80, 0xBF))
def test_rtp_random_with_version_two(rest, b0):
    """Random bytes behind a version-2 first byte (random CC, X and P bits) reach the deep paths."""
    check_rtp(bytes([b0]) + rest)


@FUZZ
@given(data=st.one_of(*[mutated(s) for s in RTP_SEEDS]))
def test_rtp_mutations(data):
    check_rtp(data)


@FUZZ
@given(
    pt=st.integers(0, 127),
    seq=st.integers(0, 65535),
    ts=st.integers(0, 2**32 - 1),
    ssrc=st.integers(0, 2**32 - 1),
    csrcs=st.lists(st.integers(0, 2**32 - 1), max_size=15),
    payload=st.binary(max_size=100),
    elems=st.lists(st.tuples(st.integers(1, 14), st.binary(min_size=1, max_size=16)), max_size=10),
    pad=st.integers(0, 40),
    marker=st.integers(0, 1),
)
def test_rtp_valid_packets_round_trip(pt, seq, ts, ssrc, csrcs, payload, elems, pad, marker):
    ext = (0xBEDE, one_byte_ext(*elems)) if elems else None
    pkt = rtp(
        pt=pt, seq=seq, ts=ts, ssrc=ssrc, payload=payload, marker=marker, csrcs=tuple(csrcs), ext=ext, pad=pad
    )
    h = check_rtp(pkt)
    assert h is not None
    assert (h["pt"], h["seq"], h["ts"], h["ssrc"], h["marker"]) == (pt, seq, ts, ssrc, marker)
    assert pkt[h["header_len"] : h["header_len"] + h["payload_len"]] == payload
    if len(elems) <= 16:
        ids = [i for i, _ in elems]
        want = {i: v for i, v in elems if ids.count(i) == 1}
        assert {i: h["extensions"][i] for i in want} == want


# ---------------------------------------------------------------- RTCP

RTCP_SEEDS = [
    rtcp_sr(1, 1) + rtcp_rr(2, 2) + rtcp_sdes(1, b"cname"),
    rtcp_rr(9),
    rtcp_sr(3, 0),
    core.build_nack(1, 2, [1, 2, 30, 65535]),
]


@FUZZ
@given(data=st.binary(max_size=400))
def test_rtcp_random_bytes(data):
    check_rtcp(data)


@FUZZ
@given(data=st.one_of(*[mutated(s) for s in RTCP_SEEDS]))
def test_rtcp_mutations(data):
    check_rtcp(data)


@FUZZ
@given(
    parts=st.lists(st.tuples(st.integers(0, 31), st.integers(192, 223), st.binary(max_size=40)), max_size=8)
)
def test_rtcp_valid_compounds(parts):
    data = b""
    for fmt, ptype, body in parts:
        body = body + b"\0" * (-len(body) % 4)
        data += struct.pack(">BBH", 0x80 | fmt, ptype, len(body) // 4) + body
    pkts = check_rtcp(data)
    assert [(t, f) for t, f, _ in pkts] == [(t, f) for f, t, _ in parts]


# ---------------------------------------------------------------- keyframes


@FUZZ
@given(codec=st.sampled_from(CODECS), payload=st.binary(max_size=64))
def test_keyframe_random(codec, payload):
    assert isinstance(core.is_keyframe(codec, payload), bool)


@FUZZ
@given(
    codec=st.sampled_from(CODECS),
    data=st.one_of(
        mutated(b"\x90\xe0\x85\x01\x07\x20" + VP8_KEY_HDR),
        mutated(b"\x78\x00\x04\x67\x42\xc0\x1f\x00\x02\x68\xce"),
        mutated(b"\x7c\x85\x88\x84"),
    ),
)
def test_keyframe_mutations(codec, data):
    assert isinstance(core.is_keyframe(codec, data), bool)


@FUZZ
@given(sizes=st.lists(st.integers(0, 0xFFFF), max_size=6), tail=st.binary(max_size=30))
def test_h264_stap_a_sizes(sizes, tail):
    """STAP-A aggregation sizes pointing anywhere (including past the end) never read out of bounds."""
    data = b"\x78" + b"".join(struct.pack(">H", s) + b"\x41" for s in sizes) + tail
    assert isinstance(core.is_keyframe("h264", data), bool)


# ---------------------------------------------------------------- NACK


@FUZZ
@given(seqs=st.lists(st.integers(0, 65535), max_size=600), sender=st.integers(0, 2**32 - 1))
def test_nack_covers_exactly_the_requested_seqs(seqs, sender):
    data = core.build_nack(sender, 0x1234, seqs)
    if not seqs:
        assert data == b""
        return
    assert 16 <= len(data) <= 1500
    assert core.walk_rtcp(data) == [(205, 1, len(data))]
    got = nack_seqs(data)
    wanted = set(seqs[:512])
    assert got <= wanted
    if len(data) < 1500:  # not cut short by the MTU: nothing may be missing
        assert got == wanted


@FUZZ
@given(start=st.integers(0, 65535), gaps=st.lists(st.integers(1, 40), max_size=100))
def test_nack_sorted_runs_across_wrap(start, gaps):
    seqs, s = [start], start
    for g in gaps:
        s = (s + g) & 0xFFFF
        seqs.append(s)
    data = core.build_nack(1, 2, seqs)
    assert nack_seqs(data) == set(seqs)
    # sorted input: each FCI is one pid and a bitmask of up to 16 following numbers
    fcis = (len(data) - 12) // 4
    assert fcis <= len(seqs)
