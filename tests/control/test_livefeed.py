"""The live feed to RTMP services (R-REC-6) on packets made here (aiortc's VP8 packetizer and Opus, in the
recorder's record format), written to a local FLV file that PyAV decodes: H.264 at the feed's size showing
the source's picture, AAC carrying the tone, a black picture repeated while nobody sends; and the checks of
an RTMP target (the stream key is never shown)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from mediaserver.errors import ControlError
from mediaserver.output import livefeed, recfile
from mediaserver.output.streaming import check_target
from tests.control.test_recfile import ASSRC, TRACKS, VSSRC, media, record, rtp


def feed_in_time(
    feed: livefeed.LiveFeed, blob: bytes, start_us: int, until_us: int, step_us: int = 100_000
) -> None:
    """Hand the records over in 100 ms drains, with a clock tick after each, as
    mediaserver.output.streaming does."""
    recs = livefeed.records_of(blob)
    i = 0
    for now in range(start_us, until_us + step_us, step_us):
        chunk = []
        while i < len(recs) and recs[i][0] <= now:
            chunk.append(record(*recs[i]))
            i += 1
        if chunk:
            feed.feed(b"".join(chunk))
        feed.tick(now)


def decode_flv(path) -> dict:
    out = {"video": 0, "sizes": set(), "red": [], "audio": 0, "pcm": [], "end": 0.0}
    with av.open(str(path)) as c:
        assert c.format.name == "flv"
        out["codecs"] = {s.type: s.codec_context.name for s in c.streams}
        for f in c.decode(*c.streams):
            t = float(f.pts * f.time_base)
            if isinstance(f, av.VideoFrame):
                out["video"] += 1
                out["sizes"].add((f.width, f.height))
                out["red"].append(float(f.to_ndarray(format="rgb24")[:, :, 0].mean()))
                out["end"] = max(out["end"], t)
            else:
                out["audio"] += 1
                out["pcm"].append(f.to_ndarray().astype(np.float64).ravel())
                out["end"] = max(out["end"], t + f.samples / f.sample_rate)
    pcm = np.concatenate(out.pop("pcm")) if out["audio"] else np.zeros(1)
    out["rms"] = float(np.sqrt(np.mean(pcm**2)))
    return out


def test_a_camera_and_a_microphone_become_h264_and_aac(tmp_path):
    """3 s of 320x240 VP8 with a growing red bar and a 440 Hz Opus tone -> an FLV at the feed's 640x360:
    ~30 fps of the source's pictures (the red bar grows), the tone in AAC, the length of the input."""
    start = 1_000_000
    blob, _, _ = media(3.0, start)
    out = tmp_path / "live.flv"
    feed = livefeed.LiveFeed(str(out), size=(640, 360))
    feed.open()
    for t in TRACKS:
        feed.add_track(t)
    feed_in_time(feed, blob, start, start + 3_000_000)
    feed.close(start + 3_000_000)
    assert feed.stage_frames == 90
    got = decode_flv(out)
    assert got["codecs"] == {"video": "h264", "audio": "aac"}
    assert got["sizes"] == {(640, 360)}
    assert 88 <= got["video"] <= 95, got["video"]
    reds = got["red"]
    assert reds[5] < reds[25] < reds[55] and reds[70] < reds[60], reds[
        ::10
    ]  # the bar grows, wraps at 64: in order
    assert got["rms"] > 0.05, got["rms"]  # the tone, not silence
    assert 2.8 <= got["end"] <= 3.8, got["end"]


def test_nobody_sending_repeats_a_black_picture_and_silence(tmp_path):
    """Before any source sends (or while all are muted), the service still gets a picture a second and
    continuous (silent) audio, so it keeps the stream alive."""
    out = tmp_path / "idle.flv"
    feed = livefeed.LiveFeed(str(out), size=(320, 180))
    feed.open()
    for t in TRACKS:
        feed.add_track(t)
    feed_in_time(feed, b"", 5_000_000, 8_000_000)
    feed.close(8_000_000)
    assert feed.stage_frames == 0
    got = decode_flv(out)
    assert 3 <= got["video"] <= 5, got["video"]
    assert max(got["red"]) < 8  # black
    assert got["audio"] > 100 and got["rms"] < 1e-3  # ~3 s of 1024-sample AAC frames, silent


