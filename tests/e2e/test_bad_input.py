"""Hostile datagrams at the media port while real aiortc media flows (robustness of the native worker).

A publisher and a subscriber (aiortc, through the WebSocket protocol) keep video flowing while a separate
UDP socket sprays the worker's port with random bytes, malformed and unauthenticated STUN, DTLS-, RTP- and
RTCP-looking junk and oversize datagrams. The server must keep serving, keep forwarding and count every
dropped datagram under the right reason.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import struct
import time

import aiohttp
import pytest

from native._core import parse_stun
from tests.conftest import wait_for
from tests.e2e.test_aiortc import publisher, subscriber
from tests.native.test_parsers import binding_request, stun_message, with_fingerprint_fixed


def stun_txid(data: bytes) -> bytes:
    return data[8:20]


class Blaster:
    """A non-blocking UDP socket aimed at the worker's port."""

    def __init__(self, port: int) -> None:
        self.addr = ("127.0.0.1", port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.sent = 0
        self.failed = 0

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self.addr)
            self.sent += 1
        except (BlockingIOError, OSError):
            self.failed += 1

    def drain(self) -> list[bytes]:
        out = []
        while True:
            try:
                out.append(self.sock.recv(65536))
            except BlockingIOError:
                return out

    async def recv(self, timeout: float) -> bytes | None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                return self.sock.recv(65536)
            except BlockingIOError:
                await asyncio.sleep(0.01)
        return None

    def close(self) -> None:
        self.sock.close()


def corpus(rng: random.Random, real_ufrags: list[str]) -> dict[str, list[bytes]]:
    """Hostile datagrams by category (the worker's expected drop reason in the comment)."""
    req = binding_request("abcd:efgh")
    cats: dict[str, list[bytes]] = {
        k: []
        for k in (
            "random",
            "stun_truncated",
            "stun_malformed",
            "stun_unknown_ufrag",
            "stun_auth",
            "stun_no_username",
            "dtls",
            "rtp",
            "rtcp",
            "oversize",
        )
    }
    for _ in range(500):  # unknown_address (or unknown_type), never STUN: no magic cookie
        cats["random"].append(rng.randbytes(rng.randint(1, 1400)))
    for _ in range(300):  # stun_malformed (>= 20 bytes) or unknown_address (< 20)
        cats["stun_truncated"].append(req[: rng.randint(0, len(req) - 1)])
    for i in range(300):  # stun_malformed
        kind = i % 4
        m = bytearray(binding_request(f"{rng.getrandbits(32):08x}:x"))
        if kind == 0:  # bad FINGERPRINT
            m[-1] ^= 0x5A
        elif kind == 1:  # length not a multiple of 4
            m[2:4] = struct.pack(">H", len(m) - 20 - rng.randint(1, 3))
        elif kind == 2:  # attribute after FINGERPRINT
            m += b"\x80\x22\x00\x04evil"
            m[2:4] = struct.pack(">H", len(m) - 20)
        else:  # an attribute length running past the end
            m[22:24] = b"\x0f\xff"
            m = bytearray(with_fingerprint_fixed(bytes(m)))
        cats["stun_malformed"].append(bytes(m))
    for _ in range(300):  # stun_unknown_ufrag: well-formed, integrity with a guessed key
        cats["stun_unknown_ufrag"].append(
            binding_request(f"{rng.getrandbits(32):08x}:cli", key="guessed-password")
        )
    for i in range(300):  # stun_auth: the real ufrags, a wrong password
        ufrag = real_ufrags[i % len(real_ufrags)]
        cats["stun_auth"].append(
            binding_request(f"{ufrag}:evil", key="not-the-password-at-all", use_candidate=True)
        )
    for _ in range(100):  # stun_malformed, no reply: no USERNAME / no MESSAGE-INTEGRITY
        cats["stun_no_username"].append(stun_message(0x0001, [(0x0024, b"\0\0\0\1")], key=None))
    for _ in range(400):  # unknown_address: DTLS content types 20..63
        cats["dtls"].append(
            bytes([rng.choice([20, 21, 22, 23, 63])]) + b"\xfe\xfd" + rng.randbytes(rng.randint(0, 300))
        )
    for _ in range(400):  # unknown_address
        cats["rtp"].append(
            bytes([0x80 | rng.randint(0, 0x3F), rng.randint(0, 127)]) + rng.randbytes(rng.randint(10, 1200))
        )
    for _ in range(400):  # unknown_address
        cats["rtcp"].append(
            bytes([0x80 | rng.randint(0, 31), rng.randint(200, 206)]) + rng.randbytes(rng.randint(2, 500))
        )
    for _ in range(20):  # too_big: larger than the worker's 2048-byte receive slots
        cats["oversize"].append(rng.randbytes(rng.choice([2049, 3000, 9000, 20000])))
    cats["oversize"].append(b"\x80\x60" + rng.randbytes(60000))
    cats["oversize"].append(b"\x00\x01\x00\x00" + struct.pack(">I", 0x2112A442) + rng.randbytes(5000))
    return cats


