"""Bandwidth scenarios of issue 5 with real peers: headless Chromium publishes simulcast over WHIP with its
fake camera (1280x720, 30 fps, three rid layers), and a subscriber (Chromium over WHEP, or aiortc) receives
through an impaired path: a rate cap with a drop-tail queue, loss, delay (tests/e2e/lossy_path.py; this
kernel has no netem).

The server runs in this process and announces 127.0.0.2 in its candidates, where the relay listens on the
server's own port number; every peer therefore goes through the relay, and only the subscriber's downlink
is impaired. Selenium calls run in threads, so the relay and the server's signaling keep their pace.

Used by tests/e2e/test_bandwidth.py (pass/fail) and bench/bwe.py (figures to bench/results/bwe.json).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.lossy_path import LossyRelay

RELAY_IP = "127.0.0.2"
ROOM = "bwe"

# The end of both pages' script: a non-trickle offer (ICE gathered), POSTed as WHIP/WHEP, the answer applied.
_EXCHANGE_JS = """
  await new Promise((ok) => { setTimeout(ok, 1500);
      pc.onicegatheringstatechange = () => pc.iceGatheringState === 'complete' && ok(); });
  const r = await fetch(url, {method: 'POST', body: pc.localDescription.sdp,
      headers: {'Content-Type': 'application/sdp', 'Authorization': 'Bearer ' + token}});
  const answer = await r.text();
  if (r.status !== 201) throw new Error(r.status + ' ' + answer);
  await pc.setRemoteDescription({type: 'answer', sdp: answer});
  window.pc = pc;
  window.answer = answer;
  done('ok');
})().catch((e) => done('error: ' + e));
"""

PUBLISH_JS = (
    """
const [url, token] = arguments; const done = arguments[arguments.length - 1];
(async () => {
  const stream = await navigator.mediaDevices.getUserMedia(
      {audio: true, video: {width: 1280, height: 720, frameRate: 30}});
  const pc = new RTCPeerConnection();
  pc.addTransceiver(stream.getAudioTracks()[0], {direction: 'sendonly'});
  pc.addTransceiver(stream.getVideoTracks()[0], {direction: 'sendonly', sendEncodings: [
      {rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000},
      {rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000},
      {rid: 'f', maxBitrate: 1500000}]});
  await pc.setLocalDescription(await pc.createOffer());
"""
    + _EXCHANGE_JS
)

VIEW_JS = (
    """
const [url, token] = arguments; const done = arguments[arguments.length - 1];
(async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver('audio', {direction: 'recvonly'});
  pc.addTransceiver('video', {direction: 'recvonly'});
  const media = new MediaStream();
  pc.ontrack = (e) => {
    media.addTrack(e.track);
    let v = document.querySelector('video');
    if (!v) { v = document.createElement('video'); v.muted = true; v.autoplay = true; v.playsInline = true;
              document.body.appendChild(v); }
    v.srcObject = media; v.play().catch(() => {});
  };
  const offer = await pc.createOffer();
  // receiver reference time reports (RTCP XR): a receive-only peer learns its RTT from the DLRR answers
  offer.sdp = offer.sdp.replace(/a=rtcp-fb:(\\d+) nack pli\\r\\n/g,
                                'a=rtcp-fb:$1 nack pli\\r\\na=rtcp-fb:$1 rrtr\\r\\n');
  await pc.setLocalDescription(offer);
"""
    + _EXCHANGE_JS
)

STATS_JS = """
const done = arguments[arguments.length - 1];
if (!window.pc) { done(null); return; }
window.pc.getStats().then((rep) => {
  const out = {t: performance.now() / 1000, video: null, audio: null};
  rep.forEach((s) => {
    if (s.type === 'inbound-rtp') out[s.kind] = {
      bytes: s.bytesReceived || 0, packets: s.packetsReceived || 0, lost: s.packetsLost || 0,
      frames: s.framesDecoded || 0, width: s.frameWidth || 0, height: s.frameHeight || 0,
      fps: s.framesPerSecond || 0, freezes: s.freezeCount || 0, freezeTime: s.totalFreezesDuration || 0,
      concealed: s.concealedSamples || 0, samples: s.totalSamplesReceived || 0};
  });
  done(out);
}, (e) => done(null));
"""


PUB_STATS_JS = """
const done = arguments[arguments.length - 1];
if (!window.pc) { done(null); return; }
window.pc.getStats().then((rep) => {
  const out = {};
  rep.forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') out[s.rid || '-'] = {
      frames: s.framesSent || 0, width: s.frameWidth || 0, fps: s.framesPerSecond || 0,
      limit: s.qualityLimitationReason || '', bytes: s.bytesSent || 0};
  });
  done(out);
}, (e) => done(null));
"""


def free_udp_port() -> int:
    """A UDP port free on both 127.0.0.1 (the server) and 127.0.0.2 (the relay)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                    b.bind((RELAY_IP, port))
                    return port
            except OSError:
                continue
    raise RuntimeError("no free UDP port pair")


