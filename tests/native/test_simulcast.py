"""Simulcast in the native core (issue 5, R-MEDIA-3, R-NET-2): a publisher sends three rid layers, the
worker forwards one of them to each subscriber and switches layers on keyframes only, so that the
subscriber sees one clean stream: one SSRC, sequence numbers without gaps, timestamps that only move
forward, VP8 picture IDs and TL0PICIDX that count on, also across 16-bit and 15-bit wrap-around.

Both ends are real transports (ICE, DTLS-SRTP) over loopback: the client side is the core's own client
transport, and the subscriber's received packets are read back decrypted with ``Worker.capture``.
"""

from __future__ import annotations

import struct
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from native._core import Worker, alloc_policy, allocate, build_nack

PWD = "subscriberpassword012345"
MID, ABS, RID = 1, 3, 5
RIDS = ("q", "h", "f")
SIZES = (150, 500, 1100)  # payload bytes per packet of each layer: a clear bitrate order


class Layer:
    """One simulcast encoding as a publisher would send it: own SSRC, sequence, timestamp and picture ID."""

    def __init__(self, index: int, seq: int, ts: int, pic: int, tl0: int, ssrc_base: int = 0x1000) -> None:
        self.index, self.ssrc = index, ssrc_base + index
        self.seq, self.ts, self.pic, self.tl0 = seq, ts, pic, tl0

    def frame(self, key: bool) -> bytes:
        """One one-packet VP8 frame: X=1 S=1, I=1 with a 15-bit picture ID, L=1 with TL0PICIDX."""
        rid = RIDS[self.index].encode()
        ext = bytes([(MID << 4) | 0]) + b"0" + bytes([(RID << 4) | (len(rid) - 1)]) + rid
        ext += bytes([(ABS << 4) | 2, 0, 0, 0])
        ext += b"\0" * (-len(ext) % 4)
        desc = bytes([0x90, 0xC0, 0x80 | (self.pic >> 8), self.pic & 0xFF, self.tl0, 0x00 if key else 0x01])
        pkt = struct.pack("!BBHII", 0x90, 0x80 | 96, self.seq, self.ts, self.ssrc)
        pkt += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext + desc + bytes(SIZES[self.index])
        self.seq = (self.seq + 1) & 0xFFFF
        self.ts = (self.ts + 3000) & 0xFFFFFFFF
        self.pic = (self.pic + 1) & 0x7FFF
        self.tl0 = (self.tl0 + 1) & 0xFF
        return pkt


