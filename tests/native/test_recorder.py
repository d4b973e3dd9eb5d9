"""Recorder transports: a consumer's packets, rewritten but not encrypted, gathered in a buffer the control
plane drains (no file I/O on the media thread)."""

from __future__ import annotations

import struct

import pytest

from native._core import NativeError, Worker
from tests.native.test_forwarding import ABS, PWD, vp8, wait


def records(blob: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(blob):
        n, t = struct.unpack_from("<IQ", blob, i)
        out.append((t, blob[i + 12 : i + 12 + n]))
        i += 12 + n
    assert i == len(blob)
    return out


@pytest.fixture
def pair():
    srv, cli = Worker(), Worker()
    srv.start()
    cli.start()
    sfp = bytes.fromhex(srv.fingerprint.replace(":", ""))
    cfp = bytes.fromhex(cli.fingerprint.replace(":", ""))
    pub = srv.create_transport("pub", PWD, False, "sha-256", cfp)
    cpub = cli.create_client_transport("127.0.0.1", srv.port, "cp", "pub", PWD, "sha-256", sfp)
    assert wait(lambda: cli.transport_stats(cpub)["dtls_state"] == "connected")
    producer = srv.create_producer(pub, "video", 1234, 0, {96: "VP8"}, {}, 90000, {"abs_send_time": ABS}, "0")
    yield srv, cli, cpub, producer
    cli.close()
    srv.close()


def test_a_recorder_gets_the_consumers_clean_rtp(pair):
    srv, cli, cpub, producer = pair
    rec = srv.create_recorder()
    srv.create_consumer(rec, producer, 777, 0, {96: 100}, {}, {}, "0")
    sent = [vp8(40000 + i, 1000 + i * 3000, i == 0, size=300 + i) for i in range(50)]
    cli.send_rtp(cpub, [vp8(39990 + i, 0, False) for i in range(10)], abs_ext=ABS)  # before a keyframe: held
    cli.send_rtp(cpub, sent, abs_ext=ABS)
    got: list[tuple[int, bytes]] = []
    assert wait(lambda: got.extend(records(srv.recorder_drain(rec)[0])) or len(got) >= 50)
    assert len(got) == 50
    seqs = [struct.unpack_from("!H", p, 2)[0] for _, p in got]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(seqs, seqs[1:], strict=False))  # gap-free, in order
    assert all(struct.unpack_from("!I", p, 8)[0] == 777 for _, p in got)  # the consumer's SSRC
    assert all(p[1] & 0x7F == 100 for _, p in got)  # its payload type
    assert all(p[0] & 0x10 == 0 for _, p in got)  # no extensions asked for
    assert all(p[12:] == orig[20:] for (_, p), orig in zip(got, sent, strict=True))  # the payload as sent
    times = [t for t, _ in got]
    assert times == sorted(times) and times[0] > 0
    assert srv.recorder_drain(rec) == (b"", 0)  # drained
    assert srv.transport_stats(rec)["tx_packets"] == 50


def test_a_full_buffer_drops_whole_packets_and_counts_them(pair):
    srv, cli, cpub, producer = pair
    rec = srv.create_recorder(65536)
    srv.create_consumer(rec, producer, 778, 0, {96: 100}, {}, {}, "0")
    cli.send_rtp(cpub, [vp8(i, i * 3000, i == 0, size=1000) for i in range(100)], abs_ext=ABS)
    assert wait(lambda: srv.producer_stats(producer)["packets"] == 100)
    blob, dropped = srv.recorder_drain(rec)
    kept = records(blob)  # whole records only
    assert len(kept) + dropped == 100 and dropped > 0
    assert len(blob) <= 65536
    # a drain smaller than the buffer hands out whole records and keeps the rest
    cli.send_rtp(cpub, [vp8(100 + i, (100 + i) * 3000, False, size=1000) for i in range(10)], abs_ext=ABS)
    assert wait(lambda: srv.transport_stats(rec)["tx_packets"] == len(kept) + 10)
    part, _ = srv.recorder_drain(rec, 3000)
    assert len(records(part)) == 2
    rest, _ = srv.recorder_drain(rec)
    assert len(records(rest)) == 8