def diff(after: dict, before: dict) -> dict:
    return {k: after["drops"][k] - before["drops"][k] for k in after["drops"]}


@pytest.mark.timeout(120)
async def test_blast_while_media_flows(server):
    base, media = server["base_url"], server["media"]
    rooms = server["rooms"]
    async with aiohttp.ClientSession() as session:
        psig, pconn, video = await publisher(session, base, "blast")
        ssig, sconn, counts, tasks = await subscriber(session, base, "blast", "sub")
        try:
            assert await wait_for(lambda: counts["video"] > 15, 25), counts
            room = rooms.rooms["blast"]
            sub_p = next(p for p in room.participants.values() if p.subscription is not None)
            pub_p = next(p for p in room.participants.values() if p.publish_transports)
            sub_t, pub_t = sub_p.subscription.transport, next(iter(pub_p.publish_transports.values()))
            assert sub_t is not None and sub_t.id in media.transports
            ufrags = [sub_t.ufrag, pub_t.ufrag]

            cats = corpus(random.Random(1234), ufrags)
            items = [(name, d) for name, ds in cats.items() for d in ds]
            random.Random(99).shuffle(items)
            assert 3000 <= len(items) <= 3100

            blaster = Blaster(media.port)
            before = media.stats()
            sub_tx0 = media.transport_stats(sub_t.id)["tx_packets"]
            frames0, sent0 = counts["video"], video.sent
            t0 = time.monotonic()
            chunk = 50
            for i in range(0, len(items), chunk):
                for _, d in items[i : i + chunk]:
                    blaster.send(d)
                await asyncio.sleep(0.025)  # let aiortc (same loop) breathe; ~3000 datagrams in < 2 s
            blast_time = time.monotonic() - t0
            assert blast_time < 2.5, blast_time
            await asyncio.sleep(max(0.0, 3.0 - (time.monotonic() - t0)))
            frames_during, sent_during = counts["video"] - frames0, video.sent - sent0
            print(
                f"blast: {blaster.sent} sent ({blaster.failed} failed) in {blast_time:.2f}s; "
                f"frames sent {sent_during}, decoded {frames_during}"
            )

            # the server still serves HTTP
            async with session.get(base + "/healthz") as r:
                assert r.status == 200 and (await r.json())["status"] == "ok"

            # the subscriber kept decoding during the blast ...
            assert sent_during >= 45, sent_during
            assert frames_during >= 0.6 * sent_during, (frames_during, sent_during)
            # ... and after it
            frames1, sent1 = counts["video"], video.sent
            await asyncio.sleep(3)
            frames_after, sent_after = counts["video"] - frames1, video.sent - sent1
            assert frames_after >= 0.8 * sent_after and sent_after >= 45, (frames_after, sent_after)
            assert media.transport_stats(sub_t.id)["tx_packets"] > sub_tx0

            after = media.stats()
            d = diff(after, before)
            print("drop deltas", {k: v for k, v in d.items() if v})
            n = {k: len(v) for k, v in cats.items()}
            short = sum(1 for x in cats["stun_truncated"] if len(x) < 20)
            assert blaster.sent >= 0.95 * len(items), blaster.sent
            # datagrams can be lost in the kernel under load: ask for most, not all, of each category
            assert d["stun_malformed"] >= 0.7 * (
                n["stun_malformed"] + n["stun_truncated"] - short + n["stun_no_username"]
            )
            assert d["stun_unknown_ufrag"] >= 0.7 * n["stun_unknown_ufrag"]
            assert d["stun_auth"] >= 0.7 * n["stun_auth"]
            assert d["unknown_address"] >= 0.7 * (n["random"] + n["dtls"] + n["rtp"] + n["rtcp"] + short)
            assert d["too_big"] >= 0.5 * n["oversize"]
            assert after["rx_packets"] - before["rx_packets"] >= 0.7 * len(items)
            # the legitimate peers are untouched: nothing of theirs rejected as forged
            assert d["srtp_auth"] == 0 and d["dtls"] == 0, d

            # nothing came back to the attacker: no media, and no STUN error responses either (issue 14
            # finding 21: an unauthenticated request is dropped, not answered)
            assert blaster.drain() == []
            blaster.close()
            assert sub_t.id in media.transports and media.transports[sub_t.id].ice_state == "connected"
        finally:
            await sconn.close()
            for t in tasks:
                t.cancel()
            await pconn.close()