def wait(pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


class Rig:
    """A server worker with a simulcast producer and one subscriber; a client worker at both ends."""

    def __init__(self) -> None:
        self.srv, self.cli = Worker(), Worker()
        self.srv.start()
        self.cli.start()
        sfp = bytes.fromhex(self.srv.fingerprint.replace(":", ""))
        cfp = bytes.fromhex(self.cli.fingerprint.replace(":", ""))
        self.pub = self.srv.create_transport("pub", PWD, False, "sha-256", cfp)
        self.cpub = self.cli.create_client_transport(
            "127.0.0.1", self.srv.port, "cp", "pub", PWD, "sha-256", sfp
        )
        self.sub = self.srv.create_transport("sub", PWD, False, "sha-256", cfp)
        self.csub = self.cli.create_client_transport(
            "127.0.0.1", self.srv.port, "cs", "sub", PWD, "sha-256", sfp, sink_abs_ext=ABS
        )
        assert wait(
            lambda: all(
                self.cli.transport_stats(t)["dtls_state"] == "connected" for t in (self.cpub, self.csub)
            )
        )
        self.producer = 0
        self.renew()
        self.cli.capture(self.csub)  # starts the capture
        self.got: list[tuple] = []

    def renew(self, consumer_ssrc: int = 0x5000) -> None:
        """A new simulcast producer (its layers' SSRCs learnt from the rid extension) and consumer."""
        if self.producer:
            self.srv.close_producer(self.producer)
        self.producer = self.srv.create_producer(
            self.pub,
            "video",
            0,
            0,
            {96: "VP8"},
            {},
            90000,
            {"mid": MID, "abs_send_time": ABS, "rid": RID},
            "0",
            layers=[{"rid": r} for r in RIDS],
        )
        self.consumer = self.srv.create_consumer(
            self.sub, self.producer, consumer_ssrc, 0, {96: 100}, {}, {"abs_send_time": ABS}, "0"
        )
        self.sent = 0

    def send(self, packets: list[bytes]) -> None:
        self.cli.send_rtp(self.cpub, packets, abs_ext=ABS)
        self.sent += len(packets)

    def settle(self) -> None:
        """Wait until the server has taken in everything sent so far."""
        assert wait(lambda: self.srv.producer_stats(self.producer)["packets"] >= self.sent)

    def received(self, n: int, timeout: float = 5.0) -> list[tuple]:
        """Wait until n packets have arrived in all; returns everything received so far."""
        wait(lambda: len(self._drain()) >= n, timeout)
        return self.got

    def _drain(self) -> list[tuple]:
        self.got += self.cli.capture(self.csub)
        return self.got

    def close(self) -> None:
        self.cli.close()
        self.srv.close()


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def layer_of(pkt: tuple) -> int:
    """Which layer a received packet came from, by its size."""
    return SIZES.index(pkt[6] - 12 - 8 - 6)  # RTP header, extension block (abs-send-time), VP8 descriptor


def check_clean(pkts: list[tuple]) -> None:
    """One SSRC, consecutive sequence numbers, timestamps that move forward, picture IDs +1 per frame."""
    assert len({p[1] for p in pkts}) == 1
    for a, b in zip(pkts, pkts[1:], strict=False):
        assert (b[2] - a[2]) & 0xFFFF == 1, (a[2], b[2])
        assert 0 < (b[3] - a[3]) & 0xFFFFFFFF < 0x80000000, (a[3], b[3])
        pa, pb = ((a[7][2] & 0x7F) << 8) | a[7][3], ((b[7][2] & 0x7F) << 8) | b[7][3]
        assert (pb - pa) & 0x7FFF == 1, (pa, pb)
        assert (b[7][4] - a[7][4]) & 0xFF == 1, (a[7][4], b[7][4])


class Model:
    """The switching rule, as a subscriber should see it: the current layer goes on until a keyframe of the
    target layer arrives; then the target layer takes over. Nothing before the first keyframe."""

    def __init__(self) -> None:
        self.cur, self.target, self.out = -1, -1, []

    def packet(self, layer: int, key: bool) -> None:
        if self.target < 0:
            self.cur = -1
        elif layer == self.cur:
            self.out.append(layer)
        elif layer == self.target and key:
            self.cur = layer
            self.out.append(layer)


def run_plan(rig: Rig, layers: list[Layer], plan: list[tuple[int, int]]) -> list[int]:
    """For each (target, frames): pick the target, send a delta frame of every layer, then `frames` frames
    of every layer, the first a keyframe. Returns the layers the model says the subscriber gets."""
    model = Model()
    for target, frames in plan:
        rig.settle()
        rig.srv.set_consumer_layer(rig.consumer, target)
        model.target = target
        for k in range(frames + 1):
            key = k == 1
            rig.send([lay.frame(key=key) for lay in layers])
            rig.settle()  # one receive batch per send: the worker serves a batch layer by layer
            for lay in layers:
                model.packet(lay.index, key)
    return model.out


def test_forced_layers_switch_on_keyframes_into_one_clean_stream(rig):
    layers = [
        Layer(i, seq=65530 - 7 * i, ts=0xFFFFF000 + 999 * i, pic=0x7FFC + i, tl0=250 + i) for i in range(3)
    ]
    expected = run_plan(rig, layers, [(0, 4), (2, 4), (1, 4), (0, 4), (2, 4)])
    pkts = rig.received(len(expected))
    assert [layer_of(p) for p in pkts] == expected
    assert {0, 1, 2} <= set(expected)
    check_clean(pkts)
    stats = rig.srv.consumer_stats(rig.consumer)
    assert stats["cur_layer"] == 2 and stats["target_layer"] == 2 and stats["nlayers"] == 3


def test_switch_waits_for_a_keyframe_and_asks_the_publisher_for_one(rig):
    layers = [Layer(i, 100 * i, 5000 * i, 10 * i, i) for i in range(3)]
    rig.srv.set_consumer_layer(rig.consumer, 0)
    rig.send([lay.frame(key=True) for lay in layers])
    assert len(rig.received(1)) == 1
    rig.settle()  # the server has taken the whole batch before the target changes
    rig.srv.set_consumer_layer(rig.consumer, 2)
    for _ in range(5):
        rig.send([lay.frame(key=False) for lay in layers])
    pkts = rig.received(6)
    assert [layer_of(p) for p in pkts] == [0] * 6  # no keyframe of layer 2 yet: layer 0 goes on
    assert wait(lambda: rig.srv.producer_stats(rig.producer)["plis"] >= 1)
    rig.send([lay.frame(key=True) for lay in layers])
    pkts = rig.received(8)
    assert [layer_of(p) for p in pkts[6:]] == [0, 2]  # layer 0's own keyframe first, then the switch
    check_clean(pkts)


def test_video_off_and_back_on(rig):
    layers = [Layer(i, 40000 + i, 7 * i, 300 + i, 9 * i) for i in range(3)]
    rig.srv.set_consumer_layer(rig.consumer, 1)
    rig.send([lay.frame(key=True) for lay in layers])
    rig.send([lay.frame(key=False) for lay in layers])
    assert len(rig.received(2)) == 2
    rig.settle()
    rig.srv.set_consumer_layer(rig.consumer, -1)
    for _ in range(3):
        rig.send([lay.frame(key=True) for lay in layers])
    time.sleep(0.2)
    assert len(rig._drain()) == 2
    rig.settle()
    rig.srv.set_consumer_layer(rig.consumer, 1)
    rig.send([lay.frame(key=True) for lay in layers])
    pkts = rig.received(3)
    assert len(pkts) == 3 and layer_of(pkts[-1]) == 1
    check_clean(pkts)


def test_nack_after_a_switch_is_answered_from_the_right_layer(rig):
    rig.srv.close_consumer(rig.consumer)
    rig.consumer = rig.srv.create_consumer(
        rig.sub, rig.producer, 0x6000, 0x6001, {96: 100}, {100: 101}, {"abs_send_time": ABS}, "0"
    )
    layers = [Layer(i, 1000 * i, 0, 0, 0) for i in range(3)]
    rig.srv.set_consumer_layer(rig.consumer, 0)
    rig.send([lay.frame(key=True) for lay in layers])
    rig.settle()
    rig.srv.set_consumer_layer(rig.consumer, 2)
    rig.send([lay.frame(key=True) for lay in layers])
    pkts = rig.received(3)
    assert [layer_of(p) for p in pkts] == [0, 0, 2]  # layer 0's own keyframe came first in the batch
    before = len(rig.got)
    # the first layer-0 packet, sent before the switch, and the layer-2 one after it
    rig.cli.send_rtcp(rig.csub, build_nack(1, 0x6000, [pkts[0][2], pkts[2][2]]))
    again = rig.received(before + 2)[before:]
    assert [p[1] for p in again] == [0x6001, 0x6001]  # RTX (RFC 4588) with the original seq first
    assert [struct.unpack("!H", p[7][:2])[0] for p in again] == [pkts[0][2], pkts[2][2]]
    assert [SIZES.index(p[6] - 12 - 8 - 2 - 6) for p in again] == [0, 2]


EXAMPLE = 0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    plan=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 6)), min_size=1, max_size=6),
    seqs=st.lists(st.integers(0, 65535), min_size=3, max_size=3),
    pics=st.lists(st.integers(0, 0x7FFF), min_size=3, max_size=3),
    tss=st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3),
)
def test_any_switch_plan_gives_a_clean_stream(rig, plan, seqs, pics, tss):
    """Property: whatever the switch plan and the layers' start values (wrap-around included), the output
    is one clean stream and each stretch carries the layer asked for."""
    global EXAMPLE
    EXAMPLE += 1
    rig.renew(0x5000 + EXAMPLE)  # a fresh publisher and subscriber stream per example
    rig._drain()
    rig.got = []
    layers = [
        Layer(i, seqs[i], tss[i], pics[i], pics[i] & 0xFF, ssrc_base=0x10000 * EXAMPLE) for i in range(3)
    ]
    expected = run_plan(rig, layers, plan)
    pkts = rig.received(len(expected))
    assert [layer_of(p) for p in pkts] == expected
    check_clean(pkts)


