"""The recording file converter (R-REC-1, -3, -4) on packets made here: VP8 payloads from aiortc's
packetizer (RFC 7741 descriptors with picture IDs) and Opus, in the recorder's record format, turned into a
WebM that PyAV decodes; a break (a presenters-only stretch left out) closes the gap; trim cuts at key
frames."""

from __future__ import annotations

import fractions
import struct

import av
import numpy as np
import pytest
from aiortc.codecs.opus import OpusEncoder
from aiortc.codecs.vpx import Vp8Encoder

from mediaserver.output import recfile
from mediaserver.output.recfile import RECORD, TrackMeta

VSSRC, ASSRC = 1111, 2222


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool) -> bytes:
    return (
        struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc)
        + payload
    )


def record(t_us: int, pkt: bytes) -> bytes:
    return RECORD.pack(len(pkt), t_us) + pkt


def media(
    seconds: float,
    start_us: int,
    vseq: int = 0,
    aseq: int = 0,
    v0: int = 0,
    a0: int = 0,
    venc: Vp8Encoder | None = None,
) -> tuple[bytes, int, int]:
    """`seconds` of 30 fps 320x240 VP8 and 20 ms Opus tone packets, as records from start_us."""
    venc = venc or Vp8Encoder()
    aenc = OpusEncoder()
    out = []
    for i in range(int(seconds * 30)):
        img = np.zeros((240, 320, 3), np.uint8)
        img[:, : (i * 5) % 320, 0] = 255
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
        payloads, _ = venc.encode(frame, force_keyframe=(i == 0))
        for j, p in enumerate(payloads):
            out.append(
                (start_us + i * 33_333, rtp(96, vseq, v0 + i * 3000, VSSRC, p, j == len(payloads) - 1))
            )
            vseq += 1
    for k in range(int(seconds * 50)):
        t = (np.arange(960) + k * 960) / 48000
        pcm = (np.sin(2 * np.pi * 440 * t) * 10000).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 48000, k * 960, fractions.Fraction(1, 48000)
        payloads, _ = aenc.encode(frame)
        out.append((start_us + k * 20_000, rtp(111, aseq, a0 + k * 960, ASSRC, payloads[0], False)))
        aseq += 1
    out.sort(key=lambda x: x[0])
    return b"".join(record(t, p) for t, p in out), vseq, aseq


TRACKS = [
    TrackMeta(VSSRC, "video", "vp8", 90000, "camera", "host", "H", 0),
    TrackMeta(ASSRC, "audio", "opus", 48000, "microphone", "host", "H", 1),
]


def decoded(path) -> tuple[int, set, float, float]:
    frames, sizes, end, sq = 0, set(), 0.0, []
    with av.open(str(path)) as c:
        for f in c.decode(*c.streams):
            t = float(f.pts * f.time_base)
            if isinstance(f, av.VideoFrame):
                frames += 1
                sizes.add((f.width, f.height))
                end = max(end, t)
            else:
                sq.append(f.to_ndarray().astype(np.float64).ravel())
                end = max(end, t + f.samples / f.sample_rate)
    rms = float(np.sqrt(np.mean(np.concatenate(sq) ** 2))) if sq else 0.0
    return frames, sizes, end, rms


def test_vp8_descriptor_and_keyframe_size():
    assert recfile.vp8_payload(bytes([0x10, 0xAA])) == (True, b"\xaa")  # S, PartID 0, no X
    # X with I (15-bit picture ID), L and T/K: 1 + 1 + 2 + 1 + 1 bytes of descriptor
    assert recfile.vp8_payload(bytes([0x90, 0xF0, 0x80, 0x01, 0x05, 0x20, 0xBB])) == (True, b"\xbb")
    assert recfile.vp8_payload(bytes([0x00, 0xCC])) == (False, b"\xcc")
    key = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00])
    assert recfile.vp8_keyframe_size(key) == (320, 240)
    assert recfile.vp8_keyframe_size(bytes([0x11]) + key[1:]) is None  # an inter frame


def test_convert_rebuilds_vp8_without_reencoding_and_mixes_opus(tmp_path):
    raw = tmp_path / "a.raw"
    blob, _, _ = media(3.0, 10_000_000)
    raw.write_bytes(blob + b"\x05\x00")  # a torn last record
    out = tmp_path / "a.webm"
    conv = recfile.convert(raw, TRACKS, out)
    assert (conv.width, conv.height, conv.audio_tracks) == (320, 240, 1)
    assert conv.video_frames >= 85 and abs(conv.duration - 3.0) < 0.1
    frames, sizes, end, rms = decoded(out)
    assert frames == conv.video_frames and sizes == {(320, 240)} and abs(end - 3.0) < 0.1 and rms > 0.05
    assert abs(recfile.probe(out) - 3.0) < 0.1