@dataclass
class Sample:
    t: float
    video: dict[str, Any] | None
    audio: dict[str, Any] | None


@dataclass
class Trace:
    """The subscriber's receive statistics over time, sampled every `interval` seconds."""

    samples: list[Sample] = field(default_factory=list)

    def window(self, since: float, until: float | None = None) -> list[Sample]:
        return [s for s in self.samples if s.t >= since and (until is None or s.t <= until)]

    def first(self, pred, since: float) -> float | None:
        """Seconds after `since` until pred(sample) first holds."""
        for s in self.window(since):
            if pred(s):
                return s.t - since
        return None

    def held(self, pred, seconds: float) -> bool:
        """pred held for every sample of the last `seconds` (and the samples span that long)."""
        if not self.samples or self.samples[-1].t - self.samples[0].t < seconds:
            return False
        recent = self.window(self.samples[-1].t - seconds)
        return bool(recent) and all(pred(s) for s in recent)

    def max_rate_kbps(self, since: float, until: float | None = None, span: float = 2.0) -> float:
        """Highest received rate (audio + video payload bytes) over any `span` seconds window."""
        ws = [s for s in self.window(since, until) if s.video and s.audio]
        best = 0.0
        for i, a in enumerate(ws):
            for b in ws[i + 1 :]:
                if b.t - a.t >= span:
                    got = (b.video["bytes"] + b.audio["bytes"] - a.video["bytes"] - a.audio["bytes"]) * 8
                    best = max(best, got / (b.t - a.t) / 1000)
                    break
        return best

    def freeze_time(self, since: float, until: float | None = None) -> float:
        ws = [s for s in self.window(since, until) if s.video]
        return ws[-1].video["freezeTime"] - ws[0].video["freezeTime"] if len(ws) > 1 else 0.0

    def longest_stall(self, since: float, until: float | None = None) -> float:
        """The longest time without a newly decoded frame (resolution of the sampling interval)."""
        ws = [s for s in self.window(since, until) if s.video]
        longest, last_t, last_frames = 0.0, None, None
        for s in ws:
            if last_frames is None or s.video["frames"] > last_frames:
                last_t, last_frames = s.t, s.video["frames"]
            elif last_t is not None:
                longest = max(longest, s.t - last_t)
        return longest

    def fps(self, since: float, until: float | None = None) -> float:
        ws = [s for s in self.window(since, until) if s.video]
        if len(ws) < 2:
            return 0.0
        return (ws[-1].video["frames"] - ws[0].video["frames"]) / (ws[-1].t - ws[0].t)

    def audio_gap(self, since: float, until: float | None = None) -> float:
        """Share of audio samples concealed (played as loss concealment) in the window."""
        ws = [s for s in self.window(since, until) if s.audio]
        if len(ws) < 2:
            return 1.0
        samples = ws[-1].audio["samples"] - ws[0].audio["samples"]
        return (ws[-1].audio["concealed"] - ws[0].audio["concealed"]) / samples if samples else 1.0