@pytest.mark.timeout(90)
async def test_bad_integrity_for_real_ufrag_gets_no_reply_and_no_hijack(server):
    """Issue 14 finding 21: a wrong MESSAGE-INTEGRITY for a real ufrag, a tampered USERNAME, an unknown ufrag
    and a request without USERNAME get no reply at all (they used to get a 401 or a 400), and move nothing."""
    base, media = server["base_url"], server["media"]
    async with aiohttp.ClientSession() as session:
        psig, pconn, video = await publisher(session, base, "auth")
        ssig, sconn, counts, tasks = await subscriber(session, base, "auth", "sub")
        try:
            assert await wait_for(lambda: counts["video"] > 15, 25), counts
            room = server["rooms"].rooms["auth"]
            sub_t = next(
                p for p in room.participants.values() if p.subscription is not None
            ).subscription.transport
            attacker = Blaster(media.port)
            before = media.stats()

            # a well-formed binding request for the real ufrag, nominating, with a wrong MESSAGE-INTEGRITY
            req = binding_request(
                f"{sub_t.ufrag}:attacker", key=sub_t.pwd[::-1], use_candidate=True, txid=os.urandom(12)
            )
            assert parse_stun(req, sub_t.pwd)["integrity_ok"] is False
            attacker.send(req)
            assert await attacker.recv(1) is None

            # the same with a right password but a tampered USERNAME (integrity covers it)
            good = bytearray(binding_request(f"{sub_t.ufrag}:attacker", key=sub_t.pwd, use_candidate=True))
            assert parse_stun(bytes(good), sub_t.pwd)["integrity_ok"] is True
            assert good[24 : 24 + 17] == f"{sub_t.ufrag}:attacker".encode()
            good[24 + 16] ^= 0x01  # last byte of USERNAME: the server's ufrag still matches
            tampered = with_fingerprint_fixed(bytes(good))
            assert parse_stun(tampered, sub_t.pwd)["integrity_ok"] is False
            attacker.send(tampered)
            assert await attacker.recv(0.5) is None

            # an unknown ufrag gets no answer at all (no oracle for guessing ufrags)
            attacker.send(binding_request("deadbeef:attacker", key="whatever"))
            assert await attacker.recv(0.5) is None

            # no USERNAME: no answer either
            attacker.send(stun_message(0x0001, [(0x0024, b"\0\0\0\1")], txid=os.urandom(12)))
            assert await attacker.recv(0.5) is None

            after = media.stats()
            d = diff(after, before)
            assert d["stun_auth"] >= 2 and d["stun_unknown_ufrag"] >= 1 and d["stun_malformed"] >= 1, d

            # the selected address did not move: media keeps reaching the real subscriber, none reaches us
            f0, s0 = counts["video"], video.sent
            tx0 = media.transport_stats(sub_t.id)["tx_packets"]
            await asyncio.sleep(2)
            assert counts["video"] - f0 >= 0.8 * (video.sent - s0) and video.sent - s0 >= 30
            assert media.transport_stats(sub_t.id)["tx_packets"] - tx0 > 50
            assert await attacker.recv(0.3) is None, "media was sent to the attacker"
            assert media.transports[sub_t.id].ice_state == "connected"
            attacker.close()
        finally:
            await sconn.close()
            for t in tasks:
                t.cancel()
            await pconn.close()


def client_hello() -> bytes:
    """A real DTLS 1.2 ClientHello from pyOpenSSL (offering use_srtp is not needed to exercise the parser)."""
    from OpenSSL import SSL

    conn = SSL.Connection(SSL.Context(SSL.DTLS_METHOD), None)
    conn.set_connect_state()
    try:
        conn.do_handshake()
    except SSL.WantReadError:
        pass
    return conn.bio_read(65536)


