"""Hypothesis fuzzing of the native SRTP/SRTCP unprotect paths.

Random bytes and random mutations of valid SRTP/SRTCP packets are fed to unprotect / unprotect_rtcp: the
only acceptable outcomes are an SrtpError or a bytes result; a forged packet must never be accepted and
must never disturb the receiver (the genuine packet still decrypts afterwards).
"""

from __future__ import annotations

import struct

import pytest

from tests.native.testbuild import built_module

srtp = built_module("native._srtp")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

SrtpError = srtp.SrtpError
PROFILES = [srtp.PROFILE_AES128_CM_SHA1_80, srtp.PROFILE_AEAD_AES_128_GCM, srtp.PROFILE_AEAD_AES_256_GCM]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def session(profile: int) -> srtp.SrtpSession:
    return srtp.SrtpSession(
        profile, bytes(range(1, 1 + srtp.key_len(profile))), bytes(range(100, 100 + srtp.salt_len(profile)))
    )


def call(fn, data: bytes):
    """Run fn; return the output bytes or None on SrtpError. Anything else fails the test."""
    try:
        out = fn(data)
    except SrtpError as e:
        assert e.code in (srtp.ERR_BAD_PARAM, srtp.ERR_AUTH, srtp.ERR_REPLAY, srtp.ERR_TOO_SHORT)
        return None
    assert isinstance(out, bytes)
    return out


rtp_packets = st.builds(
    lambda seq, ssrc, cc, ext_words, payload, marker: (
        struct.pack(
            "!BBHII",
            0x80 | (0x10 if ext_words is not None else 0) | cc,
            (0x80 if marker else 0) | 96,
            seq,
            seq * 3,
            ssrc,
        )
        + b"\x00\x00\x00\x07" * cc
        + (
            struct.pack("!HH", 0xBEDE, ext_words) + b"\x00" * (4 * ext_words)
            if ext_words is not None
            else b""
        )
        + payload
    ),
    seq=st.integers(0, 0xFFFF),
    ssrc=st.integers(0, 0xFFFFFFFF),
    cc=st.integers(0, 15),
    ext_words=st.none() | st.integers(0, 4),
    payload=st.binary(max_size=300),
    marker=st.booleans(),
)

rtcp_packets = st.builds(
    lambda ssrc, body: struct.pack("!BBHI", 0x81, 201, (8 + len(body)) // 4 - 1, ssrc) + body,
    ssrc=st.integers(0, 0xFFFFFFFF),
    body=st.binary(max_size=200).map(lambda b: b[: len(b) // 4 * 4]),
)

mutations = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "truncate", "insert", "delete", "extend"]),
        st.integers(0, 10_000),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for op, pos, val in ops:
        if op == "truncate":
            del buf[pos % (len(buf) + 1) :]
            continue
        if op == "extend":
            buf += bytes([val]) * (1 + pos % 40)
            continue
        if not buf:
            continue
        i = pos % len(buf)
        if op == "flip":
            buf[i] ^= 1 << (val % 8)
        elif op == "set":
            buf[i] = val
        elif op == "insert":
            buf.insert(i, val)
        elif op == "delete":
            del buf[i]
    return bytes(buf)


@FUZZ
@given(profile=st.sampled_from(PROFILES), data=st.binary(max_size=400), rtcp=st.booleans())
def test_random_bytes(profile, data, rtcp):
    rx = session(profile)
    out = call(rx.unprotect_rtcp if rtcp else rx.unprotect, data)
    assert out is None  # random bytes never authenticate
    assert rx.stream_count == 0


@FUZZ
@given(profile=st.sampled_from(PROFILES), data=st.binary(min_size=1, max_size=400))
def test_random_bytes_with_rtp_version(profile, data):
    rx = session(profile)
    data = bytes([0x80 | (data[0] & 0x3F)]) + data[1:]
    assert call(rx.unprotect, data) is None
    assert call(rx.unprotect_rtcp, data) is None
    assert rx.stream_count == 0


@FUZZ
@given(profile=st.sampled_from(PROFILES), plain=rtp_packets, ops=mutations)
def test_mutated_srtp(profile, plain, ops):
    tx, rx = session(profile), session(profile)
    protected = tx.protect(plain)
    forged = mutate(protected, ops)
    out = call(rx.unprotect, forged)
    if forged == protected:
        assert out == plain
        return
    assert out is None, "a modified SRTP packet was accepted"
    assert rx.stream_count == 0
    assert rx.unprotect(protected) == plain  # the forgery changed no state


@FUZZ
@given(profile=st.sampled_from(PROFILES), plain=rtcp_packets, ops=mutations)
def test_mutated_srtcp(profile, plain, ops):
    tx, rx = session(profile), session(profile)
    protected = tx.protect_rtcp(plain)
    forged = mutate(protected, ops)
    out = call(rx.unprotect_rtcp, forged)
    if forged == protected:
        assert out == plain
        return
    assert out is None, "a modified SRTCP packet was accepted"
    assert rx.stream_count == 0
    assert rx.unprotect_rtcp(protected) == plain


@FUZZ
@given(profile=st.sampled_from(PROFILES), data=st.binary(max_size=300))
def test_protect_arbitrary_input(profile, data):
    """protect either rejects the input or produces something unprotect gives back unchanged."""
    tx, rx = session(profile), session(profile)
    for protect, unprotect in ((tx.protect, rx.unprotect), (tx.protect_rtcp, rx.unprotect_rtcp)):
        out = call(protect, data)
        if out is not None:
            assert unprotect(out) == data