def test_auto_selection_follows_activity_and_budget(rig):
    """With the allocator in charge the consumer gets the best active layer its budget allows, and moves
    down when that layer stops (a layer counts as gone after ~250 ms without packets)."""
    layers = [Layer(i, 0, 0, 0, 0) for i in range(3)]
    stop = threading.Event()
    active = [True, True, True]

    def publish():
        k = 0
        while not stop.is_set():
            rig.send([lay.frame(key=(k % 15 == 0)) for lay in layers if active[lay.index]])
            k += 1
            time.sleep(0.02)

    th = threading.Thread(target=publish, daemon=True)
    th.start()
    try:
        assert wait(lambda: rig.srv.consumer_stats(rig.consumer)["cur_layer"] == 2, 6)
        # 50 pkt/s: layers are about 80, 250 and 500 kbit/s; a 400 kbit/s stream budget rules out the top
        rig.srv.set_consumer_budget(rig.consumer, 400_000, 1)
        assert wait(lambda: rig.srv.consumer_stats(rig.consumer)["cur_layer"] == 1, 6)
        rig.srv.set_consumer_budget(rig.consumer, 0, 1)
        active[1] = active[2] = False  # the publisher drops its upper layers
        assert wait(lambda: rig.srv.consumer_stats(rig.consumer)["cur_layer"] == 0, 6)
        prod = rig.srv.producer_stats(rig.producer)
        assert prod["layer_active"] == [1, 0, 0]
    finally:
        stop.set()
        th.join()
    rig._drain()
    check_clean(rig.got)