class Scenario:
    """Server, relay, a Chromium publisher and a Chromium subscriber; the subscriber's path is impaired."""

    def __init__(self, hd: bool = True, subscriber: str = "chromium") -> None:
        self.hd, self.subscriber = hd, subscriber
        self.trace = Trace()
        self._t0 = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._t0

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Scenario]:
        from aiohttp import web

        from mediaserver.app import build
        from mediaserver.config import Settings
        from mediaserver.rtc import tokens
        from signaling import keys
        from tests.e2e.browser import chromium

        port = free_udp_port()
        settings = Settings(
            http_port=0,
            rtc_port=port,
            announced_ip=RELAY_IP,
            ice_tcp=False,
            workers="1",  # one worker on the relayed port
            secret="bwe-secret-0123456789abcdefghijklmnopq",
            api_key="bwe-key-0123456789abcdefghij",
        ).finish()
        app = build(settings)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        self.media, self.rooms = app[keys.MEDIA].first, app[keys.ROOMS]
        self.relay = await LossyRelay(("127.0.0.1", port), 0.0, drop_down=True, bind=(RELAY_IP, port)).start()
        self.relay.targets = set()  # nobody impaired until the subscriber comes
        self._tok = lambda role, name: tokens.issue(
            "bwe-secret-0123456789abcdefghijklmnopq", ROOM, role, name, name
        )
        stack = contextlib.ExitStack()
        try:
            self.pub = await asyncio.to_thread(stack.enter_context, chromium())
            if self.subscriber == "chromium":
                self.sub = await asyncio.to_thread(stack.enter_context, chromium())
            yield self
        finally:
            await self.close_aiortc()
            await asyncio.to_thread(stack.close)
            self.relay.close()
            await runner.cleanup()

    async def _run(self, driver, js: str, *args) -> Any:
        return await asyncio.to_thread(driver.execute_async_script, js, *args)

    async def publish(self) -> None:
        await asyncio.to_thread(self.pub.get, self.base + "/healthz")
        res = await self._run(self.pub, PUBLISH_JS, f"{self.base}/whip/{ROOM}", self._tok("presenter", "pub"))
        assert res == "ok", res
        if not self.hd:
            self.rooms.rooms[ROOM].settings.hd = False

    async def view(self) -> None:
        """The subscriber joins; its downlink is the impaired one (the relay learns its address)."""
        known = set(self.relay.ups)
        await asyncio.to_thread(self.sub.get, self.base + "/healthz")
        res = await self._run(self.sub, VIEW_JS, f"{self.base}/whep/{ROOM}", self._tok("attendee", "sub"))
        assert res == "ok", res
        answer = await asyncio.to_thread(self.sub.execute_script, "return window.answer;")
        twcc = [
            line.split()[0].split(":")[1]
            for line in answer.splitlines()
            if line.startswith("a=extmap:") and "transport-wide-cc" in line
        ]
        self.relay.trace_ext = int(twcc[0].split("/")[0]) if twcc else 0
        for _ in range(100):
            new = set(self.relay.ups) - known
            if new:
                self.relay.targets = new
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the subscriber never reached the relay")

    async def view_aiortc(self) -> None:
        """The subscriber is aiortc over WHEP instead (REMB only, no transport-cc): the baseline."""
        import aiohttp
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        from tests.conftest import loopback_only_ice

        loopback_only_ice()
        known = set(self.relay.ups)
        pc = self.aiortc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("audio", direction="recvonly")
        pc.addTransceiver("video", direction="recvonly")
        self.aio_frames: list[tuple[float, int]] = []  # (time, width) of every decoded video frame
        self.aio_audio = 0
        self._aio_tasks: list[asyncio.Task] = []

        async def consume(track) -> None:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.aio_frames.append((self.now(), frame.width))
                else:
                    self.aio_audio += frame.samples

        pc.on("track", lambda track: self._aio_tasks.append(asyncio.ensure_future(consume(track))))
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(
                f"{self.base}/whep/{ROOM}",
                data=pc.localDescription.sdp,
                headers={
                    "Content-Type": "application/sdp",
                    "Authorization": "Bearer " + self._tok("attendee", "aio"),
                },
            ) as r:
                answer = await r.text()
                assert r.status == 201, (r.status, answer)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        for _ in range(100):
            if set(self.relay.ups) - known and pc.iceConnectionState == "completed":
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # aioice may check from more than one local address
        self.relay.targets = set(self.relay.ups) - known
        self.sample = self._aio_sample  # type: ignore[method-assign]

    async def _aio_sample(self) -> Sample:
        """An aiortc sample in the shape of the Chromium one (frames, width; freezes as Chrome counts them:
        a gap over max(3 x the mean frame interval, mean + 150 ms))."""
        frames = self.aio_frames
        freezes, freeze_time = 0, 0.0
        for i in range(1, len(frames)):
            gap = frames[i][0] - frames[i - 1][0]
            lo = max(0, i - 30)
            mean = (frames[i - 1][0] - frames[lo][0]) / max(1, i - 1 - lo) if i - 1 > lo else 1 / 30
            if gap > max(3 * mean, mean + 0.150):
                freezes += 1
                freeze_time += gap
        video = {
            "frames": len(frames),
            "width": frames[-1][1] if frames else 0,
            "bytes": 0,
            "freezes": freezes,
            "freezeTime": freeze_time,
        }
        out = Sample(self.now(), video, {"samples": self.aio_audio, "concealed": 0, "bytes": 0, "packets": 0})
        self.trace.samples.append(out)
        return out

    async def close_aiortc(self) -> None:
        for t in getattr(self, "_aio_tasks", []):
            t.cancel()
        if getattr(self, "aiortc", None) is not None:
            await self.aiortc.close()

    async def sample(self) -> Sample | None:
        s = await self._run(self.sub, STATS_JS)
        if not s:
            return None
        out = Sample(self.now(), s.get("video"), s.get("audio"))
        self.trace.samples.append(out)
        return out

    async def publisher_stats(self) -> dict[str, Any]:
        """Per rid: frames sent, width, fps, quality limitation reason, bytes (the publisher's own view)."""
        return await self._run(self.pub, PUB_STATS_JS) or {}

    async def run_for(self, seconds: float, interval: float = 0.25) -> None:
        end = self.now() + seconds
        while self.now() < end:
            await self.sample()
            await asyncio.sleep(interval)

    async def until(self, pred, timeout: float, interval: float = 0.25) -> float | None:
        """Sample until pred(sample) holds; seconds it took, or None on timeout."""
        start = self.now()
        while self.now() - start < timeout:
            s = await self.sample()
            if s is not None and pred(s):
                return self.now() - start
            await asyncio.sleep(interval)
        return None

    def server_view(self) -> dict[str, Any]:
        """The server's side: the subscriber's estimate and the layer it gets."""
        room = self.rooms.rooms.get(ROOM)
        out: dict[str, Any] = {}
        if room is None:
            return out
        for p in room.participants.values():
            if p.kind != "whep" or p.viewer_transport is None:
                continue
            ts = self.media.transport_stats(p.viewer_transport.id)
            out["bwe_kbps"] = ts["bwe_bps"] / 1000
            out["wanted_kbps"] = ts["wanted_bps"] / 1000
            for cid in p.consumers.values():
                cs = self.media.consumer_stats(cid)
                if cs["nlayers"] > 1:
                    out["layer"], out["target"] = cs["cur_layer"], cs["target_layer"]
        return out


def top(s: Sample) -> bool:
    return bool(s.video) and s.video["width"] >= 1280


def below_top(s: Sample) -> bool:
    return bool(s.video) and 0 < s.video["width"] < 1280
