"""Tests of the native SRTP/SRTCP core (native/core/srtp.c via native._srtp).

libsrtp (through pylibsrtp) is the reference implementation: packets are exchanged in both directions for all
three DTLS-SRTP profiles. The `cryptography` package is used as an independent AES implementation for the
key derivation and for hand-built SRTCP packets.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import struct
import threading

import pytest

from tests.native.testbuild import built_module

pylibsrtp = pytest.importorskip("pylibsrtp")
srtp = built_module("native._srtp")

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

SrtpError = srtp.SrtpError
Policy = pylibsrtp.Policy

CM = srtp.PROFILE_AES128_CM_SHA1_80
GCM128 = srtp.PROFILE_AEAD_AES_128_GCM
GCM256 = srtp.PROFILE_AEAD_AES_256_GCM

# our profile id -> (pylibsrtp profile, key length, salt length, RTP tag length)
PROFILES = {
    CM: (Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 16, 14, 10),
    GCM128: (Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 16, 12, 16),
    GCM256: (Policy.SRTP_PROFILE_AEAD_AES_256_GCM, 32, 12, 16),
}
ALL = pytest.mark.parametrize("profile", list(PROFILES), ids=["cm_sha1_80", "aead_gcm128", "aead_gcm256"])


# ---------------------------------------------------------------------------------------------------------
# helpers


def rtp(
    seq, ssrc=0x11223344, ts=0, payload=b"\x00" * 20, *, pt=96, marker=False, csrcs=(), ext=None, padding=0
):
    """Build a plain RTP packet. ext = (profile, data) with len(data) % 4 == 0."""
    b0 = 0x80 | (0x20 if padding else 0) | (0x10 if ext is not None else 0) | len(csrcs)
    hdr = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
    hdr += b"".join(struct.pack("!I", c) for c in csrcs)
    if ext is not None:
        prof, data = ext
        assert len(data) % 4 == 0
        hdr += struct.pack("!HH", prof, len(data) // 4) + data
    pad = b""
    if padding:
        pad = b"\x00" * (padding - 1) + bytes([padding])
    return hdr + payload + pad


def rtcp_rr(ssrc, nblocks=1, extra=b""):
    """Receiver report (+ optional appended compound part)."""
    body = b"".join(struct.pack("!IIIIII", 0xA0A0A0A0 + i, i, 1000 + i, 5, 0, 0) for i in range(nblocks))
    length = (8 + len(body)) // 4 - 1
    return struct.pack("!BBHI", 0x80 | nblocks, 201, length, ssrc) + body + extra


def rtcp_sr(ssrc, n):
    body = struct.pack("!IIIII", 0x83AA7E80 + n, n, 90000 + n, n * 3, n * 1200)
    return struct.pack("!BBHI", 0x80, 200, (8 + len(body)) // 4 - 1, ssrc) + body


def keys(profile, seed=None):
    rnd = random.Random(seed)
    _, kl, sl, _ = PROFILES[profile]
    return rnd.randbytes(kl), rnd.randbytes(sl)


def lib_pair(profile, key, salt):
    """(libsrtp sender, libsrtp receiver) for any SSRC."""
    lp = PROFILES[profile][0]
    tx = pylibsrtp.Session(Policy(key=key + salt, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=lp))
    rx = pylibsrtp.Session(Policy(key=key + salt, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=lp))
    return tx, rx


def our_pair(profile, key, salt):
    return srtp.SrtpSession(profile, key, salt), srtp.SrtpSession(profile, key, salt)


def code_of(fn, *args):
    with pytest.raises(SrtpError) as ei:
        fn(*args)
    assert isinstance(ei.value, ValueError)
    return ei.value.code


def aes_cm_prf(master_key, master_salt, label, n):
    """Independent RFC 3711 4.3.1 KDF (kdr = 0) built on the `cryptography` package."""
    salt = master_salt.ljust(14, b"\x00")
    x = bytearray(salt)
    x[7] ^= label
    iv = bytes(x) + b"\x00\x00"
    enc = Cipher(algorithms.AES(master_key), modes.CTR(iv)).encryptor()
    return enc.update(b"\x00" * n) + enc.finalize()


def random_rtp(rnd, seq, ssrc):
    csrcs = [rnd.getrandbits(32) for _ in range(rnd.randrange(0, 4))]
    ext = None
    choice = rnd.randrange(3)
    if choice == 1:  # one-byte header extension (RFC 8285)
        ext = (0xBEDE, bytes([0x10, rnd.getrandbits(8), 0x22, 0x01, 0x02, 0x00, 0x00, 0x00]))
    elif choice == 2:  # two-byte header extension
        ext = (0x1000, rnd.randbytes(4 * rnd.randrange(0, 5)))
    # (pylibsrtp caps packets at 1500 - 144 bytes)
    payload = rnd.randbytes(rnd.choice([0, 1, 15, 16, 17, 160, 511, 512, 513, 1000, 1200, 1250]))
    padding = rnd.choice([0, 0, 0, 1, 4, 17])
    return rtp(seq, ssrc, seq * 960, payload, marker=bool(seq & 1), csrcs=csrcs, ext=ext, padding=padding)


# ---------------------------------------------------------------------------------------------------------
# profile parameters, key material, KDF


def test_profile_parameters():
    assert (srtp.key_len(CM), srtp.salt_len(CM), srtp.overhead(CM)) == (16, 14, 10)
    assert (srtp.key_len(GCM128), srtp.salt_len(GCM128), srtp.overhead(GCM128)) == (16, 12, 16)
    assert (srtp.key_len(GCM256), srtp.salt_len(GCM256), srtp.overhead(GCM256)) == (32, 12, 16)
    assert (CM, GCM128, GCM256) == (1, 7, 8)
    for bad in (0, 2, 6, 9, -1):
        assert code_of(srtp.key_len, bad) == srtp.ERR_BAD_PARAM
        assert code_of(srtp.SrtpSession, bad, b"\x00" * 16, b"\x00" * 14) == srtp.ERR_BAD_PARAM


@ALL
def test_bad_key_or_salt_length(profile):
    key, salt = keys(profile, 1)
    assert code_of(srtp.SrtpSession, profile, key[:-1], salt) == srtp.ERR_BAD_PARAM
    assert code_of(srtp.SrtpSession, profile, key, salt + b"\x00") == srtp.ERR_BAD_PARAM


@ALL
def test_split_keying_material(profile):
    _, kl, sl, _ = PROFILES[profile]
    material = bytes(range(2 * (kl + sl)))
    ck, cs, sk, ss = srtp.split_keying_material(profile, material)
    assert ck == material[:kl]
    assert sk == material[kl : 2 * kl]
    assert cs == material[2 * kl : 2 * kl + sl]
    assert ss == material[2 * kl + sl :]
    assert code_of(srtp.split_keying_material, profile, material[:-1]) == srtp.ERR_BAD_PARAM
    # client-write keys protect, server side unprotects with the same (client) key/salt
    tx, rx = srtp.SrtpSession(profile, ck, cs), srtp.SrtpSession(profile, ck, cs)
    assert rx.unprotect(tx.protect(rtp(1))) == rtp(1)


def test_kdf_rfc3711_appendix_b3():
    mk = bytes.fromhex("E1F97A0D3E018BE0D64FA32C06DE4139")
    ms = bytes.fromhex("0EC675AD498AFEEBB6960B3AABE6")
    assert srtp.kdf(mk, ms, 0, 16).hex().upper() == "C61E7A93744F39EE10734AFE3FF7A087"
    assert srtp.kdf(mk, ms, 2, 14).hex().upper() == "30CBBC08863D8C85D49DB34A9AE1"
    assert srtp.kdf(mk, ms, 1, 20).hex().upper() == "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"


@pytest.mark.parametrize("key_len,salt_len", [(16, 14), (16, 12), (32, 14), (32, 12)])
def test_kdf_matches_independent_implementation(key_len, salt_len):
    rnd = random.Random(key_len * 100 + salt_len)
    for _ in range(5):
        mk, ms = rnd.randbytes(key_len), rnd.randbytes(salt_len)
        for label in range(6):
            for n in (12, 14, 16, 20, 32, 100):
                assert srtp.kdf(mk, ms, label, n) == aes_cm_prf(mk, ms, label, n)
    with pytest.raises(SrtpError):
        srtp.kdf(b"\x00" * 15, b"\x00" * 14, 0, 16)
    with pytest.raises(SrtpError):
        srtp.kdf(b"\x00" * 16, b"\x00" * 13, 0, 16)


def test_known_answer_libsrtp_driver_vector():
    """libsrtp srtp_driver.c AES-CM/HMAC-SHA1-80 reference packet (key/salt of RFC 3711 B.3)."""
    key = bytes.fromhex("e1f97a0d3e018be0d64fa32c06de4139")
    salt = bytes.fromhex("0ec675ad498afeebb6960b3aabe6")
    plain = bytes.fromhex("800f1234decafbadcafebabe" + "ab" * 16)
    protected = srtp.SrtpSession(CM, key, salt).protect(plain)
    assert protected[:20].hex() == "800f1234decafbadcafebabe4e55dc4ce79978d8"
    lib_tx, _ = lib_pair(CM, key, salt)
    assert lib_tx.protect(plain) == protected


# ---------------------------------------------------------------------------------------------------------
# interoperability with libsrtp


@ALL
def test_rtp_interop_both_directions(profile):
    key, salt = keys(profile, 2)
    ours_tx, ours_rx = our_pair(profile, key, salt)
    lib_tx, lib_rx = lib_pair(profile, key, salt)
    rnd = random.Random(3)
    ssrcs = [0x01020304, 0xDEADBEEF, 0x00000001, 0xFFFFFFFF, 0x12345678]
    seqs = {s: rnd.randrange(0, 65536) for s in ssrcs}
    tag = PROFILES[profile][3]
    for _ in range(600):
        ssrc = rnd.choice(ssrcs)
        seqs[ssrc] = (seqs[ssrc] + 1) & 0xFFFF
        plain = random_rtp(rnd, seqs[ssrc], ssrc)
        a = ours_tx.protect(plain)
        b = lib_tx.protect(plain)
        assert a == b  # deterministic transform: byte-identical to libsrtp
        assert len(a) == len(plain) + tag
        assert lib_rx.unprotect(a) == plain
        assert ours_rx.unprotect(b) == plain
    assert ours_rx.stream_count == len(ssrcs)


@ALL
def test_rtcp_interop_both_directions(profile):
    key, salt = keys(profile, 4)
    ours_tx, ours_rx = our_pair(profile, key, salt)
    lib_tx, lib_rx = lib_pair(profile, key, salt)
    rnd = random.Random(5)
    ssrcs = [0x0A0B0C0D, 0x11111111, 0xCAFEBABE]
    tag = PROFILES[profile][3]
    for n in range(300):
        ssrc = rnd.choice(ssrcs)
        if n % 3 == 0:
            plain = rtcp_sr(ssrc, n)
        else:
            plain = rtcp_rr(ssrc, rnd.randrange(0, 4), rtcp_sr(ssrc, n) if n % 2 else b"")
        a = ours_tx.protect_rtcp(plain)
        assert len(a) == len(plain) + tag + 4
        # E flag is always set; index trails (CM: before the tag, GCM: after the tag)
        eidx = a[-14:-10] if profile == CM else a[-4:]
        assert eidx[0] & 0x80
        assert a[:8] == plain[:8]
        assert a[8 : len(plain)] != plain[8:] or len(plain) == 8
        assert lib_rx.unprotect_rtcp(a) == plain
        assert ours_rx.unprotect_rtcp(lib_tx.protect_rtcp(plain)) == plain


@ALL
def test_srtcp_index_increments_per_ssrc(profile):
    key, salt = keys(profile, 6)
    tx = srtp.SrtpSession(profile, key, salt)

    def index(pkt):
        raw = pkt[-14:-10] if profile == CM else pkt[-4:]
        return struct.unpack("!I", raw)[0] & 0x7FFFFFFF

    assert [index(tx.protect_rtcp(rtcp_rr(1))) for _ in range(3)] == [0, 1, 2]
    assert index(tx.protect_rtcp(rtcp_rr(2))) == 0
    assert index(tx.protect_rtcp(rtcp_rr(1))) == 3


@ALL
def test_roc_rollover_interop_70000_packets(profile):
    key, salt = keys(profile, 7)
    ours_tx, ours_rx = our_pair(profile, key, salt)
    lib_tx, lib_rx = lib_pair(profile, key, salt)
    ssrc = 0x5EED5EED
    start = 65000
    payload = b"\x42" * 8
    for i in range(70000):
        plain = rtp(start + i, ssrc, i * 90, payload)
        a = ours_tx.protect(plain)
        if (
            i % 97 == 0
            or (65536 - 40 <= start + i <= 65536 + 40)
            or (131072 - 40 <= start + i <= 131072 + 40)
        ):
            # full bidirectional check around the wraps and on a sample elsewhere
            b = lib_tx.protect(plain)
            assert b == a
            assert ours_rx.unprotect(b) == plain
            assert lib_rx.unprotect(a) == plain
        else:
            assert ours_rx.unprotect(a) == plain
            lib_tx.protect(plain)  # keep libsrtp's sender ROC in step
    # 65000 + 69999 = 134999 -> two wraps
    assert ours_tx.roc(ssrc, inbound=False) == 2
    assert ours_rx.roc(ssrc) == 2
    # the libsrtp receiver skipped most packets but its ROC estimate still follows (gaps < 2^15)
    plain = rtp(start + 70000, ssrc, 0, payload)
    assert lib_rx.unprotect(ours_tx.protect(plain)) == plain


@ALL
def test_reordering_across_wrap(profile):
    key, salt = keys(profile, 8)
    ours_rx = srtp.SrtpSession(profile, key, salt)
    lib_tx, _ = lib_pair(profile, key, salt)
    ssrc = 0xABCDEF01
    seqs = list(range(65500, 65536)) + list(range(0, 40))  # ROC 0 then ROC 1
    protected = {s: lib_tx.protect(rtp(s, ssrc, s, bytes([s & 0xFF]) * 30)) for s in seqs}
    order = seqs[:30] + [0, 1, 2, 65530, 65531, 3] + seqs[30:36] + seqs[39:] + [65532, 65533, 65534, 65535]
    seen = set()
    for s in order:
        if s in seen:
            continue
        seen.add(s)
        assert ours_rx.unprotect(protected[s]) == rtp(s, ssrc, s, bytes([s & 0xFF]) * 30)
    assert ours_rx.roc(ssrc) == 1
    assert seen == set(seqs)
    # late duplicates from before the wrap are replays
    assert code_of(ours_rx.unprotect, protected[65534]) == srtp.ERR_REPLAY


def test_protect_roc_tracks_out_of_order_sends():
    key, salt = keys(CM, 9)
    tx = srtp.SrtpSession(CM, key, salt)
    _, lib_rx = lib_pair(CM, key, salt)
    ssrc = 77
    for s in (65534, 65535, 0, 65533, 1):  # a late pre-wrap send must still use ROC 0
        plain = rtp(s, ssrc, s)
        assert lib_rx.unprotect(tx.protect(plain)) == plain
    assert tx.roc(ssrc, inbound=False) == 1


# ---------------------------------------------------------------------------------------------------------
# replay protection


@ALL
def test_rtp_replay(profile):
    key, salt = keys(profile, 10)
    tx, rx = our_pair(profile, key, salt)
    pkts = [tx.protect(rtp(s, 1234, s)) for s in range(300)]
    assert rx.unprotect(pkts[0]) == rtp(0, 1234, 0)
    e = pytest.raises(SrtpError, rx.unprotect, pkts[0]).value
    assert e.code == srtp.ERR_REPLAY and "replay" in str(e).lower()
    for s in range(1, 200):
        if s != 150:
            rx.unprotect(pkts[s])
    assert code_of(rx.unprotect, pkts[199]) == srtp.ERR_REPLAY  # duplicate of the newest
    assert code_of(rx.unprotect, pkts[120]) == srtp.ERR_REPLAY  # duplicate inside the window
    assert rx.unprotect(pkts[150]) == rtp(150, 1234, 150)  # late but inside the window: accepted
    assert code_of(rx.unprotect, pkts[150]) == srtp.ERR_REPLAY
    # 199 - 71 = 128: just outside the 128-packet window (never received before, still rejected)
    tx2, rx2 = our_pair(profile, key, salt)
    pk = [tx2.protect(rtp(s, 99, s)) for s in range(200)]
    rx2.unprotect(pk[199])
    assert rx2.unprotect(pk[72]) == rtp(72, 99, 72)  # 127 behind: inside
    assert code_of(rx2.unprotect, pk[71]) == srtp.ERR_REPLAY  # 128 behind: too old
    assert code_of(rx2.unprotect, pk[0]) == srtp.ERR_REPLAY
    # a big jump forward is fine and moves the window
    pj = tx2.protect(rtp(20000, 99, 0))
    assert rx2.unprotect(pj) == rtp(20000, 99, 0)
    assert code_of(rx2.unprotect, pk[199]) == srtp.ERR_REPLAY


@ALL
def test_rtcp_replay(profile):
    key, salt = keys(profile, 11)
    tx, rx = our_pair(profile, key, salt)
    pkts = [tx.protect_rtcp(rtcp_rr(555, 1)) for _ in range(300)]
    for i in range(200):
        if i != 100:
            assert rx.unprotect_rtcp(pkts[i]) == rtcp_rr(555, 1)
    assert code_of(rx.unprotect_rtcp, pkts[5]) == srtp.ERR_REPLAY
    assert code_of(rx.unprotect_rtcp, pkts[199]) == srtp.ERR_REPLAY
    assert rx.unprotect_rtcp(pkts[100]) == rtcp_rr(555, 1)
    assert code_of(rx.unprotect_rtcp, pkts[100]) == srtp.ERR_REPLAY
    assert code_of(rx.unprotect_rtcp, pkts[71]) == srtp.ERR_REPLAY  # 128 behind the newest (199)
    assert rx.unprotect_rtcp(pkts[299]) == rtcp_rr(555, 1)
    # RTP and RTCP windows of the same SSRC are independent
    assert rx.unprotect(tx.protect(rtp(0, 555))) == rtp(0, 555)


# ---------------------------------------------------------------------------------------------------------
# authentication / tampering


@ALL
def test_tampered_rtp_rejected_and_state_unchanged(profile):
    key, salt = keys(profile, 12)
    tx, rx = our_pair(profile, key, salt)
    ssrc = 0x0BADF00D
    plain = [
        rtp(1000 + i, ssrc, i, bytes(range(64)), csrcs=[7], ext=(0xBEDE, b"\x10\xff\x00\x00"))
        for i in range(4)
    ]
    prot = [tx.protect(p) for p in plain]
    assert rx.unprotect(prot[0]) == plain[0]
    target = prot[1]
    hdr_len = len(plain[1]) - 64  # 12 + 4 (CSRC) + 4 (extension header, length at 18..19) + 4
    for pos in range(len(target)):
        for bit in (0x01, 0x80):
            forged = bytearray(target)
            forged[pos] ^= bit
            e = pytest.raises(SrtpError, rx.unprotect, bytes(forged)).value
            if pos in (0, 18, 19):  # V/P/X/CC and extension length: header may no longer parse
                assert e.code in (srtp.ERR_BAD_PARAM, srtp.ERR_TOO_SHORT, srtp.ERR_AUTH)
            elif pos in (2, 3):  # sequence number: may alias an already accepted index
                assert e.code in (srtp.ERR_AUTH, srtp.ERR_REPLAY)
            else:
                assert e.code == srtp.ERR_AUTH, (pos, hdr_len)
    # forged packets far ahead / with other SSRCs must not have moved the window or added streams
    assert rx.stream_count == 1
    assert rx.roc(ssrc) == 0
    forged_ahead = bytearray(tx.protect(rtp(40000, ssrc, 0)))
    forged_ahead[-1] ^= 1
    assert code_of(rx.unprotect, bytes(forged_ahead)) == srtp.ERR_AUTH
    assert rx.unprotect(target) == plain[1]
    assert rx.unprotect(prot[3]) == plain[3]
    assert rx.unprotect(prot[2]) == plain[2]


@ALL
def test_tampered_rtcp_rejected_and_state_unchanged(profile):
    key, salt = keys(profile, 13)
    tx, rx = our_pair(profile, key, salt)
    plain = [rtcp_sr(42, i) for i in range(3)]
    prot = [tx.protect_rtcp(p) for p in plain]
    assert rx.unprotect_rtcp(prot[0]) == plain[0]
    for pos in range(len(prot[1])):
        forged = bytearray(prot[1])
        forged[pos] ^= 0x04
        e = pytest.raises(SrtpError, rx.unprotect_rtcp, bytes(forged)).value
        # flipping an index bit may select index 0, already seen -> replay is also a correct rejection
        assert e.code in ((srtp.ERR_AUTH, srtp.ERR_REPLAY) if pos >= len(prot[1]) - 4 else (srtp.ERR_AUTH,))
    assert rx.unprotect_rtcp(prot[1]) == plain[1]
    assert rx.unprotect_rtcp(prot[2]) == plain[2]


@ALL
def test_wrong_key_fails_auth(profile):
    key, salt = keys(profile, 14)
    key2, _ = keys(profile, 15)
    tx = srtp.SrtpSession(profile, key, salt)
    rx = srtp.SrtpSession(profile, key2, salt)
    assert code_of(rx.unprotect, tx.protect(rtp(1))) == srtp.ERR_AUTH
    assert code_of(rx.unprotect_rtcp, tx.protect_rtcp(rtcp_rr(1))) == srtp.ERR_AUTH
    assert rx.stream_count == 0


@ALL
def test_rtp_and_rtcp_keys_are_distinct(profile):
    """An SRTP packet must not verify as SRTCP and vice versa."""
    key, salt = keys(profile, 16)
    tx, rx = our_pair(profile, key, salt)
    p = tx.protect(rtp(5, 9, 0, b"x" * 40))
    q = tx.protect_rtcp(rtcp_rr(9))
    assert code_of(rx.unprotect_rtcp, p) in (srtp.ERR_AUTH, srtp.ERR_BAD_PARAM)
    assert code_of(rx.unprotect, q) in (srtp.ERR_AUTH, srtp.ERR_BAD_PARAM, srtp.ERR_TOO_SHORT)


# ---------------------------------------------------------------------------------------------------------
# unencrypted SRTCP (E = 0), built by hand with independent primitives


def test_unencrypted_srtcp_cm():
    key, salt = keys(CM, 17)
    auth_key = aes_cm_prf(key, salt, 4, 20)
    plain = rtcp_rr(0x1234, 2)
    body = plain + struct.pack("!I", 7)  # E = 0, index 7
    pkt = body + hmac.new(auth_key, body, hashlib.sha1).digest()[:10]
    rx = srtp.SrtpSession(CM, key, salt)
    assert rx.unprotect_rtcp(pkt) == plain
    assert code_of(rx.unprotect_rtcp, pkt) == srtp.ERR_REPLAY


@pytest.mark.parametrize("profile", [GCM128, GCM256])
def test_srtcp_gcm_matches_rfc7714_construction(profile):
    key, salt = keys(profile, 18)
    _, kl, _, _ = PROFILES[profile]
    k = aes_cm_prf(key, salt, 3, kl)
    s = aes_cm_prf(key, salt, 5, 12)
    ssrc, index = 0x4321, 5
    plain = rtcp_rr(ssrc, 1)
    iv = bytes(
        a ^ b
        for a, b in zip(
            b"\x00\x00" + struct.pack("!I", ssrc) + b"\x00\x00" + struct.pack("!I", index), s, strict=True
        )
    )
    # E = 1 (RFC 7714 9.2): AAD = first 8 octets || E|index; index follows the tag
    eidx = struct.pack("!I", 0x80000000 | index)
    ct = AESGCM(k).encrypt(iv, plain[8:], plain[:8] + eidx)
    rx = srtp.SrtpSession(profile, key, salt)
    assert rx.unprotect_rtcp(plain[:8] + ct + eidx) == plain
    # E = 0 (RFC 7714 9.3): whole packet is AAD, empty plaintext
    index = 6
    iv = bytes(
        a ^ b
        for a, b in zip(
            b"\x00\x00" + struct.pack("!I", ssrc) + b"\x00\x00" + struct.pack("!I", index), s, strict=True
        )
    )
    e0 = struct.pack("!I", index)
    tag = AESGCM(k).encrypt(iv, b"", plain + e0)
    assert rx.unprotect_rtcp(plain + tag + e0) == plain
    # and our protect output decrypts with the independent construction
    tx = srtp.SrtpSession(profile, key, salt)
    out = tx.protect_rtcp(plain)
    eidx0 = struct.pack("!I", 0x80000000)
    iv0 = bytes(a ^ b for a, b in zip(b"\x00\x00" + struct.pack("!I", ssrc) + b"\x00" * 6, s, strict=True))
    assert out[-4:] == eidx0
    assert AESGCM(k).decrypt(iv0, out[8:-4], plain[:8] + eidx0) == plain[8:]


@pytest.mark.parametrize("profile", [GCM128, GCM256])
def test_srtp_gcm_matches_rfc7714_construction(profile):
    key, salt = keys(profile, 19)
    _, kl, _, _ = PROFILES[profile]
    k = aes_cm_prf(key, salt, 0, kl)
    s = aes_cm_prf(key, salt, 2, 12)
    tx = srtp.SrtpSession(profile, key, salt)
    ssrc = 0x99887766
    for seq in (65535, 0):  # second packet has ROC 1
        plain = rtp(seq, ssrc, 0, b"payload!" * 5, csrcs=[1, 2], ext=(0xBEDE, b"\x10\x01\x00\x00"))
        hdr = plain[: len(plain) - 40]
        roc = 0 if seq == 65535 else 1
        iv = bytes(a ^ b for a, b in zip(b"\x00\x00" + struct.pack("!IIH", ssrc, roc, seq), s, strict=True))
        assert tx.protect(plain) == hdr + AESGCM(k).encrypt(iv, plain[len(hdr) :], hdr)


# ---------------------------------------------------------------------------------------------------------
# malformed input


@ALL
def test_truncated_and_malformed_rtp(profile):
    key, salt = keys(profile, 20)
    tx, rx = our_pair(profile, key, salt)
    good = tx.protect(rtp(1, 5, 0, b"z" * 30, csrcs=[1, 2, 3], ext=(0x1000, b"\x01\x02\x03\x04" * 2)))
    for n in range(len(good)):
        with pytest.raises(SrtpError):
            rx.unprotect(good[:n])
    assert code_of(rx.unprotect, b"") == srtp.ERR_TOO_SHORT
    assert code_of(rx.unprotect, b"\x80") == srtp.ERR_TOO_SHORT
    # version 1 / 0 / 3
    for v in (0x00, 0x40, 0xC0):
        assert code_of(rx.unprotect, bytes([v | (good[0] & 0x3F)]) + good[1:]) == srtp.ERR_BAD_PARAM
        assert code_of(tx.protect, bytes([v]) + rtp(2)[1:]) == srtp.ERR_BAD_PARAM
    # 15 CSRCs announced but the packet is short
    assert code_of(rx.unprotect, bytes([0x8F]) + good[1:40]) == srtp.ERR_TOO_SHORT
    assert code_of(tx.protect, bytes([0x8F]) + rtp(2)[1:]) == srtp.ERR_TOO_SHORT
    # header extension length beyond the packet
    bad_ext = bytearray(rtp(3, 5, 0, b"", ext=(0xBEDE, b"\x00" * 4)))
    bad_ext[14:16] = struct.pack("!H", 0xFFFF)
    assert code_of(tx.protect, bytes(bad_ext)) == srtp.ERR_TOO_SHORT
    assert code_of(rx.unprotect, bytes(bad_ext) + b"\x00" * 16) == srtp.ERR_TOO_SHORT
    # X bit set but no room for the extension header
    assert code_of(tx.protect, bytes([0x90]) + rtp(4)[1:12]) == srtp.ERR_TOO_SHORT
    # plain RTP too short to protect
    for n in range(12):
        assert code_of(tx.protect, rtp(5)[:n]) == srtp.ERR_TOO_SHORT
    # header-only packet (empty payload) is valid
    assert rx.unprotect(tx.protect(rtp(6, 5, 0, b""))) == rtp(6, 5, 0, b"")
    # nothing above changed the receiver: the original packet still decrypts
    assert rx.unprotect(good)[:12] == good[:12]


@ALL
def test_truncated_and_malformed_rtcp(profile):
    key, salt = keys(profile, 21)
    tx, rx = our_pair(profile, key, salt)
    good = tx.protect_rtcp(rtcp_rr(8, 2))
    for n in range(len(good)):
        with pytest.raises(SrtpError):
            rx.unprotect_rtcp(good[:n])
    for n in range(8):
        assert code_of(tx.protect_rtcp, rtcp_rr(8)[:n]) == srtp.ERR_TOO_SHORT
    assert code_of(tx.protect_rtcp, b"\x40" + rtcp_rr(8)[1:]) == srtp.ERR_BAD_PARAM
    assert code_of(rx.unprotect_rtcp, b"\x00" + good[1:]) == srtp.ERR_BAD_PARAM
    assert code_of(rx.unprotect_rtcp, good[:20]) == srtp.ERR_TOO_SHORT
    # minimal RTCP (header + SSRC only) round-trips
    assert rx.unprotect_rtcp(tx.protect_rtcp(rtcp_rr(8, 0))) == rtcp_rr(8, 0)
    assert rx.unprotect_rtcp(good) == rtcp_rr(8, 2)


def test_random_garbage_never_crashes():
    rnd = random.Random(22)
    sessions = [srtp.SrtpSession(p, *keys(p, 23)) for p in PROFILES]
    for _ in range(3000):
        data = rnd.randbytes(rnd.randrange(0, 80))
        if data and rnd.random() < 0.7:
            data = bytes([0x80 | (data[0] & 0x3F)]) + data[1:]
        for s in sessions:
            for fn in (s.unprotect, s.unprotect_rtcp):
                with pytest.raises(SrtpError):
                    fn(data)
            for fn in (s.protect, s.protect_rtcp):  # protect accepts any well-formed header
                try:
                    out = fn(data)
                except SrtpError:
                    continue
                assert isinstance(out, bytes) and len(out) > len(data)
    with pytest.raises(TypeError):
        sessions[0].unprotect(None)


# ---------------------------------------------------------------------------------------------------------
# SSRC table


def test_ssrc_table_limit_and_removal():
    key, salt = keys(CM, 24)
    tx = srtp.SrtpSession(CM, key, salt)
    for ssrc in range(srtp.MAX_STREAMS):
        tx.protect(rtp(1, ssrc))
    assert tx.stream_count == srtp.MAX_STREAMS
    assert code_of(tx.protect, rtp(1, 0xF0000000)) == srtp.ERR_BAD_PARAM
    assert code_of(tx.protect_rtcp, rtcp_rr(0xF0000000)) == srtp.ERR_BAD_PARAM
    assert tx.protect(rtp(2, 17))  # known SSRCs keep working
    assert tx.remove_ssrc(17) and not tx.remove_ssrc(17)
    assert tx.protect(rtp(1, 0xF0000000))

    # inbound: a full table rejects new SSRCs before doing any work
    tx2, rx = our_pair(CM, key, salt)
    for ssrc in range(srtp.MAX_STREAMS):
        rx.unprotect_rtcp(tx2.protect_rtcp(rtcp_rr(ssrc)))
    assert rx.stream_count == srtp.MAX_STREAMS
    tx3 = srtp.SrtpSession(CM, key, salt)
    assert code_of(rx.unprotect, tx3.protect(rtp(5, 0xF0000001))) == srtp.ERR_BAD_PARAM
    assert rx.unprotect(tx3.protect(rtp(6, 3))) == rtp(6, 3)  # known SSRC, new RTP state: fine


def test_ssrc_removal_keeps_other_streams():
    key, salt = keys(CM, 25)
    tx = srtp.SrtpSession(CM, key, salt)
    rnd = random.Random(26)
    ssrcs = rnd.sample(range(1 << 32), 600)
    for s in ssrcs:
        tx.protect(rtp(65535, s))
        tx.protect(rtp(0, s))  # ROC 1 for every SSRC
    removed = set(rnd.sample(ssrcs, 300))
    for s in removed:
        assert tx.remove_ssrc(s)
    assert tx.stream_count == 300
    for s in ssrcs:
        assert tx.roc(s, inbound=False) == (None if s in removed else 1)
    assert tx.roc(12345, inbound=True) is None


def test_concurrent_use_from_threads():
    key, salt = keys(GCM128, 27)
    tx, rx = our_pair(GCM128, key, salt)
    out: dict[int, list[bytes]] = {}

    def worker(ssrc):
        out[ssrc] = [tx.protect(rtp(i, ssrc, i, os.urandom(200))) for i in range(500)]

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for ssrc, pkts in out.items():
        for i, p in enumerate(pkts):
            assert rx.unprotect(p)[:12] == rtp(i, ssrc, i)[:12]


# ---------------------------------------------------------------------------------------------------------
# benchmark helper


@ALL
def test_bench_helpers(profile):
    ns = srtp.bench_protect(profile, 1200, 2000)
    assert isinstance(ns, float) and 0 < ns < 1e6
    assert 0 < srtp.bench_unprotect(profile, 160, 2000) < 1e6
    with pytest.raises(SrtpError):
        srtp.bench_protect(profile, -1, 10)
    with pytest.raises(SrtpError):
        srtp.bench_protect(99, 100, 10)