# ------------------------------------------------------------------- the allocator on its own (alloc.c)


def test_allocation_serves_audio_then_the_stage_then_other_cameras():
    audio = {"kind": "audio", "layer_bps": [40_000]}
    stage = {"kind": "video", "priority": 2, "layer_bps": [150_000, 500_000, 1_500_000], "max_bps": 2_000_000}
    cam = {"kind": "video", "priority": 1, "layer_bps": [150_000, 500_000, 1_500_000], "max_bps": 1_000_000}
    assert allocate([audio, cam, stage], 5_000_000) == [0, 1, 2]  # HD stage, SD budget for the camera
    assert allocate([audio, cam, stage], 1_100_000) == [0, 0, 1]  # the stage climbs first
    assert allocate([audio, cam, stage], 450_000) == [0, 0, 0]  # everyone on the low layer
    assert allocate([audio, cam, stage], 350_000) == [0, -1, 0]  # the other camera goes off first
    assert allocate([audio, cam, stage], 330_000) == [0, -1, -1]  # under 300k left after audio: no video
    assert allocate([audio, cam, stage], 100_000) == [0, -1, -1]  # video off before audio
    assert allocate([audio, cam, stage], 0) == [0, -1, -1]  # audio is never cut


def test_allocation_respects_the_total_budget_and_holds_upgrades():
    v = {"kind": "video", "layer_bps": [150_000, 500_000, 1_500_000]}
    assert allocate([v], 10_000_000, total_budget_bps=1_000_000) == [1]
    assert allocate([{**v, "current": 0}], 10_000_000, hold_upgrades=True) == [0]
    assert allocate([{**v, "current": -1}], 10_000_000, hold_upgrades=True) == [-1]
    assert allocate([{**v, "current": 2}], 700_000, hold_upgrades=True) == [1]  # downgrades are never held


def test_allocation_staying_needs_less_than_climbing():
    """Hysteresis: a stream on a layer keeps it with the layer's rate available; climbing to it needs 15%
    more."""
    v = {"kind": "video", "layer_bps": [150_000, 500_000, 1_500_000]}
    audio = {"kind": "audio", "layer_bps": [40_000]}
    assert allocate([audio, {**v, "current": 1}], 1_600_000) == [0, 1]
    assert allocate([audio, {**v, "current": 2}], 1_600_000) == [0, 2]


def test_allocation_keeps_the_lowest_layer_when_the_estimate_cannot_climb_back():
    """A receiver's REMB never exceeds ~1.5x what it receives: on REMB alone video stays on, lowest layer."""
    audio = {"kind": "audio", "layer_bps": [40_000]}
    v = {"kind": "video", "layer_bps": [150_000, 500_000, 1_500_000]}
    assert allocate([audio, v], 100_000, allow_off=False) == [0, 0]
    assert allocate([audio, v], 100_000, allow_off=True) == [0, -1]
    assert allocate([audio, v], 900_000, allow_off=False) == [0, 1]


