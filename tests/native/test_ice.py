"""ICE-lite on the worker's shared port, over UDP and over TCP (RFC 6544 framing), checked with aioice's
STUN."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from aioice import stun

from native._core import Worker

UFRAG, PWD = "srvufrag", "serverpassword0123456789"


def binding_request(username: str, key: str, use_candidate: bool = True) -> bytes:
    m = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    m.attributes["USERNAME"] = username
    m.attributes["PRIORITY"] = 0x6E001EFF
    m.attributes["ICE-CONTROLLING"] = 0x1234567890ABCDEF
    if use_candidate:
        m.attributes["USE-CANDIDATE"] = None
    m.add_message_integrity(key.encode())
    m.add_fingerprint()
    return bytes(m)


@pytest.fixture
def worker():
    w = Worker("127.0.0.1", 0)
    w.start()
    tid = w.create_transport(UFRAG, PWD, False, "sha-256", bytes(32))
    yield w, tid
    w.close()


def framed_exchange(sock: socket.socket, data: bytes) -> bytes:
    sock.sendall(struct.pack("!H", len(data)) + data)
    head = sock.recv(2, socket.MSG_WAITALL)
    (n,) = struct.unpack("!H", head)
    return sock.recv(n, socket.MSG_WAITALL)


def test_udp_binding_success_and_selection(worker):
    w, tid = worker
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(2)
    s.sendto(binding_request(f"{UFRAG}:peer", PWD), ("127.0.0.1", w.port))
    data, _ = s.recvfrom(2048)
    resp = stun.parse_message(data)
    assert resp.message_class == stun.Class.RESPONSE
    assert resp.attributes["XOR-MAPPED-ADDRESS"] == ("127.0.0.1", s.getsockname()[1])
    assert stun.message_integrity(data, PWD.encode())  # no exception: integrity verifies with our pwd
    assert w.transport_stats(tid)["ice_state"] == "connected"
    s.close()


def test_udp_bad_integrity_is_dropped_silently_and_selects_nothing(worker):
    """Issue 14 finding 21: no 401 (nor 400 without credentials), which would reflect to a forged source."""
    w, tid = worker
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.3)
    s.sendto(binding_request(f"{UFRAG}:peer", "wrong-password-000000000"), ("127.0.0.1", w.port))
    m = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)  # no USERNAME, no MESSAGE-INTEGRITY
    s.sendto(bytes(m), ("127.0.0.1", w.port))
    with pytest.raises(socket.timeout):
        s.recvfrom(2048)
    assert w.transport_stats(tid)["ice_state"] == "new"
    assert w.stats()["drops"]["stun_auth"] == 1
    assert w.stats()["drops"]["stun_malformed"] == 1
    s.close()


def test_unknown_ufrag_is_dropped_silently(worker):
    w, _ = worker
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    s.sendto(binding_request("nobody:peer", PWD), ("127.0.0.1", w.port))
    with pytest.raises(socket.timeout):
        s.recvfrom(2048)
    assert w.stats()["drops"]["stun_unknown_ufrag"] == 1
    s.close()


def test_ice_tcp_binding_on_the_same_port(worker):
    w, tid = worker
    assert w.tcp_enabled
    with socket.create_connection(("127.0.0.1", w.port), timeout=2) as s:
        data = framed_exchange(s, binding_request(f"{UFRAG}:peer", PWD))
        resp = stun.parse_message(data)
        assert resp.message_class == stun.Class.RESPONSE
        assert resp.attributes["XOR-MAPPED-ADDRESS"] == ("127.0.0.1", s.getsockname()[1])
        assert w.transport_stats(tid)["ice_state"] == "connected"
        # a consent check on the same connection is answered too
        assert (
            stun.parse_message(framed_exchange(s, binding_request(f"{UFRAG}:peer", PWD, False))).message_class
            == stun.Class.RESPONSE
        )
    # closing the connection that carried the transport disconnects it
    deadline = time.time() + 2
    while time.time() < deadline and w.transport_stats(tid)["ice_state"] != "disconnected":
        time.sleep(0.02)
    assert w.transport_stats(tid)["ice_state"] == "disconnected"
    assert ("ice", tid, 2, 0, "tcp connection closed") in w.poll_events()


def test_ice_tcp_bad_framing_closes_the_connection(worker):
    w, _ = worker
    with socket.create_connection(("127.0.0.1", w.port), timeout=2) as s:
        s.sendall(b"\xff\xff" + b"x" * 100)  # a 65535-byte frame: over the limit
        s.settimeout(2)
        assert s.recv(10) == b""  # the server closed it
    assert w.stats()["drops"]["too_big"] >= 1


def test_ice_tcp_caps_connections_per_address(worker):
    w, _ = worker
    socks = [socket.create_connection(("127.0.0.1", w.port), timeout=2) for _ in range(20)]
    try:
        time.sleep(0.3)
        closed = 0
        for s in socks:
            s.settimeout(0.05)
            try:
                closed += s.recv(1) == b""
            except (TimeoutError, ConnectionResetError):
                pass
        assert closed == 4, closed  # 16 per address stay, the rest are closed at once
        assert w.stats()["tcp_conns"] == 16
    finally:
        for s in socks:
            s.close()


def test_ice_tcp_unbound_connections_are_reaped(worker):
    w, _ = worker
    with socket.create_connection(("127.0.0.1", w.port), timeout=5) as s:
        s.settimeout(5)
        t0 = time.time()
        assert s.recv(1) == b""  # no binding request: closed by the server
        assert 2.5 < time.time() - t0 < 4.5