def test_a_break_closes_the_gap_of_a_left_out_stretch(tmp_path):
    """R-REC-3: 2 s, a 10 s presenters-only stretch (left out: a break record), 2 s more -> about 4 s."""
    venc = Vp8Encoder()
    a, vseq, aseq = media(2.0, 1_000_000, venc=venc)
    b, _, _ = media(2.0, 13_000_000, vseq, aseq, v0=12 * 90000, a0=12 * 48000)
    raw = tmp_path / "b.raw"
    raw.write_bytes(a + recfile.break_marker() + b)
    conv = recfile.convert(raw, TRACKS, tmp_path / "b.webm")
    assert abs(conv.duration - 4.0) < 0.15, conv
    frames, _, end, _ = decoded(tmp_path / "b.webm")
    assert frames >= 110 and abs(end - 4.0) < 0.15


def test_an_empty_recording_is_refused(tmp_path):
    raw = tmp_path / "c.raw"
    raw.write_bytes(b"")
    with pytest.raises(ValueError):
        recfile.convert(raw, TRACKS, tmp_path / "c.webm")


def test_stage_choice():
    cam = TrackMeta(1, "video", "vp8", 90000, "camera", "presenter", "P", 0)
    host = TrackMeta(2, "video", "vp8", 90000, "camera", "host", "H", 1)
    screen = TrackMeta(3, "video", "vp8", 90000, "screen", "presenter", "P", 2)
    assert recfile.choose_stage([cam, host, screen], {1, 2, 3}) is screen
    assert recfile.choose_stage([cam, host, screen], {1, 2}) is host
    assert recfile.choose_stage([cam, host], {1}) is cam
    assert recfile.choose_stage([cam], set()) is None


def test_trim_cuts_at_a_key_frame(tmp_path):
    """R-REC-4: trim remuxes from the last key frame at or before the start, without re-encoding."""
    raw = tmp_path / "d.raw"
    raw.write_bytes(media(3.0, 0)[0])
    src = tmp_path / "d.webm"
    recfile.convert(raw, TRACKS, src)
    out = tmp_path / "d-cut.webm"
    cut, dur = recfile.trim(src, out, 1.0, 2.0)
    frames, sizes, end, _ = decoded(out)
    # aiortc's encoder made one key frame (the first): the cut starts there
    assert cut == 0.0 and 1.9 <= dur <= 2.1 and frames >= 55 and sizes == {(320, 240)}


def test_the_stage_goes_to_a_screen_share_and_back_at_key_frames(tmp_path):
    """The stage: the host's camera (320x240), a screen share (640x360) while it runs, then the camera
    again at its next key frame; frames are muxed as they came (their sizes change only at key frames)."""
    screen_ssrc = 3333

    def stream(ssrc: int, w: int, h: int, start: float, seconds: float, keys: set[int], pt: int = 96):
        enc = Vp8Encoder()
        out = []
        seq = 0
        for i in range(int(seconds * 30)):
            img = np.zeros((h, w, 3), np.uint8)
            img[:, : (i * 5) % w, 1] = 200
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = i * 3000, fractions.Fraction(1, 90000)
            payloads, _ = enc.encode(frame, force_keyframe=i in keys)
            for j, p in enumerate(payloads):
                out.append(
                    (int((start + i / 30) * 1e6), rtp(pt, seq, i * 3000, ssrc, p, j == len(payloads) - 1))
                )
                seq += 1
        return out

    cam = stream(VSSRC, 320, 240, 0.0, 4.0, {0, 90})  # a key frame again at 3 s (asked for)
    screen = stream(screen_ssrc, 640, 360, 1.0, 1.0, {0})  # 1 s .. 2 s
    recs = sorted(cam + screen, key=lambda x: x[0])
    raw = tmp_path / "s.raw"
    raw.write_bytes(b"".join(record(t, p) for t, p in recs))
    tracks = [TRACKS[0], TrackMeta(screen_ssrc, "video", "vp8", 90000, "screen", "presenter", "P", 2)]
    conv = recfile.convert(raw, tracks, tmp_path / "s.webm")
    assert (conv.width, conv.height) == (320, 240)
    seen = []
    with av.open(str(tmp_path / "s.webm")) as c:
        for f in c.decode(video=0):
            seen.append((round(float(f.pts * f.time_base), 2), (f.width, f.height)))
    sizes = [size for _, size in seen]
    assert sizes[0] == (320, 240) and (640, 360) in sizes and sizes[-1] == (320, 240)
    on_screen = [t for t, size in seen if size == (640, 360)]
    assert 0.95 <= on_screen[0] <= 1.05 and 1.9 <= on_screen[-1] <= 2.0 and len(on_screen) >= 28
    back = [t for t, size in seen if size == (320, 240) and t > 1.5]
    assert 2.95 <= back[0] <= 3.05  # the camera's next key frame, not before
    # 0-1 s camera (its frame at 1.0 s may come just before the screen's key frame), screen, 3-4 s camera
    assert conv.video_frames == len(seen) and 90 <= len(seen) <= 91