def test_a_new_subscriber_starts_on_the_lowest_layer_before_any_probe_proves_more():
    """Issue 18 (join storms): a new subscriber's transport has proven only its audio (what was acked), yet
    its video starts at once on the lowest layer: up to the start rate (MS_ALLOC_START_BPS, as a browser
    starts at 300 kbit/s) what the estimate allows needs no proof. Above it, climbing still waits for a
    probe."""
    audio = {"kind": "audio", "layer_bps": [40_000]}
    v = {"kind": "video", "layer_bps": [150_000, 500_000, 1_500_000]}
    first = alloc_policy([audio, {**v, "previous": 2}], estimate_bps=1_000_000, validated_bps=60_000)
    assert first["targets"] == [0, 0]
    # no downgrade of anything that flowed: nothing holds the next upgrade
    assert first["hold_until_us"] == 0
    # flowing on the lowest layer with a large estimate, but only that proven: no climb yet
    flowing = {**v, "current": 0, "previous": 0}
    assert alloc_policy([audio, flowing], 3_000_000, validated_bps=240_000)["targets"] == [0, 0]
    assert alloc_policy([audio, flowing], 3_000_000, validated_bps=3_000_000)["targets"] == [0, 2]
    # an estimate under the start rate is all there is: it decides, proof or not
    assert alloc_policy([audio, {**v}], 300_000, validated_bps=0)["targets"] == [0, -1]


def test_a_downgrade_of_what_flows_holds_upgrades_and_a_wish_that_never_started_does_not():
    audio = {"kind": "audio", "layer_bps": [40_000]}
    v = {"kind": "video", "layer_bps": [150_000, 500_000, 1_500_000]}
    now = 10_000_000
    flowing = alloc_policy([audio, {**v, "current": 2, "previous": 2}], 700_000, 700_000, now_us=now)
    assert flowing["targets"] == [0, 1] and flowing["hold_until_us"] == now + 4_000_000
    never = alloc_policy([audio, {**v, "current": -1, "previous": 2}], 700_000, 700_000, now_us=now)
    assert never["targets"] == [0, 1] and never["hold_until_us"] == 0


def test_allocation_skips_inactive_layers():
    v = {"kind": "video", "layer_bps": [150_000, 500_000, 1_500_000], "active": [False, True, False]}
    assert allocate([v], 10_000_000) == [1]
    assert allocate([{**v, "active": [False, False, False]}], 10_000_000) == [-1]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["audio", "video"]),
            st.integers(0, 3),
            st.lists(st.integers(1, 3_000_000), min_size=1, max_size=3),
        ),
        max_size=12,
    ),
    st.integers(0, 20_000_000),
)
def test_allocation_never_exceeds_what_is_available_for_video(streams, available):
    """Property: video never takes more than is left after audio (with its 15% headroom for upgrades)."""
    ss = [{"kind": k, "priority": p, "layer_bps": sorted(b)} for k, p, b in streams]
    targets = allocate(ss, available)
    audio = sum(s["layer_bps"][0] for s in ss if s["kind"] == "audio")
    video = sum(
        s["layer_bps"][t] * 1.15 for s, t in zip(ss, targets, strict=True) if s["kind"] == "video" and t >= 0
    )
    assert video <= max(0, available - audio) + 1
    assert all(t == 0 for s, t in zip(ss, targets, strict=True) if s["kind"] == "audio")


def test_ssrc_simulcast_without_rids(rig):
    """Layers given by SSRC (a=ssrc-group:SIM) need no rid extension: packets are routed by their SSRC."""
    rig.srv.close_producer(rig.producer)
    rig.producer = rig.srv.create_producer(
        rig.pub,
        "video",
        0,
        0,
        {96: "VP8"},
        {},
        90000,
        {"abs_send_time": ABS},
        "0",
        layers=[{"ssrc": 0x7000 + i} for i in range(3)],
    )
    rig.consumer = rig.srv.create_consumer(
        rig.sub, rig.producer, 0x5100, 0, {96: 100}, {}, {"abs_send_time": ABS}, "0"
    )
    rig.sent = 0
    layers = [Layer(i, 500 * i, 0, 0, 0, ssrc_base=0x7000) for i in range(3)]
    expected = run_plan(rig, layers, [(1, 3), (2, 3)])
    pkts = rig.received(len(expected))
    assert [layer_of(p) for p in pkts] == expected and expected[-1] == 2
    check_clean(pkts)
    assert rig.srv.producer_stats(rig.producer)["layer_ssrc"] == [0x7000, 0x7001, 0x7002]


