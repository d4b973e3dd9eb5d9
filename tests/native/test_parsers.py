"""Unit tests of the worker's own C parsers (STUN, RTP, RTCP, keyframes, NACK) with hand-built packets.

The entry points in native._core (parse_stun, parse_rtp, walk_rtcp, is_keyframe, build_nack) run the very
C code the media worker runs per datagram; every packet here is built byte by byte in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import zlib

import pytest

core = pytest.importorskip("native._core")
parse_stun, parse_rtp, walk_rtcp = core.parse_stun, core.parse_rtp, core.walk_rtcp
is_keyframe, build_nack = core.is_keyframe, core.build_nack

MAGIC = 0x2112A442
BINDING_REQUEST, BINDING_SUCCESS, BINDING_ERROR, BINDING_INDICATION = 0x0001, 0x0101, 0x0111, 0x0011
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, PRIORITY = 0x0006, 0x0008, 0x0009, 0x0024
USE_CANDIDATE, FINGERPRINT, ICE_CONTROLLING, SOFTWARE = 0x0025, 0x8028, 0x802A, 0x8022
PWD = "0123456789abcdef01234567"


# ---------------------------------------------------------------- STUN builders (RFC 5389)


def stun_attr(atype: int, value: bytes) -> bytes:
    pad = -len(value) % 4
    return struct.pack(">HH", atype, len(value)) + value + b"\0" * pad


def stun_header(mtype: int, length: int, txid: bytes) -> bytes:
    return struct.pack(">HHI", mtype, length, MAGIC) + txid


def stun_message(
    mtype: int = BINDING_REQUEST,
    attrs: list[tuple[int, bytes]] | None = None,
    key: str | None = None,
    fingerprint: bool = True,
    txid: bytes | None = None,
    after_integrity: bytes = b"",
) -> bytes:
    """A STUN message; MESSAGE-INTEGRITY per RFC 5389 15.4 and FINGERPRINT per 15.5 when asked."""
    txid = txid if txid is not None else os.urandom(12)
    body = b"".join(stun_attr(t, v) for t, v in (attrs or []))
    if key is not None:
        hdr = stun_header(mtype, len(body) + 24, txid)  # length as if MESSAGE-INTEGRITY were last
        mac = hmac.new(key.encode(), hdr + body, hashlib.sha1).digest()
        body += stun_attr(MESSAGE_INTEGRITY, mac)
    body += after_integrity
    if fingerprint:
        hdr = stun_header(mtype, len(body) + 8, txid)
        crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += stun_attr(FINGERPRINT, struct.pack(">I", crc))
    return stun_header(mtype, len(body), txid) + body


def binding_request(
    username: str = "srvufrag:cliufrag",
    key: str | None = PWD,
    use_candidate: bool = True,
    priority: int = 0x6E7F1EFF,
    **kw,
) -> bytes:
    attrs = [
        (USERNAME, username.encode()),
        (PRIORITY, struct.pack(">I", priority)),
        (ICE_CONTROLLING, os.urandom(8)),
    ]
    if use_candidate:
        attrs.append((USE_CANDIDATE, b""))
    return stun_message(BINDING_REQUEST, attrs, key=key, **kw)


def with_fingerprint_fixed(msg: bytes) -> bytes:
    """Recompute the trailing FINGERPRINT of msg after an edit (msg must end with one)."""
    crc = (zlib.crc32(msg[:-8]) ^ 0x5354554E) & 0xFFFFFFFF
    return msg[:-4] + struct.pack(">I", crc)


# ---------------------------------------------------------------- STUN


class TestStun:
    def test_valid_binding_request(self):
        txid = bytes(range(12))
        msg = binding_request("abcd:efgh", priority=1234, txid=txid)
        m = parse_stun(msg, PWD)
        assert m is not None
        assert m["type"] == BINDING_REQUEST
        assert m["username"] == b"abcd:efgh"
        assert m["integrity"] and m["fingerprint"]
        assert m["use_candidate"] is True
        assert m["priority"] == 1234
        assert m["error_code"] == 0
        assert m["integrity_ok"] is True

    def test_integrity_wrong_key(self):
        msg = binding_request()
        assert parse_stun(msg, PWD)["integrity_ok"] is True
        assert parse_stun(msg, PWD + "x")["integrity_ok"] is False
        assert parse_stun(msg, "")["integrity_ok"] is False
        assert parse_stun(msg, "wrong-password-wrong-pwd")["integrity_ok"] is False

    def test_no_key_means_no_integrity_verdict(self):
        m = parse_stun(binding_request())
        assert m is not None and "integrity_ok" not in m

    def test_without_integrity_never_ok(self):
        msg = binding_request(key=None)
        m = parse_stun(msg, PWD)
        assert m is not None and m["integrity"] is False and m["integrity_ok"] is False

    def test_without_fingerprint_is_accepted(self):
        m = parse_stun(binding_request(fingerprint=False), PWD)
        assert m is not None and m["fingerprint"] is False and m["integrity_ok"] is True

    def test_no_use_candidate(self):
        m = parse_stun(binding_request(use_candidate=False), PWD)
        assert m["use_candidate"] is False and m["integrity_ok"] is True

    def test_unpadded_username(self):
        # a 5-byte USERNAME is padded to 8; the parser must step over the padding
        msg = binding_request("ab:cd")
        m = parse_stun(msg, PWD)
        assert m["username"] == b"ab:cd" and m["integrity_ok"] is True

    def test_integrity_covers_tampered_byte(self):
        msg = bytearray(binding_request("abcd:efgh"))
        msg[24 + 1] ^= 0x01  # a byte of the USERNAME value
        tampered = with_fingerprint_fixed(bytes(msg))
        m = parse_stun(tampered, PWD)
        assert m is not None and m["integrity_ok"] is False

    def test_txid_is_covered_by_integrity(self):
        msg = bytearray(binding_request())
        msg[10] ^= 0xFF
        m = parse_stun(with_fingerprint_fixed(bytes(msg)), PWD)
        assert m is not None and m["integrity_ok"] is False

    def test_bad_fingerprint_is_dropped(self):
        msg = bytearray(binding_request())
        msg[-1] ^= 0x01
        assert parse_stun(bytes(msg)) is None
        assert parse_stun(bytes(msg), PWD) is None

    def test_fingerprint_with_wrong_length_is_dropped(self):
        msg = binding_request(fingerprint=False)
        bad = msg + stun_attr(FINGERPRINT, b"\0" * 8)
        bad = bad[:2] + struct.pack(">H", len(bad) - 20) + bad[4:]
        assert parse_stun(bad) is None

    def test_integrity_with_wrong_length_is_dropped(self):
        msg = stun_message(BINDING_REQUEST, [(USERNAME, b"a:b"), (MESSAGE_INTEGRITY, b"\0" * 16)])
        assert parse_stun(msg) is None

    def test_attribute_after_fingerprint_is_dropped(self):
        msg = binding_request()
        bad = msg + stun_attr(SOFTWARE, b"evil")
        bad = bad[:2] + struct.pack(">H", len(bad) - 20) + bad[4:]
        assert parse_stun(bad) is None
        # even when the FINGERPRINT would match the new length
        body = binding_request(fingerprint=False)
        txid = body[8:20]
        attrs = body[20:]
        hdr = stun_header(BINDING_REQUEST, len(attrs) + 8, txid)
        crc = (zlib.crc32(hdr + attrs) ^ 0x5354554E) & 0xFFFFFFFF
        full = attrs + stun_attr(FINGERPRINT, struct.pack(">I", crc)) + stun_attr(SOFTWARE, b"evil")
        assert parse_stun(stun_header(BINDING_REQUEST, len(full), txid) + full) is None

    def test_two_fingerprints_dropped(self):
        msg = binding_request()
        bad = msg + msg[-8:]
        bad = bad[:2] + struct.pack(">H", len(bad) - 20) + bad[4:]
        assert parse_stun(bad) is None

    def test_attributes_after_integrity_are_ignored(self):
        """RFC 5389 15.4: everything after MESSAGE-INTEGRITY but FINGERPRINT is ignored."""
        msg = binding_request("abcd:efgh", after_integrity=stun_attr(USERNAME, b"evil:evil"))
        m = parse_stun(msg, PWD)
        assert m is not None
        assert m["username"] == b"abcd:efgh"
        assert m["integrity_ok"] is True

    def test_unknown_attributes_ignored(self):
        msg = stun_message(BINDING_REQUEST, [(0xC001, b"xyz"), (USERNAME, b"u:v"), (0x7FFF, b"")], key=PWD)
        m = parse_stun(msg, PWD)
        assert m["username"] == b"u:v" and m["integrity_ok"] is True

    @pytest.mark.parametrize("cut", range(0, 20))
    def test_shorter_than_header(self, cut):
        assert parse_stun(binding_request()[:cut], PWD) is None

    def test_truncated_at_every_length(self):
        msg = binding_request()
        for n in range(len(msg)):
            assert parse_stun(msg[:n], PWD) is None, n
            assert parse_stun(msg[:n]) is None, n

    def test_length_not_multiple_of_four(self):
        msg = binding_request()
        for delta in (1, 2, 3, -1, -2, -3):
            ln = len(msg) - 20 + delta
            bad = msg[:2] + struct.pack(">H", ln) + msg[4:]
            assert parse_stun(bad + b"\0" * 4) is None, delta

    def test_length_larger_than_datagram(self):
        msg = binding_request()
        bad = msg[:2] + struct.pack(">H", len(msg) - 20 + 4) + msg[4:]
        assert parse_stun(bad) is None
        bad = msg[:2] + b"\xff\xfc" + msg[4:]
        assert parse_stun(bad) is None

    def test_attribute_length_past_end(self):
        body = struct.pack(">HH", USERNAME, 200) + b"abcd"
        msg = stun_header(BINDING_REQUEST, len(body), os.urandom(12)) + body
        assert parse_stun(msg) is None

    def test_attribute_padding_past_end(self):
        # a 5-byte attribute whose padding would run past the declared length
        body = struct.pack(">HH", USERNAME, 5) + b"abcde" + b"\0\0\0"
        msg = stun_header(BINDING_REQUEST, 8, os.urandom(12)) + body
        assert parse_stun(msg) is None

    def test_not_stun(self):
        msg = binding_request()
        assert parse_stun(b"\x40" + msg[1:]) is None  # first byte >= 4 (RFC 7983 demux)
        assert parse_stun(msg[:4] + b"\0\0\0\0" + msg[8:]) is None  # no magic cookie
        assert parse_stun(b"") is None
        assert parse_stun(b"\0" * 20) is None

    def test_empty_message(self):
        m = parse_stun(stun_header(BINDING_REQUEST, 0, b"\x01" * 12), PWD)
        assert m is not None
        assert (
            m["username"] == b""
            and not m["integrity"]
            and not m["fingerprint"]
            and m["integrity_ok"] is False
        )

    def test_error_response(self):
        val = b"\0\0\x04\x01" + b"Unauthorized"
        m = parse_stun(stun_message(BINDING_ERROR, [(ERROR_CODE, val)]))
        assert m["type"] == BINDING_ERROR and m["error_code"] == 401

    def test_indication(self):
        m = parse_stun(stun_message(BINDING_INDICATION, []))
        assert m is not None and m["type"] == BINDING_INDICATION

    def test_integrity_offset_beyond_scratch_buffer(self):
        """A MESSAGE-INTEGRITY after 4 KB of attributes (larger than the checker's 2 KB scratch buffer and the
        worker's receive slots): no overflow, and never accepted with a wrong key."""
        msg = stun_message(BINDING_REQUEST, [(USERNAME, b"a:b"), (0xC002, b"x" * 4000)], key=PWD)
        m = parse_stun(msg, PWD)
        assert m is not None and m["integrity"] is True and isinstance(m["integrity_ok"], bool)
        assert parse_stun(msg, "wrong")["integrity_ok"] is False

    # ---- cross-checks with aioice's independent implementation

    def test_aioice_built_request_parses(self):
        from aioice import stun

        req = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
        req.attributes["USERNAME"] = "srv1:cli1"
        req.attributes["PRIORITY"] = 4242
        req.attributes["ICE-CONTROLLING"] = 1
        req.attributes["USE-CANDIDATE"] = None
        req.add_message_integrity(PWD.encode())
        req.add_fingerprint()
        data = bytes(req)
        m = parse_stun(data, PWD)
        assert m is not None
        assert m["type"] == BINDING_REQUEST and m["username"] == b"srv1:cli1"
        assert m["priority"] == 4242 and m["use_candidate"] and m["integrity_ok"] is True
        assert parse_stun(data, "nope")["integrity_ok"] is False

    def test_our_builder_agrees_with_aioice(self):
        from aioice import stun

        msg = binding_request("abcd:efgh")
        parsed = stun.parse_message(msg)
        assert parsed.attributes["USERNAME"] == "abcd:efgh"
        assert parsed.check_message_integrity(PWD.encode())
        assert not stun.parse_message(msg).check_message_integrity(b"wrong")


# ---------------------------------------------------------------- RTP builders (RFC 3550, RFC 8285)


def rtp(
    pt: int = 96,
    seq: int = 1000,
    ts: int = 123456,
    ssrc: int = 0x11223344,
    payload: bytes = b"payload!",
    marker: int = 0,
    csrcs: tuple[int, ...] = (),
    ext: tuple[int, bytes] | None = None,
    pad: int = 0,
) -> bytes:
    b0 = 0x80 | len(csrcs) | (0x20 if pad else 0) | (0x10 if ext else 0)
    out = struct.pack(">BBHII", b0, (marker << 7) | pt, seq, ts, ssrc)
    out += b"".join(struct.pack(">I", c) for c in csrcs)
    if ext:
        profile, data = ext
        assert len(data) % 4 == 0
        out += struct.pack(">HH", profile, len(data) // 4) + data
    out += payload
    if pad:
        out += b"\0" * (pad - 1) + bytes([pad])
    return out


def one_byte_ext(*elems: tuple[int, bytes], padding: int = 0) -> bytes:
    data = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elems) + b"\0" * padding
    return data + b"\0" * (-len(data) % 4)


def two_byte_ext(*elems: tuple[int, bytes], padding: int = 0) -> bytes:
    data = b"".join(bytes([i, len(v)]) + v for i, v in elems) + b"\0" * padding
    return data + b"\0" * (-len(data) % 4)


# ---------------------------------------------------------------- RTP


class TestRtp:
    def test_plain(self):
        pkt = rtp(pt=111, seq=65535, ts=0xFFFFFFFF, ssrc=0xDEADBEEF, payload=b"abc", marker=1)
        h = parse_rtp(pkt)
        assert h == {
            "marker": 1,
            "pt": 111,
            "seq": 65535,
            "ts": 0xFFFFFFFF,
            "ssrc": 0xDEADBEEF,
            "header_len": 12,
            "payload_len": 3,
            "extensions": {},
        }

    def test_empty_payload(self):
        h = parse_rtp(rtp(payload=b""))
        assert h["header_len"] == 12 and h["payload_len"] == 0

    @pytest.mark.parametrize("n", [1, 3, 15])
    def test_csrcs(self, n):
        pkt = rtp(csrcs=tuple(range(1, n + 1)), payload=b"xyz")
        h = parse_rtp(pkt)
        assert h["header_len"] == 12 + 4 * n and h["payload_len"] == 3
        assert pkt[h["header_len"] :] == b"xyz"

    def test_csrcs_beyond_packet(self):
        pkt = bytearray(rtp(payload=b""))
        pkt[0] |= 0x0F
        assert parse_rtp(bytes(pkt)) is None
        assert parse_rtp(bytes(pkt) + b"\0" * 59) is None
        assert parse_rtp(bytes(pkt) + b"\0" * 60) is not None

    def test_one_byte_extensions(self):
        ext = one_byte_ext((1, b"0"), (3, b"\x01\x02\x03"), (5, bytes(range(16))), padding=2)
        pkt = rtp(ext=(0xBEDE, ext), payload=b"P" * 10)
        h = parse_rtp(pkt)
        assert h["extensions"] == {1: b"0", 3: b"\x01\x02\x03", 5: bytes(range(16))}
        assert h["header_len"] == 12 + 4 + len(ext)
        assert h["payload_len"] == 10

    def test_one_byte_padding_between_elements(self):
        data = bytes([0x10]) + b"a" + b"\0\0" + bytes([0x21]) + b"bc" + b"\0"
        data += b"\0" * (-len(data) % 4)
        h = parse_rtp(rtp(ext=(0xBEDE, data)))
        assert h["extensions"] == {1: b"a", 2: b"bc"}

    def test_one_byte_id_15_stops(self):
        data = bytes([0x10]) + b"a" + bytes([0xF0]) + b"\xff" + bytes([0x20]) + b"b" + b"\0\0"
        h = parse_rtp(rtp(ext=(0xBEDE, data), payload=b"pp"))
        assert h["extensions"] == {1: b"a"}
        assert h["header_len"] == 12 + 4 + len(data) and h["payload_len"] == 2

    def test_one_byte_element_past_block(self):
        data = bytes([0x1F]) + b"abc"  # claims 16 bytes in a 4-byte block
        assert parse_rtp(rtp(ext=(0xBEDE, data), payload=b"x" * 40)) is None

    def test_two_byte_extensions(self):
        ext = two_byte_ext((1, b""), (20, b"hello"), (255, b"x" * 200), padding=1)
        for profile in (0x1000, 0x1005, 0x100F):
            h = parse_rtp(rtp(ext=(profile, ext), payload=b"Q"))
            assert h["extensions"] == {1: b"", 20: b"hello", 255: b"x" * 200}, hex(profile)
            assert h["payload_len"] == 1

    def test_two_byte_element_past_block(self):
        assert parse_rtp(rtp(ext=(0x1000, bytes([1, 9]) + b"ab"), payload=b"x" * 40)) is None
        # a lone id byte at the end of the block (no length byte)
        assert parse_rtp(rtp(ext=(0x1000, b"\0\0\0\x07"), payload=b"x" * 40)) is None

    def test_unknown_extension_profile_is_skipped(self):
        h = parse_rtp(rtp(ext=(0x1234, b"\xff" * 8), payload=b"abc"))
        assert h["extensions"] == {} and h["header_len"] == 24 and h["payload_len"] == 3

    def test_empty_extension_block(self):
        h = parse_rtp(rtp(ext=(0xBEDE, b""), payload=b"abc"))
        assert h["header_len"] == 16 and h["extensions"] == {}

    def test_extension_block_past_packet(self):
        pkt = rtp(payload=b"")
        bad = bytes([pkt[0] | 0x10]) + pkt[1:] + struct.pack(">HH", 0xBEDE, 100) + b"\0" * 8
        assert parse_rtp(bad) is None
        # the extension header itself is cut
        assert parse_rtp(bytes([pkt[0] | 0x10]) + pkt[1:] + b"\xbe\xde") is None

    def test_more_than_sixteen_extensions(self):
        elems = [(1 + i % 14, bytes([i])) for i in range(40)]
        h = parse_rtp(rtp(ext=(0xBEDE, one_byte_ext(*elems)), payload=b"zz"))
        assert h is not None and len(h["extensions"]) <= 16 and h["payload_len"] == 2

    def test_padding(self):
        h = parse_rtp(rtp(payload=b"abcdef", pad=4))
        assert h["header_len"] == 12 and h["payload_len"] == 6
        h = parse_rtp(rtp(payload=b"", pad=255))
        assert h["payload_len"] == 0

    def test_padding_count_zero(self):
        pkt = bytearray(rtp(payload=b"abcdef", pad=4))
        pkt[-1] = 0
        assert parse_rtp(bytes(pkt)) is None

    def test_padding_larger_than_payload(self):
        pkt = bytearray(rtp(payload=b"ab", pad=4))
        pkt[-1] = 7  # 2 + 4 bytes after the header, 7 claimed
        assert parse_rtp(bytes(pkt)) is None
        pkt[-1] = 6
        assert parse_rtp(bytes(pkt))["payload_len"] == 0

    def test_padding_bit_without_body(self):
        pkt = bytearray(rtp(payload=b""))
        pkt[0] |= 0x20
        assert parse_rtp(bytes(pkt)) is None

    @pytest.mark.parametrize("version", [0, 1, 3])
    def test_wrong_version(self, version):
        pkt = bytearray(rtp())
        pkt[0] = (pkt[0] & 0x3F) | (version << 6)
        assert parse_rtp(bytes(pkt)) is None

    @pytest.mark.parametrize(
        "pkt",
        [
            rtp(payload=b"abcdefgh"),
            rtp(csrcs=(1, 2), payload=b"abcdefgh"),
            rtp(ext=(0xBEDE, one_byte_ext((1, b"0"), (2, b"\x01\x02\x03"))), payload=b"abcdefgh"),
            rtp(ext=(0x1000, two_byte_ext((7, b"seven"), (8, b""))), csrcs=(9,), payload=b"abcdefgh"),
        ],
        ids=["plain", "csrc", "one-byte", "two-byte"],
    )
    def test_truncated_at_every_length(self, pkt):
        full = parse_rtp(pkt)
        hl = full["header_len"]
        for n in range(len(pkt)):
            h = parse_rtp(pkt[:n])
            if n < hl:
                assert h is None, n
            else:  # cutting the payload leaves a shorter, valid packet
                assert h["header_len"] == hl and h["payload_len"] == n - hl, n

    def test_truncated_padded_packet_never_crashes(self):
        pkt = rtp(ext=(0xBEDE, one_byte_ext((1, b"abc"))), payload=b"\x05" * 20, pad=5)
        for n in range(len(pkt) + 1):
            h = parse_rtp(pkt[:n])
            if h is not None:
                assert h["header_len"] + h["payload_len"] <= n


# ---------------------------------------------------------------- RTCP


def rtcp_sr(ssrc: int, blocks: int = 1) -> bytes:
    body = struct.pack(">IIIIII", ssrc, 0xE1234567, 0x89ABCDEF, 1000, 50, 5000)
    body += b"".join(struct.pack(">IIIIII", 0x1000 + i, 0x00000001, 1234, 5, 0, 0) for i in range(blocks))
    return struct.pack(">BBH", 0x80 | blocks, 200, (len(body) + 4) // 4 - 1) + body


def rtcp_rr(ssrc: int, blocks: int = 0) -> bytes:
    body = struct.pack(">I", ssrc)
    body += b"".join(struct.pack(">IIIIII", 0x2000 + i, 0, 0, 0, 0, 0) for i in range(blocks))
    return struct.pack(">BBH", 0x80 | blocks, 201, (len(body) + 4) // 4 - 1) + body


def rtcp_sdes(ssrc: int, cname: bytes) -> bytes:
    chunk = struct.pack(">I", ssrc) + bytes([1, len(cname)]) + cname + b"\0"
    chunk += b"\0" * (-len(chunk) % 4)
    return struct.pack(">BBH", 0x81, 202, (len(chunk) + 4) // 4 - 1) + chunk


class TestRtcp:
    def test_compound_sr_rr_sdes(self):
        sr, rr, sdes = rtcp_sr(1, 1), rtcp_rr(2, 2), rtcp_sdes(1, b"cname-xyz")
        pkts = walk_rtcp(sr + rr + sdes)
        assert pkts == [(200, 1, len(sr)), (201, 2, len(rr)), (202, 1, len(sdes))]
        assert len(sr) == 52 and len(rr) == 56

    def test_single_and_empty(self):
        assert walk_rtcp(b"") == []
        assert walk_rtcp(rtcp_rr(5)) == [(201, 0, 8)]

    def test_truncated_at_every_length(self):
        parts = [rtcp_sr(1, 1), rtcp_rr(2, 1), rtcp_sdes(1, b"c")]
        data = b"".join(parts)
        for n in range(len(data) + 1):
            got = walk_rtcp(data[:n])
            ends, end = [], 0
            for p in parts:
                end += len(p)
                ends.append(end)
            assert len(got) == sum(1 for e in ends if e <= n), n

    def test_stops_at_bad_version(self):
        rr = bytearray(rtcp_rr(2))
        rr[0] &= 0x3F
        assert walk_rtcp(rtcp_sr(1) + bytes(rr) + rtcp_rr(3)) == [(200, 1, 52)]

    def test_stops_at_length_past_end(self):
        rr = bytearray(rtcp_rr(2))
        rr[2:4] = b"\xff\xff"
        assert walk_rtcp(rtcp_sr(1) + bytes(rr)) == [(200, 1, 52)]

    def test_trailing_bytes_ignored(self):
        assert walk_rtcp(rtcp_rr(1) + b"\x80\xc9") == [(201, 0, 8)]

    def test_minimum_packet(self):
        # length 0 = one word: a header alone
        assert walk_rtcp(b"\x80\xcb\x00\x00" * 3) == [(203, 0, 4)] * 3


# ---------------------------------------------------------------- NACK (RFC 4585 6.2.1)


def nack_fci(data: bytes) -> list[tuple[int, int]]:
    assert data[0] == 0x81 and data[1] == 205
    assert (struct.unpack(">H", data[2:4])[0] + 1) * 4 == len(data)
    return [struct.unpack(">HH", data[i : i + 4]) for i in range(12, len(data), 4)]


def nack_seqs(data: bytes) -> set[int]:
    out = set()
    for pid, blp in nack_fci(data):
        out.add(pid)
        out.update((pid + b + 1) & 0xFFFF for b in range(16) if blp & (1 << b))
    return out


class TestNack:
    def test_header(self):
        data = build_nack(0x11111111, 0x22222222, [100])
        assert len(data) == 16
        assert struct.unpack(">II", data[4:12]) == (0x11111111, 0x22222222)
        assert nack_fci(data) == [(100, 0)]

    def test_run_within_sixteen(self):
        assert nack_fci(build_nack(1, 2, [100, 101, 103, 116])) == [(100, 0b1000000000000101)]

    def test_runs_more_than_sixteen_apart(self):
        assert nack_fci(build_nack(1, 2, [100, 117])) == [(100, 0), (117, 0)]
        assert nack_fci(build_nack(1, 2, [100, 116, 117, 134])) == [(100, 0x8000), (117, 0), (134, 0)]
        assert nack_seqs(build_nack(1, 2, [100, 116, 117, 134])) == {100, 116, 117, 134}

    def test_wrap_around(self):
        assert nack_fci(build_nack(1, 2, [65535, 0, 1])) == [(65535, 0b11)]
        assert nack_fci(build_nack(1, 2, [65534, 65535, 0, 20])) == [(65534, 0b11), (20, 0)]
        assert nack_seqs(build_nack(1, 2, [65530, 65535, 9])) == {65530, 65535, 9}

    def test_duplicates(self):
        assert nack_fci(build_nack(1, 2, [5, 5, 6, 6])) == [(5, 1)]

    def test_empty(self):
        assert build_nack(1, 2, []) == b""

    def test_many_runs_fit_in_mtu(self):
        seqs = [i * 20 for i in range(512)]
        data = build_nack(1, 2, seqs)
        assert len(data) <= 1500
        got = nack_seqs(data)
        assert got <= set(seqs) and len(got) == (len(data) - 12) // 4
        assert walk_rtcp(data) == [(205, 1, len(data))]

    def test_aiortc_reads_our_nack(self):
        from aiortc.rtp import RtcpPacket, RtcpRtpfbPacket

        seqs = [65530, 65531, 65535, 0, 1, 40, 41, 57]
        (pkt,) = RtcpPacket.parse(build_nack(0xAABBCCDD, 0x01020304, seqs))
        assert isinstance(pkt, RtcpRtpfbPacket) and pkt.fmt == 1
        assert pkt.ssrc == 0xAABBCCDD and pkt.media_ssrc == 0x01020304
        assert sorted(s & 0xFFFF for s in pkt.lost) == sorted(seqs)  # aiortc does not wrap


# ---------------------------------------------------------------- keyframes

VP8_KEY_HDR = b"\x50\x9d\x01\x2a"  # frame tag with P=0 (key frame) + start code fragment
VP8_DELTA_HDR = b"\x51\x01\x00\x00"


class TestKeyframe:
    @pytest.mark.parametrize(
        "desc,hdr,want",
        [
            (b"\x10", VP8_KEY_HDR, True),  # S=1, PID=0, no X
            (b"\x10", VP8_DELTA_HDR, False),
            (b"\x00", VP8_KEY_HDR, False),  # not the start of a partition
            (b"\x11", VP8_KEY_HDR, False),  # partition 1
            (b"\x90\x80\x05", VP8_KEY_HDR, True),  # X, I with a 7-bit picture id
            (b"\x90\x80\x85\x01", VP8_KEY_HDR, True),  # X, I with a 15-bit picture id (M=1)
            (b"\x90\x80\x85\x01", VP8_DELTA_HDR, False),
            (b"\x90\xc0\x85\x01\x07", VP8_KEY_HDR, True),  # I + L (TL0PICIDX)
            (b"\x90\xe0\x85\x01\x07\x20", VP8_KEY_HDR, True),  # I + L + T
            (b"\x90\x10\x20", VP8_KEY_HDR, True),  # K only
            (b"\x90\x00", VP8_KEY_HDR, True),  # X with nothing set
            (b"\x90\xf0\x85\x01\x07\x20", VP8_DELTA_HDR, False),
        ],
    )
    def test_vp8(self, desc, hdr, want):
        assert is_keyframe("vp8", desc + hdr) is want
        assert is_keyframe("VP8", desc + hdr) is want

    def test_vp8_truncated_descriptor(self):
        full = b"\x90\xe0\x85\x01\x07\x20" + VP8_KEY_HDR
        assert is_keyframe("vp8", full)
        for n in range(7):
            assert is_keyframe("vp8", full[:n]) is False, n

    @pytest.mark.parametrize(
        "b0,want",
        [
            (0x08, True),  # B=1, P=0
            (0x88, True),  # I + B
            (0x0C, True),  # B + E
            (0x48, False),  # inter-predicted
            (0x00, False),  # not the start of a frame
            (0x40, False),
        ],
    )
    def test_vp9(self, b0, want):
        assert is_keyframe("vp9", bytes([b0, 0, 0, 0])) is want

    @pytest.mark.parametrize(
        "payload,want",
        [
            (b"\x65\x88\x84", True),  # IDR slice (5)
            (b"\x67\x42\xc0\x1f", True),  # SPS (7)
            (b"\x68\xce\x3c\x80", False),  # PPS (8)
            (b"\x41\x9a\x02", False),  # non-IDR slice (1)
            (b"\x06\x05\x01", False),  # SEI
            (b"\x78\x00\x04\x67\x42\xc0\x1f\x00\x02\x68\xce", True),  # STAP-A with SPS + PPS
            (b"\x78\x00\x02\x68\xce\x00\x03\x65\x88\x84", True),  # STAP-A with PPS + IDR
            (b"\x78\x00\x02\x41\x9a\x00\x02\x06\x05", False),  # STAP-A without key NALs
            (b"\x78\x00\x09\x67", False),  # STAP-A with a size past the end
            (b"\x78\x00\x00\x00\x02\x67\x42", False),  # STAP-A with a zero size
            (b"\x78", False),
            (b"\x7c\x85\x88\x84", True),  # FU-A start of an IDR
            (b"\x7c\x05\x88\x84", False),  # FU-A continuation of an IDR
            (b"\x7c\x45\x88", False),  # FU-A end of an IDR
            (b"\x7c\x81\x9a", False),  # FU-A start of a non-IDR slice
            (b"\x7c", False),
        ],
    )
    def test_h264(self, payload, want):
        assert is_keyframe("h264", payload) is want

    def test_empty_payloads(self):
        for codec in ("vp8", "vp9", "h264", "av1"):
            assert is_keyframe(codec, b"") is False

    def test_av1(self):
        assert is_keyframe("av1", b"\x18") is True
        assert is_keyframe("av1", b"\x10") is False

    def test_audio_and_unknown_always_decodable(self):
        assert is_keyframe("opus", b"") is True
        assert is_keyframe("opus", b"\x00") is True
        assert is_keyframe("unknown-codec", b"\x41") is True
