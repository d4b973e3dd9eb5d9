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
