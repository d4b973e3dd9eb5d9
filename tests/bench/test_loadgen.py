"""The native load generator (bench/loadgen): loadgen <-> loadgen in every ICE / DTLS role and SRTP profile,
against our server's native worker, against aiortc, NACK repair, and bad input."""

from __future__ import annotations

import asyncio
import os
import random
import re
import socket
import time

import pytest

from tests.native.testbuild import built_module

built_module("bench.loadgen._loadgen")

from bench.loadgen import Loadgen  # noqa: E402

PWD_A, PWD_B = "loadgenpasswordA0123456789", "loadgenpasswordB0123456789"


def synth_clip(nframes: int = 30, per_frame: int = 4, size: int = 900, fps: int = 30, key_every: int = 30):
    """Frames of random bytes behind a minimal VP8 payload descriptor (S bit on a frame's first packet,
    P bit of the VP8 header clear on keyframes)."""
    frames = []
    for i in range(nframes):
        key = i % key_every == 0
        pkts = [bytes([0x10, 0x00 if key else 0x01]) + os.urandom(size - 2)]
        pkts += [b"\x00" + os.urandom(size - 1) for _ in range(per_frame - 1)]
        frames.append((i * 1_000_000 // fps, 90000 // fps, key, pkts))
    return frames


def wait(pred, timeout: float = 5.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.01)
    return pred()


def connected(lg: Loadgen, p: int) -> bool:
    st = lg.state(p)
    return st["ice"] == "connected" and st["dtls"] == "connected"


def pair(
    a: Loadgen,
    b: Loadgen,
    a_controlling=True,
    a_dtls="client",
    profiles=("AEAD_AES_128_GCM",),
    twcc=0,
    rtx=None,
):
    pa, pb = a.open_peer("ua", PWD_A), b.open_peer("ub", PWD_B)
    a.connect(
        pa,
        remote_ip="127.0.0.1",
        remote_port=b.port(pb),
        remote_ufrag="ub",
        remote_pwd=PWD_B,
        remote_fingerprint="sha-256 " + b.fingerprint,
        controlling=a_controlling,
        dtls_role=a_dtls,
        srtp_profiles=profiles,
        rtx=rtx,
        twcc_ext=twcc,
    )
    b.connect(
        pb,
        remote_ip="127.0.0.1",
        remote_port=a.port(pa),
        remote_ufrag="ua",
        remote_pwd=PWD_A,
        remote_fingerprint="sha-256 " + a.fingerprint,
        controlling=not a_controlling,
        dtls_role="server" if a_dtls == "client" else "client",
        srtp_profiles=profiles,
        rtx=rtx,
        twcc_ext=twcc,
    )
    assert wait(lambda: connected(a, pa) and connected(b, pb)), (a.state(pa), b.state(pb))
    return pa, pb


@pytest.fixture
def lgs():
    made = []

    def make(**kw):
        made.append(Loadgen(**kw))
        return made[-1]

    yield make
    for lg in made:
        lg.close()


@pytest.mark.parametrize(
    "a_controlling,a_dtls,profile",
    [
        (True, "client", "AEAD_AES_128_GCM"),
        (False, "client", "AES_CM_128_HMAC_SHA1_80"),
        (True, "server", "AES_CM_128_HMAC_SHA1_80"),
        (False, "server", "AEAD_AES_128_GCM"),
    ],
)
def test_pair_connects_and_media_flows(lgs, a_controlling, a_dtls, profile):
    a, b = lgs(verify_every=1), lgs(verify_every=1)
    pa, pb = pair(a, b, a_controlling, a_dtls, (profile,), twcc=5)
    assert a.state(pa)["srtp_profile"] == b.state(pb)["srtp_profile"] == profile
    clip = a.load_clip(synth_clip())
    s = a.add_source(pa, clip=clip, ssrc=1111, stream_id=7, mid_ext=1, mid="0", abs_ext=3)
    # and the other way round on the same pair
    clip_b = b.load_clip(synth_clip(per_frame=2))
    sb = b.add_source(pb, clip=clip_b, ssrc=3333, stream_id=8)
    a.start(s)
    b.start_all()
    time.sleep(0.6)
    a.stop(s)
    b.stop(sb)
    assert wait(
        lambda: (
            b.peer_stats(pb)["ssrcs"].get(1111) == a.peer_stats(pa)["tx_packets"]
            and a.peer_stats(pa)["ssrcs"].get(3333) == b.peer_stats(pb)["tx_packets"]
        )
    )
    sa, sb_ = a.peer_stats(pa), b.peer_stats(pb)
    assert sa["tx_packets"] >= 40 and sb_["rx_packets"] == sa["tx_packets"]
    assert sb_["lost"] == 0 and sa["lost"] == 0
    assert sb_["decrypt_errors"] == 0 and sb_["malformed"] == 0
    assert wait(lambda: b.peer_stats(pb)["twcc_fb_tx"] > 0)
    tb = b.totals()
    assert sum(tb["latency_hist"]) == sb_["rx_packets"]  # verify_every=1: every packet measured
    assert len(tb["latency_hist"]) == len(tb["bounds_us"])
    assert tb["bounds_us"][0] == pytest.approx(10) and tb["bounds_us"][-1] == pytest.approx(1e7)


def test_role_conflict_both_controlling(lgs):
    """Both sides think they are controlling: RFC 8445 7.3.1.1 settles it and ICE still connects."""
    a, b = lgs(), lgs()
    pa, pb = a.open_peer("ua", PWD_A), b.open_peer("ub", PWD_B)
    for lg, p, other, op, uf, pw in ((a, pa, b, pb, "ub", PWD_B), (b, pb, a, pa, "ua", PWD_A)):
        lg.connect(
            p,
            remote_ip="127.0.0.1",
            remote_port=other.port(op),
            remote_ufrag=uf,
            remote_pwd=pw,
            remote_fingerprint="sha-256 " + other.fingerprint,
            controlling=True,
            dtls_role="client" if lg is a else "server",
        )
    assert wait(lambda: connected(a, pa) and connected(b, pb))


def test_nack_repairs_drops_with_rtx(lgs):
    a, b = lgs(), lgs(verify_every=4)
    pa, pb = pair(a, b, rtx={97: 96})
    clip = a.load_clip(synth_clip(per_frame=6))
    s = a.add_source(pa, clip=clip, ssrc=1111, rtx_ssrc=2222, rtx_pt=97, drop_every=17)
    a.start(s)
    time.sleep(1.0)
    a.stop(s)
    time.sleep(0.2)
    sa, sb = a.peer_stats(pa), b.peer_stats(pb)
    # tx_packets: the originals that left (the dropped ones did not) plus the retransmissions
    assert sb["ssrcs"][1111] == sa["tx_packets"], (sa, sb)
    assert sa["retransmits"] >= sa["tx_packets"] // 17 and sa["nacks_rx"] > 0
    assert sb["nacks_tx"] > 0 and sb["rx_rtx"] >= sa["retransmits"] - 1
    assert sb["lost"] == 0 and sb["decrypt_errors"] == 0
    assert set(sb["ssrcs"]) == {1111}  # RTX is counted on its media stream


def test_nack_repairs_drops_on_the_same_ssrc(lgs):
    a, b = lgs(), lgs()
    pa, pb = pair(a, b)
    s = a.add_source(pa, clip=a.load_clip(synth_clip()), ssrc=1111, drop_every=10)
    a.start(s)
    time.sleep(0.7)
    a.stop(s)
    time.sleep(0.2)
    sa, sb = a.peer_stats(pa), b.peer_stats(pb)
    assert sa["retransmits"] > 0 and sb["lost"] == 0 and sb["rx_rtx"] > 0


def test_pacing_and_pli(lgs):
    a, b = lgs(), lgs()
    pa, pb = pair(a, b)
    s = a.add_source(pa, clip=a.load_clip(synth_clip(per_frame=10)), ssrc=1111, pace_kbps=5000)
    a.start(s)
    time.sleep(0.5)
    a.stop(s)
    assert wait(lambda: b.peer_stats(pb)["rx_packets"] == a.peer_stats(pa)["tx_packets"] > 100)
    assert b.peer_stats(pb)["lost"] == 0


def test_malformed_input_is_counted(lgs):
    a, b = lgs(), lgs()
    pa, pb = pair(a, b)
    s = a.add_source(pa, clip=a.load_clip(synth_clip()), ssrc=1111)
    a.start(s)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rnd = random.Random(1)
    target = ("127.0.0.1", b.port(pb))
    junk = [b"", b"\x00", b"\x01" * 19, b"\xff" * 40, b"\x40" * 100]
    junk += [bytes([0x80, 96]) + os.urandom(rnd.randrange(0, 1400)) for _ in range(200)]  # RTP-looking
    junk += [bytes([0x80, 200]) + os.urandom(rnd.randrange(0, 200)) for _ in range(50)]  # RTCP-looking
    junk += [
        bytes([0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42]) + os.urandom(20) for _ in range(20)
    ]  # STUN
    junk += [bytes([rnd.randrange(256)]) + os.urandom(rnd.randrange(0, 300)) for _ in range(300)]
    for j in junk:
        sock.sendto(j, target)
    sock.close()
    time.sleep(0.3)
    a.stop(s)
    assert wait(lambda: b.peer_stats(pb)["ssrcs"].get(1111) == a.peer_stats(pa)["tx_packets"])
    st = b.peer_stats(pb)
    assert st["malformed"] > 0 and st["decrypt_errors"] > 0
    assert connected(b, pb)


def test_raw_srtp_peer(lgs):
    a, b = lgs(), lgs()
    pa, pb = a.open_peer("x", "y"), b.open_peer("x", "y")
    k1, k2 = os.urandom(28), os.urandom(28)
    a.connect_raw(pa, remote_ip="127.0.0.1", remote_port=b.port(pb), tx_key=k1, rx_key=k2, hello=b"FLOOR hi")
    b.connect_raw(pb, remote_ip="127.0.0.1", remote_port=a.port(pa), tx_key=k2, rx_key=k1)
    assert a.state(pa)["srtp_profile"] == "AEAD_AES_128_GCM"
    s = a.add_source(pa, clip=a.load_clip(synth_clip()), ssrc=42)
    a.start(s)
    time.sleep(0.4)
    a.stop(s)
    assert wait(lambda: b.peer_stats(pb)["ssrcs"].get(42) == a.peer_stats(pa)["tx_packets"] > 0)
    assert b.peer_stats(pb)["malformed"] >= 1  # the hello is no RTP


def _hist_max_us(hist, bounds):
    """Upper bound of the highest non-empty bucket."""
    return max((bounds[i] for i, v in enumerate(hist) if v), default=0.0)


def test_latency_uses_the_kernel_receive_time(lgs):
    """The receiver's I/O thread stalls 80 ms while the sender keeps sending: the packets wait in the
    receiver's socket queue. The application-receive-time histogram shows the stall; the latency histogram
    (kernel receive timestamps, SO_TIMESTAMPNS) does not, since loopback delivery takes microseconds."""
    a, b = lgs(), lgs(verify_every=1)
    pa, pb = a.open_peer("x", "y"), b.open_peer("x", "y")
    k1, k2 = os.urandom(28), os.urandom(28)
    a.connect_raw(pa, remote_ip="127.0.0.1", remote_port=b.port(pb), tx_key=k1, rx_key=k2)
    b.connect_raw(pb, remote_ip="127.0.0.1", remote_port=a.port(pa), tx_key=k2, rx_key=k1)
    s = a.add_source(
        pa, clip=a.load_clip(synth_clip(nframes=100, per_frame=2, size=600, fps=200)), ssrc=42, stream_id=3
    )
    a.start(s)
    time.sleep(0.2)
    b._stall(0.08)
    time.sleep(0.2)
    a.stop(s)
    assert wait(lambda: b.peer_stats(pb)["ssrcs"].get(42) == a.peer_stats(pa)["tx_packets"] > 0)
    tb, st = b.totals(), b.peer_stats(pb)
    kern, app, bounds = tb["latency_hist"], tb["app_latency_hist"], tb["bounds_us"]
    assert sum(kern) == sum(app) == st["rx_packets"] > 100
    assert st["rx_kernel_ts"] >= st["rx_packets"] and tb["rx_kernel_ts"] == st["rx_kernel_ts"]
    stalled = sum(v for v, ub in zip(app, bounds, strict=True) if ub > 20_000)
    assert stalled >= 5, app  # packets that waited out the stall
    assert _hist_max_us(app, bounds) > 40_000
    assert _hist_max_us(kern, bounds) <= 20_000, kern  # server (here: loopback) latency only


def test_loopback_throughput(lgs):
    """Many sources from one loadgen into another (verify_every=4): the receiver keeps up, and its I/O
    thread's packets per CPU second is printed (the figure the report quotes comes from a longer run)."""
    a, b = lgs(), lgs(verify_every=4)
    pa, pb = pair(a, b)
    clip = a.load_clip(synth_clip(nframes=30, per_frame=40, size=1000))
    for i in range(8):
        a.add_source(pa, clip=clip, ssrc=100 + i)
    a.start_all()
    time.sleep(0.3)
    c0, r0 = b.cpu_seconds(), b.peer_stats(pb)["rx_packets"]
    time.sleep(1.0)
    c1, r1 = b.cpu_seconds(), b.peer_stats(pb)["rx_packets"]
    a.stop_all()
    pps = (r1 - r0) / max(c1 - c0, 1e-6)
    print(f"loadgen receive: {r1 - r0} packets/s wall, {pps:.0f} packets per CPU second")
    assert r1 - r0 > 5000
    assert wait(lambda: b.peer_stats(pb)["rx_packets"] == a.peer_stats(pa)["tx_packets"])
    assert b.peer_stats(pb)["lost"] == 0


# ------------------------------------------------------------------------------ against our server's worker

SRV_PWD = "serverpassword0123456789"


def test_publish_and_subscribe_through_the_native_worker(lgs):
    from native._core import Worker

    lg = lgs(verify_every=1)
    srv = Worker()
    srv.start()
    try:
        lfp = bytes.fromhex(lg.fingerprint.replace(":", ""))
        pub_t = srv.create_transport("pub", SRV_PWD, False, "sha-256", lfp)
        sub_t = srv.create_transport("sub", SRV_PWD, False, "sha-256", lfp)
        peers = {}
        for name in ("pub", "sub"):
            p = lg.open_peer("lg" + name, "lgpassword0123456789abcd")
            lg.connect(
                p,
                remote_ip="127.0.0.1",
                remote_port=srv.port,
                remote_ufrag=name,
                remote_pwd=SRV_PWD,
                remote_fingerprint="sha-256 " + srv.fingerprint,
                controlling=True,
                dtls_role="client",
                rtx={101: 100},
            )
            peers[name] = p
        assert wait(lambda: all(connected(lg, p) for p in peers.values())), [
            lg.state(p) for p in peers.values()
        ]
        exts = {"abs_send_time": 3, "mid": 1}
        prod = srv.create_producer(pub_t, "video", 1111, 2222, {96: "VP8"}, {97: 96}, 90000, exts, "0")
        srv.create_consumer(sub_t, prod, 5000, 5001, {96: 100}, {100: 101}, exts, "0")
        # every 20th packet is dropped on its way to the server: the server NACKs, we answer with RTX
        s = lg.add_source(
            peers["pub"],
            clip=lg.load_clip(synth_clip(per_frame=5)),
            ssrc=1111,
            stream_id=9,
            mid_ext=1,
            mid="0",
            abs_ext=3,
            rtx_ssrc=2222,
            rtx_pt=97,
            drop_every=20,
        )
        lg.start(s)
        time.sleep(1.2)
        lg.stop(s)
        pub = lg.peer_stats(peers["pub"])
        assert wait(lambda: srv.producer_stats(prod)["packets"] >= pub["tx_packets"] - pub["retransmits"])
        assert wait(lambda: lg.peer_stats(peers["sub"])["ssrcs"].get(5000, 0) > 100)
        time.sleep(0.3)
        sub = lg.peer_stats(peers["sub"])
        assert pub["retransmits"] > 0 and pub["nacks_rx"] > 0
        assert sub["decrypt_errors"] == 0 and sub["lost"] == 0, sub
        assert sub["rr_tx"] >= 1
        hist = lg.totals()["latency_hist"]
        assert sum(hist) >= 100
    finally:
        srv.close()


# ------------------------------------------------------------------------------ against aiortc


def _sdp_attr(sdp: str, name: str) -> str:
    m = re.search(rf"^a={name}:(.*)$", sdp, re.M)
    assert m, f"no a={name} in {sdp}"
    return m.group(1).strip()


def _sdp_candidate(sdp: str) -> tuple[str, int]:
    for m in re.finditer(r"^a=candidate:\S+ 1 (?:udp|UDP) \d+ (\S+) (\d+) typ host", sdp, re.M):
        if ":" not in m.group(1):
            return m.group(1), int(m.group(2))
    raise AssertionError(f"no IPv4 host candidate in {sdp}")


def _lg_sdp(
    lg: Loadgen, ufrag: str, pwd: str, port: int, setup: str, vp8: int, rtx: int, mid: str, direction: str
) -> str:
    return "\r\n".join(
        [
            "v=0",
            "o=- 1 1 IN IP4 127.0.0.1",
            "s=-",
            "t=0 0",
            f"a=group:BUNDLE {mid}",
            "a=msid-semantic: WMS *",
            f"m=video 9 UDP/TLS/RTP/SAVPF {vp8} {rtx}",
            "c=IN IP4 127.0.0.1",
            f"a=ice-ufrag:{ufrag}",
            f"a=ice-pwd:{pwd}",
            f"a=fingerprint:sha-256 {lg.fingerprint}",
            f"a=setup:{setup}",
            f"a=mid:{mid}",
            f"a={direction}",
            "a=msid:lg lgv",
            "a=rtcp-mux",
            f"a=rtpmap:{vp8} VP8/90000",
            f"a=rtcp-fb:{vp8} nack",
            f"a=rtcp-fb:{vp8} nack pli",
            f"a=rtpmap:{rtx} rtx/90000",
            f"a=fmtp:{rtx} apt={vp8}",
            "a=ssrc-group:FID 1111 2222",
            "a=ssrc:1111 cname:lg",
            "a=ssrc:2222 cname:lg",
            f"a=candidate:1 1 udp 2130706431 127.0.0.1 {port} typ host",
            "a=end-of-candidates",
            "",
        ]
    )


async def _inbound_packets(pc) -> int:
    stats = await pc.getStats()
    return sum(s.packetsReceived for s in stats.values() if s.type == "inbound-rtp")


async def _wait_async(pred, timeout=8.0) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if await pred():
            return True
        await asyncio.sleep(0.05)
    return await pred()


@pytest.mark.parametrize("lg_offers", [True, False])
async def test_aiortc_receives_from_the_loadgen(lgs, lg_offers):
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    from tests.conftest import loopback_only_ice

    loopback_only_ice()
    lg = lgs()
    p = lg.open_peer("lgufrag", "lgpassword0123456789abcd")
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        if lg_offers:
            offer = _lg_sdp(
                lg, "lgufrag", "lgpassword0123456789abcd", lg.port(p), "actpass", 96, 97, "0", "sendonly"
            )
            await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
            remote = pc.localDescription.sdp
            vp8, rtx, controlling = 96, 97, True
        else:
            pc.addTransceiver("video", direction="recvonly")
            await pc.setLocalDescription(await pc.createOffer())
            remote = pc.localDescription.sdp
            vp8 = int(re.search(r"^a=rtpmap:(\d+) VP8/90000", remote, re.M).group(1))
            rtx = int(re.search(rf"^a=fmtp:(\d+) apt={vp8}\s*$", remote, re.M).group(1))
            controlling = False
        setup = _sdp_attr(remote, "setup")
        # aiortc answers "active" (it is the DTLS client); when it offers actpass we take the client role
        dtls_role = "server" if setup == "active" else "client"
        ip, port = _sdp_candidate(remote)
        lg.connect(
            p,
            remote_ip=ip,
            remote_port=port,
            remote_ufrag=_sdp_attr(remote, "ice-ufrag"),
            remote_pwd=_sdp_attr(remote, "ice-pwd"),
            remote_fingerprint=_sdp_attr(remote, "fingerprint"),
            controlling=controlling,
            dtls_role=dtls_role,
            rtx={rtx: vp8},
        )
        if not lg_offers:
            mid = _sdp_attr(remote, "mid")
            answer = _lg_sdp(
                lg, "lgufrag", "lgpassword0123456789abcd", lg.port(p), "active", vp8, rtx, mid, "sendonly"
            )
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        s = lg.add_source(
            p, clip=lg.load_clip(synth_clip(per_frame=3)), ssrc=1111, pt=vp8, rtx_ssrc=2222, rtx_pt=rtx
        )
        lg.start(s)

        async def flowing():
            return await _inbound_packets(pc) > 30

        ok = await _wait_async(flowing)
        assert ok, (lg.state(p), lg.peer_stats(p), pc.iceConnectionState, pc.connectionState)
        st = lg.state(p)
        assert st["ice"] == "connected" and st["dtls"] == "connected" and st["srtp_profile"]
        lg.stop(s)
    finally:
        await pc.close()


def test_authentic_odd_packets_on_a_raw_peer(lgs):
    """Authentic SRTP from a hand-made sender: a sequence number jump, RTCP of every kind, bad headers."""
    import struct

    from native._srtp import SrtpSession

    lg = lgs(verify_every=1)
    p = lg.open_peer("x", "y")
    key = os.urandom(28)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    lg.connect_raw(
        p, remote_ip="127.0.0.1", remote_port=sock.getsockname()[1], tx_key=os.urandom(28), rx_key=key
    )
    tx = SrtpSession(7, key[:16], key[16:])
    target = ("127.0.0.1", lg.port(p))

    def rtp(seq, payload=b"\x10" + bytes(50), first=0x80):
        return struct.pack("!BBHII", first, 96, seq & 0xFFFF, seq * 30, 7) + payload

    for seq in list(range(100)) + list(range(40000, 40100)):  # a jump the tracker must follow
        sock.sendto(tx.protect(rtp(seq)), target)
        if seq % 20 == 0:
            time.sleep(0.002)
    # RTCP: SR, RR, NACK and PLI for an SSRC we do not send, a FIR, an empty compound, a truncated one
    for pkt in (
        struct.pack("!BBHI", 0x80, 200, 6, 7) + bytes(20),
        struct.pack("!BBHI", 0x81, 201, 7, 7) + bytes(24),
        struct.pack("!BBHII", 0x81, 205, 3, 7, 99) + b"\x00\x01\x00\x00",
        struct.pack("!BBHII", 0x81, 206, 2, 7, 99),
        struct.pack("!BBHII", 0x84, 206, 2, 7, 0),
        struct.pack("!BBHI", 0x80, 200, 60, 7),
    ):
        sock.sendto(tx.protect_rtcp(pkt), target)
    sock.sendto(b"\x80\x60" + bytes(4), target)  # too short for RTP
    time.sleep(0.2)
    st = lg.peer_stats(p)
    assert st["ssrcs"][7] >= 100 + 36
    assert st["malformed"] >= 2 and st["nacks_rx"] == 1 and st["decrypt_errors"] == 0 and st["plis_rx"] == 2
    sock.close()


def test_dtls_client_hello_is_repeated_quickly(lgs):
    """The DTLS server side connects late and drops the first ClientHello: the client repeats it after
    100 ms (doubling), not after OpenSSL's 1 s."""
    a, b = lgs(), lgs()
    pa, pb = a.open_peer("ua", PWD_A), b.open_peer("ub", PWD_B)
    t0 = time.time()
    a.connect(
        pa,
        remote_ip="127.0.0.1",
        remote_port=b.port(pb),
        remote_ufrag="ub",
        remote_pwd=PWD_B,
        remote_fingerprint="sha-256 " + b.fingerprint,
        controlling=True,
        dtls_role="client",
    )
    assert wait(lambda: a.state(pa)["ice"] == "connected", 1.0)  # b answers checks before its connect()
    time.sleep(0.25)
    b.connect(
        pb,
        remote_ip="127.0.0.1",
        remote_port=a.port(pa),
        remote_ufrag="ua",
        remote_pwd=PWD_A,
        remote_fingerprint="sha-256 " + a.fingerprint,
        controlling=False,
        dtls_role="server",
    )
    assert wait(lambda: connected(a, pa) and connected(b, pb), 3.0)
    assert time.time() - t0 < 0.9


def test_simulcast_publish_with_rid_rrid_and_rtx_through_the_native_worker(lgs):
    """Three rid layers with RTX (rrid on the retransmissions): the server learns every SSRC from the
    extensions, its NACKs are answered, and the subscriber (RTX SSRC given) sees no loss."""
    from native._core import Worker

    lg = lgs(verify_every=2)
    srv = Worker()
    srv.start()
    try:
        lfp = bytes.fromhex(lg.fingerprint.replace(":", ""))
        pub_t = srv.create_transport("pub", SRV_PWD, False, "sha-256", lfp)
        sub_t = srv.create_transport("sub", SRV_PWD, False, "sha-256", lfp)
        peers = {}
        for name in ("pub", "sub"):
            p = lg.open_peer("lg" + name, "lgpassword0123456789abcd")
            lg.connect(
                p,
                remote_ip="127.0.0.1",
                remote_port=srv.port,
                remote_ufrag=name,
                remote_pwd=SRV_PWD,
                remote_fingerprint="sha-256 " + srv.fingerprint,
                controlling=True,
                dtls_role="client",
                rtx={101: 100},
                rtx_ssrcs={5001: 5000} if name == "sub" else None,
            )
            peers[name] = p
        assert wait(lambda: all(connected(lg, p) for p in peers.values()))
        exts = {"mid": 1, "abs_send_time": 3, "rid": 5, "rrid": 6}
        prod = srv.create_producer(
            pub_t, "video", 0, 0, {96: "VP8"}, {97: 96}, 90000, exts, "0", layers=[{"rid": r} for r in "qhf"]
        )
        srv.create_consumer(sub_t, prod, 5000, 5001, {96: 100}, {100: 101}, {"abs_send_time": 3}, "0")
        for i, rid in enumerate("qhf"):
            clip = lg.load_clip(synth_clip(per_frame=1 + 2 * i, size=300 + 400 * i))
            lg.add_source(
                peers["pub"],
                clip=clip,
                ssrc=0x100 + i,
                stream_id=i,
                mid_ext=1,
                mid="0",
                rid_ext=5,
                rid=rid,
                rrid_ext=6,
                abs_ext=3,
                rtx_ssrc=0x200 + i,
                rtx_pt=97,
                drop_every=15,
            )
        lg.start_all()
        time.sleep(1.5)
        lg.stop_all()
        time.sleep(0.3)
        pub, sub = lg.peer_stats(peers["pub"]), lg.peer_stats(peers["sub"])
        ps = srv.producer_stats(prod)
        assert pub["retransmits"] > 0 and ps["lost"] == 0, (pub, ps)
        assert sub["ssrcs"].get(5000, 0) > 30 and sub["lost"] == 0 and sub["decrypt_errors"] == 0, sub
        assert set(sub["ssrcs"]) == {5000}
    finally:
        srv.close()