def test_recorder_bad_calls_are_refused(pair):
    srv, *_ = pair
    with pytest.raises(NativeError):
        srv.create_recorder(1000)
    with pytest.raises(NativeError):
        srv.recorder_drain(424242)
    rec = srv.create_recorder()
    assert srv.close_transport(rec)
    with pytest.raises(NativeError):
        srv.recorder_drain(rec)


def _opus(seq: int, exts: list[tuple[int, bytes]]) -> bytes:
    """An Opus packet with these one-byte header extensions (id, value)."""
    block = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in exts)
    block += bytes(-len(block) % 4)
    head = struct.pack("!BBHII", 0x90 if exts else 0x80, 111, seq, seq * 960, 4321)
    ext = struct.pack("!HH", 0xBEDE, len(block) // 4) + block if exts else b""
    return head + ext + bytes([0xFC]) + bytes(60)


def _extensions(pkt: bytes) -> dict[int, bytes]:
    if not pkt[0] & 0x10:
        return {}
    words = struct.unpack_from("!HH", pkt, 12)
    assert words[0] == 0xBEDE
    body, out, i = pkt[16 : 16 + 4 * words[1]], {}, 0
    while i < len(body):
        if body[i] == 0:
            i += 1
            continue
        ident, n = body[i] >> 4, (body[i] & 0xF) + 1
        out[ident] = body[i + 1 : i + 1 + n]
        i += 1 + n
    return out


def test_abs_send_time_and_audio_level_reach_the_consumer_under_its_own_ids(pair):
    """Each packet's values, found once when it arrives, are written under the ids the consumer
    negotiated; a value of the wrong length is left out, and so is what the publisher did not send."""
    srv, cli, _cpub, _ = pair
    cfp = bytes.fromhex(cli.fingerprint.replace(":", ""))
    sfp = bytes.fromhex(srv.fingerprint.replace(":", ""))
    pub = srv.create_transport("apub", PWD, False, "sha-256", cfp)
    cpub = cli.create_client_transport("127.0.0.1", srv.port, "ca", "apub", PWD, "sha-256", sfp)
    assert wait(lambda: cli.transport_stats(cpub)["dtls_state"] == "connected")
    audio = srv.create_producer(
        pub, "audio", 4321, 0, {111: "opus"}, {}, 48000, {"abs_send_time": 2, "audio_level": 9}, "0"
    )
    rec = srv.create_recorder()
    srv.create_consumer(rec, audio, 555, 0, {111: 111}, {}, {"abs_send_time": 5, "audio_level": 7}, "0")
    sent = [
        _opus(1, [(2, b"\x01\x02\x03"), (9, b"\x85")]),
        _opus(2, [(9, b"\x10"), (4, b"\xaa\xbb"), (2, b"\x0a\x0b\x0c")]),  # another id in between
        _opus(3, [(2, b"\x21\x22\x23")]),  # no level
        _opus(4, [(9, b"\x30\x31"), (2, b"\x01\x01")]),  # both of the wrong length
        _opus(5, []),  # none at all
    ]
    cli.send_rtp(cpub, sent)
    got: list[tuple[int, bytes]] = []
    assert wait(lambda: got.extend(records(srv.recorder_drain(rec)[0])) or len(got) >= len(sent))
    assert [_extensions(p) for _, p in got] == [
        {5: b"\x01\x02\x03", 7: b"\x85"},
        {5: b"\x0a\x0b\x0c", 7: b"\x10"},
        {5: b"\x21\x22\x23"},
        {},
        {},
    ]
    assert all(p.endswith(bytes([0xFC]) + bytes(60)) for _, p in got)