@pytest.mark.timeout(60)
async def test_junk_from_an_authenticated_address(server):
    """After a valid ICE check the attacker's address is known to one transport: junk now reaches the DTLS,
    SRTP and demux paths behind it (not just the unknown-address filter)."""
    media = server["media"]
    rng = random.Random(7)
    ufrag, pwd = media.new_credentials()
    info = media.create_transport("active", "sha-256", bytes(32), ufrag, pwd)  # we are the DTLS server
    peer = Blaster(media.port)
    try:
        txid = os.urandom(12)
        peer.send(binding_request(f"{ufrag}:peer", key=pwd, use_candidate=True, txid=txid))
        reply = await peer.recv(3)
        assert reply is not None
        m = parse_stun(reply, pwd)
        assert m["type"] == 0x0101 and m["integrity_ok"] is True and stun_txid(reply) == txid
        assert await wait_for(lambda: info.ice_state == "connected", 5)

        before = media.stats()
        hello = client_hello()
        assert hello[0] == 22
        junk = []
        for _ in range(300):  # DTLS records of every content type with random bodies
            junk.append(
                bytes([rng.choice([20, 21, 22, 23, 24, 25, 63]), 0xFE, rng.choice([0xFD, 0xFF])])
                + rng.randbytes(rng.randint(10, 600))
            )
        for _ in range(300):  # mutated and truncated ClientHellos
            h = bytearray(hello[: rng.randint(13, len(hello))])
            for _ in range(rng.randint(0, 4)):
                h[rng.randrange(len(h))] = rng.randrange(256)
            h[0] = 22
            junk.append(bytes(h))
        for _ in range(200):  # "SRTP" before any keys exist: not_ready
            junk.append(
                bytes([0x80 | rng.randint(0, 0x3F), rng.randint(0, 127)])
                + rng.randbytes(rng.randint(10, 300))
            )
        for _ in range(200):  # "SRTCP" before any keys exist: not_ready
            junk.append(bytes([0x80, rng.randint(192, 223)]) + rng.randbytes(rng.randint(6, 300)))
        for _ in range(200):  # first bytes no protocol uses (RFC 7983): unknown_type
            junk.append(
                bytes([rng.choice([4, 10, 19, 64, 100, 127, 192, 255])]) + rng.randbytes(rng.randint(12, 300))
            )
        junk.append(hello)
        for i in range(0, len(junk), 50):
            for d in junk[i : i + 50]:
                peer.send(d)
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)

        after = media.stats()
        d = diff(after, before)
        print(
            "drop deltas", {k: v for k, v in d.items() if v}, "dtls_rx", after["dtls_rx"] - before["dtls_rx"]
        )
        assert d["not_ready"] >= 300, d
        assert d["unknown_type"] >= 150, d
        assert after["dtls_rx"] - before["dtls_rx"] >= 450
        assert info.dtls_state in ("new", "connecting", "failed"), info.dtls_state
        stats = media.transport_stats(info.id)
        assert stats["rx_packets"] >= 1000 and stats["srtp_profile"] == 0

        # the worker is alive and still authenticates checks
        txid = os.urandom(12)
        peer.drain()
        peer.send(binding_request(f"{ufrag}:peer", key=pwd, txid=txid))
        end = time.monotonic() + 5
        while time.monotonic() < end:  # skip DTLS flights the real ClientHello may have triggered
            reply = await peer.recv(end - time.monotonic())
            if reply is None or (reply[0] < 4 and stun_txid(reply) == txid):
                break
        assert reply is not None and parse_stun(reply, pwd)["integrity_ok"] is True
        async with aiohttp.ClientSession() as session, session.get(server["base_url"] + "/healthz") as r:
            assert r.status == 200
    finally:
        media.close_transport(info.id)

    # once the transport is gone the address is unknown again (no stale mapping to freed memory)
    before = media.stats()
    for _ in range(50):
        peer.send(bytes([0x80, 96]) + rng.randbytes(100))
        peer.send(bytes([22, 0xFE, 0xFD]) + rng.randbytes(100))
    peer.send(binding_request(f"{ufrag}:peer", key=pwd))
    await asyncio.sleep(0.3)
    d = diff(media.stats(), before)
    assert d["unknown_address"] >= 90 and d["stun_unknown_ufrag"] == 1, d
    peer.close()