# ------------------------------------------------------------------- VP8 temporal layers

PATTERN = (0, 2, 1, 2)  # libvpx's three-layer pattern: TL0, TL2, TL1, TL2, ...


def temporal_frame(lay: Layer, k: int, key: bool) -> bytes:
    """Frame k of a three-temporal-layer VP8 stream: T bit with TID and the layer-sync bit (Y) on the first
    TL1/TL2 frame after each TL0 frame; TL0PICIDX counts TL0 frames."""
    tid = PATTERN[k % 4]
    y = 1 if tid and k % 4 in (1, 2) else 0
    if tid == 0 and k:
        lay.tl0 = (lay.tl0 + 1) & 0xFF
    rid = RIDS[lay.index].encode()
    ext = bytes([(MID << 4) | 0]) + b"0" + bytes([(RID << 4) | (len(rid) - 1)]) + rid
    ext += bytes([(ABS << 4) | 2, 0, 0, 0])
    ext += b"\0" * (-len(ext) % 4)
    desc = bytes(
        [
            0x90,
            0xE0,
            0x80 | (lay.pic >> 8),
            lay.pic & 0xFF,
            lay.tl0,
            (tid << 6) | (y << 5),
            0x00 if key else 0x01,
        ]
    )
    pkt = struct.pack("!BBHII", 0x90, 0x80 | 96, lay.seq, lay.ts, lay.ssrc)
    pkt += struct.pack("!HH", 0xBEDE, len(ext) // 4) + ext + desc + bytes(SIZES[lay.index])
    lay.seq = (lay.seq + 1) & 0xFFFF
    lay.ts = (lay.ts + 3000) & 0xFFFFFFFF
    lay.pic = (lay.pic + 1) & 0x7FFF
    return pkt


def test_temporal_layers_drop_whole_frames_and_keep_the_stream_clean(rig):
    """Down to TL0 at the next frame; back up only at a layer-sync frame; sequence numbers and picture IDs
    close over the dropped frames (also across their wrap), TL0PICIDX stays as sent."""
    lay = Layer(1, seq=65533, ts=7, pic=0x7FFD, tl0=254)
    rig.srv.set_consumer_layer(rig.consumer, 1)
    sent: list[tuple[int, int]] = []  # (frame index, TID) in send order
    for k in range(16):
        if k == 4:
            rig.settle()
            rig.srv.set_consumer_temporal(rig.consumer, 0)
        if k == 11:
            rig.settle()
            rig.srv.set_consumer_temporal(rig.consumer, None)
        rig.send([temporal_frame(lay, k, key=(k == 0))])
        sent.append((k, PATTERN[k % 4]))
    # frames 0-3 all; then TL0 only (4, 8, 12); asked up at 11 (TID 2, no sync: dropped), up at 13 (Y=1)
    expected = [0, 1, 2, 3, 4, 8, 12, 13, 14, 15]
    pkts = rig.received(len(expected))
    assert len(pkts) == len(expected), (len(pkts), expected)
    for a, b in zip(pkts, pkts[1:], strict=False):
        assert (b[2] - a[2]) & 0xFFFF == 1  # no sequence gap
        assert 0 < (b[3] - a[3]) & 0xFFFFFFFF < 0x80000000  # time moves on
        pa, pb = ((a[7][2] & 0x7F) << 8) | a[7][3], ((b[7][2] & 0x7F) << 8) | b[7][3]
        assert (pb - pa) & 0x7FFF == 1, (pa, pb)  # no picture ID gap
    tids = [p[7][5] >> 6 for p in pkts]
    assert tids == [PATTERN[k % 4] for k in expected]
    stats = rig.srv.consumer_stats(rig.consumer)
    assert stats["frames_dropped"] == 16 - len(expected) and stats["temporal"] == 3
