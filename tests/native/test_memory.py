"""Native memory per subscriber, and the DTLS state that is freed once a handshake is proven done.

The budget: the server must stay under 64 KB of RSS per webinar subscriber (R: fan-out memory), of which
the Python side (WebSocket, participant, SDP bookkeeping) takes about 20 KB. The native part of one
subscriber (a DTLS-connected server transport with an audio and a video consumer, media flowing) is
about 15 KB of heap once its handshake is over (transport 4.2 KB, consumers 2 x 0.8 KB, two SRTP contexts
with their AES-GCM key schedules about 5 KB, the bandwidth estimator about 3 KB); it was 75 KB when every
transport kept its OpenSSL SSL object (about 40 KB with the record buffers and the 22 KB handshake buffer),
a 13.5 KB estimator history and four cipher contexts per SRTP direction.

The bounds are far from both (24 KB of malloc'd memory, 40 KB of RSS) so that allocator noise does not
flake the test, and close enough that keeping the SSL object, or the full-size estimator history, fails it.
The load generator runs in a child process (bench.memprobe), so only the worker's memory is measured here.
"""

from __future__ import annotations

import time

import pytest

from tests.native.testbuild import built_module

built_module("bench.loadgen._loadgen")

from bench.loadgen import Loadgen  # noqa: E402
from bench.memprobe import LG_PWD, PWD, Probe, malloc_in_use_kb, rss_kb  # noqa: E402

MALLOC_BUDGET_KB = 24
RSS_BUDGET_KB = 40
WARM, N = 40, 200


def _wait(pred, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.mark.skipif(malloc_in_use_kb() < 0, reason="needs glibc malloc_info")
def test_native_memory_per_subscriber_stays_in_budget():
    probe = Probe()
    try:
        probe.publish()
        probe.start_media()
        probe.add_subscribers(WARM)  # the allocator's arenas and the worker's maps exist from here on
        w = probe.worker
        assert _wait(lambda: all(w.transport_stats(t)["dtls_frozen"] for t, _, _ in probe.subs))
        time.sleep(0.5)
        heap0, rss0 = malloc_in_use_kb(), rss_kb()
        probe.add_subscribers(N, batch=20)  # few handshakes at once: their transient buffers are reused
        # every subscriber's peer sends transport-cc feedback and receiver reports: its DTLS is released
        assert _wait(lambda: all(w.transport_stats(t)["dtls_frozen"] for t, _, _ in probe.subs), 20)
        time.sleep(1.0)
        heap1, rss1 = malloc_in_use_kb(), rss_kb()
        rx = probe.received()
        assert sum(1 for u, v in rx.items() if u != "pub" and v > 0) == WARM + N, (
            "every subscriber gets media"
        )
    finally:
        probe.close()
    heap_per, rss_per = (heap1 - heap0) / N, (rss1 - rss0) / N
    print(f"native per subscriber: heap {heap_per:.1f} KB, RSS {rss_per:.1f} KB")
    assert heap_per < MALLOC_BUDGET_KB, (
        f"{heap_per:.1f} KB of heap per subscriber (budget {MALLOC_BUDGET_KB})"
    )
    assert rss_per < RSS_BUDGET_KB, f"{rss_per:.1f} KB of RSS per subscriber (budget {RSS_BUDGET_KB})"


def _events(w, tid: int, timeout: float = 5.0) -> list:
    seen: list = []

    def got() -> bool:
        seen.extend(e for e in w.poll_events() if e[1] == tid)
        return any(e[0] == "dtls" and e[2] == 4 for e in seen)

    _wait(got, timeout)
    return seen


def test_frozen_dtls_still_authenticates_a_close_notify_and_sends_one():
    """After the peer proved its handshake (SRTCP came), the server's SSL object is gone; a close_notify from
    the peer (OpenSSL's own, from the load generator) still closes the transport, and the server's
    close_notify, prepared at freeze time, closes a real OpenSSL peer (a client transport). Every cipher
    suite, both roles and forged records: tests/native/dtls_freeze_check.c."""
    from native._core import Worker

    lg = Loadgen(bind_ip="127.0.0.1", verify_every=1)
    srv = Worker()
    srv.start()
    try:
        lfp = bytes.fromhex(lg.fingerprint.replace(":", ""))
        tid = srv.create_transport("frz", PWD, False, "sha-256", lfp)
        p = lg.open_peer("lgfrz", LG_PWD)
        lg.connect(
            p,
            remote_ip="127.0.0.1",
            remote_port=srv.port,
            remote_ufrag="frz",
            remote_pwd=PWD,
            remote_fingerprint="sha-256 " + srv.fingerprint,
            controlling=True,
            dtls_role="client",
        )
        assert _wait(lambda: srv.transport_stats(tid)["dtls_state"] == "connected")
        assert not srv.transport_stats(tid)["dtls_frozen"]
        # media from the peer proves its handshake done: a receiver report goes out once a second
        clip = lg.load_clip([(i * 33000, 3000, i == 0, [b"\x10\x00" + bytes(200)]) for i in range(30)])
        lg.start(lg.add_source(p, clip=clip, ssrc=0x77, stream_id=1, mid_ext=0))
        assert _wait(lambda: srv.transport_stats(tid)["dtls_frozen"]), srv.transport_stats(tid)
        lg.close_peer(p)  # OpenSSL's close_notify
        ev = _events(srv, tid)
        assert any(e[0] == "dtls" and e[2] == 4 for e in ev), ev
        assert srv.transport_stats(tid)["dtls_state"] == "closed"

        # the other way: our frozen close_notify reaches an OpenSSL peer (a client transport of the worker)
        tid2 = srv.create_transport(
            "frz2", PWD, False, "sha-256", bytes.fromhex(srv.fingerprint.replace(":", ""))
        )
        cid = srv.create_client_transport(
            "127.0.0.1",
            srv.port,
            "cli2",
            "frz2",
            PWD,
            "sha-256",
            bytes.fromhex(srv.fingerprint.replace(":", "")),
        )
        assert _wait(
            lambda: (
                srv.transport_stats(tid2)["dtls_state"] == "connected"
                and srv.transport_stats(cid)["dtls_state"] == "connected"
            )
        )
        rr = bytes([0x80, 201, 0, 1, 0, 0, 0, 9])  # an empty receiver report from the client
        assert _wait(lambda: srv.send_rtcp(cid, rr) and srv.transport_stats(tid2)["dtls_frozen"], 5)
        srv.poll_events()
        srv.close_transport(tid2)
        ev = _events(srv, cid)
        assert any(e[0] == "dtls" and e[2] == 4 for e in ev), ev
    finally:
        srv.close()
        lg.close()


def test_dtls_freeze_against_openssl_every_suite(tmp_path):
    """tests/native/dtls_freeze_check.c: AES-128-GCM, AES-256-GCM and ChaCha20-Poly1305, either side frozen,
    either side closing, and tampered close_notify records (rejected)."""
    import shutil
    import subprocess
    from pathlib import Path

    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    root = Path(__file__).resolve().parents[2]
    exe = tmp_path / "dtls_freeze_check"
    build = subprocess.run(
        [
            cc,
            "-O1",
            "-I",
            str(root / "native/core"),
            "-o",
            str(exe),
            str(root / "tests/native/dtls_freeze_check.c"),
            str(root / "native/core/dtls.c"),
            str(root / "native/core/srtp.c"),
            "-lssl",
            "-lcrypto",
        ],
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build against OpenSSL here: {build.stderr[-300:]}")
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 failed" in run.stdout