def test_audio_only_after_a_camera_stops_keeps_the_last_picture(tmp_path):
    """A camera that stops (muted, left) leaves its last picture on screen, repeated, while the sound goes
    on."""
    start = 1_000_000
    blob, _, _ = media(1.0, start)
    tone_only = b"".join(
        record(t, p)
        for t, p in livefeed.records_of(media(2.0, start)[0])
        if recfile.parse_rtp(p)[3] == ASSRC and t >= start + 1_000_000
    )
    out = tmp_path / "last.flv"
    feed = livefeed.LiveFeed(str(out), size=(320, 240))
    feed.open()
    for t in TRACKS:
        feed.add_track(t)
    feed_in_time(feed, blob + tone_only, start, start + 3_000_000)
    feed.close(start + 3_000_000)
    got = decode_flv(out)
    assert feed.stage_frames == 30 and got["video"] >= 31  # the camera's second, then repeats
    assert got["red"][-1] == pytest.approx(got["red"][29], abs=3)  # the last picture, not black
    assert got["rms"] > 0.05 and got["end"] >= 2.5


def test_packets_of_unknown_streams_and_garbage_are_ignored(tmp_path):
    out = tmp_path / "junk.flv"
    feed = livefeed.LiveFeed(str(out), size=(320, 240))
    feed.open()
    feed.add_track(TRACKS[0])
    junk = (
        record(1_000_000, b"\x00\x01")
        + record(1_000_100, rtp(96, 1, 0, 999, b"\x90\x80\x01xx", True))
        + record(1_000_200, rtp(96, 2, 0, VSSRC, b"", True))
        + record(1_000_300, rtp(96, 3, 0, VSSRC, b"\x10", True))
    )
    feed.feed(junk + junk[:7])  # and a torn last record
    feed.tick(2_000_000)
    feed.close(2_000_000)
    assert feed.stage_frames == 0 and feed.video_frames >= 1


def test_rtmp_targets_are_checked_and_the_key_never_shown():
    full, shown = check_target("rtmp://a.rtmp.youtube.com/live2", "abcd-efgh-1234")
    assert full == "rtmp://a.rtmp.youtube.com/live2/abcd-efgh-1234"
    assert shown == "rtmp://a.rtmp.youtube.com/live2/…" and "abcd" not in shown
    full, shown = check_target("rtmps://live-api-s.facebook.com:443/rtmp/FB-123-0-Ab", None)
    assert full.endswith("/rtmp/FB-123-0-Ab") and shown == "rtmps://live-api-s.facebook.com:443/rtmp/…"
    for url, key, words in [
        ("", None, "required"),
        (None, None, "required"),
        ("http://example.com/live/x", None, "rtmp://"),
        ("rtmp:///live/x", None, "host"),
        ("rtmp://host", "key", "application"),
        ("rtmp://host/live", None, "application"),
        ("rtmp://host/live", "a key", "without spaces"),
        ("rtmp://host/live?x=1", "k", "query"),
        ("rtmp://host:99999/live", "k", "not a URL"),
        ("rtmp://h/" + "a" * 1100, None, "too long"),
    ]:
        with pytest.raises(ControlError) as e:
            check_target(url, key)
        assert e.value.status == 400 and words in e.value.message, (url, e.value.message)


def test_feed_sizes():
    assert livefeed.parse_size("1280x720") == (1280, 720)
    for bad in ("1280", "1281x720", "32x32", "8000x720", "axb"):
        with pytest.raises(ValueError):
            livefeed.parse_size(bad)
