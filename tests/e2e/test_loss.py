"""NACK/RTX recovery over a path that drops 5% of media datagrams (the issue's loss scenario).

Downstream: the SFU answers the subscriber's NACKs from its retransmission cache, as RTX.
Upstream: the SFU NACKs the publisher's lost packets and forwards the RTX it gets back.
The subscriber counts every distinct video packet it ends up with (original or repaired).
"""

from __future__ import annotations

import asyncio

import aiohttp
import av
import numpy as np
import pytest
from aiortc import RTCSessionDescription, rtcrtpreceiver
from aiortc.mediastreams import AudioStreamTrack

from tests.conftest import token, wait_for
from tests.e2e.lossy_path import LossyRelay, via
from tests.e2e.peers import CountingVideo, Signal, count_frames, pc

# media or timing bars (frames decoded, sync, loss, bitrates): CI runs this file with no other test beside it
pytestmark = pytest.mark.alone


class NoisyVideo(CountingVideo):
    """Frames with a noisy band so the encoder sends several packets per frame."""

    async def recv(self):
        frame = await super().recv()
        img = frame.to_ndarray(format="rgb24")
        img[:120] = np.random.default_rng(self.sent).integers(0, 255, (120, 320, 3), dtype=np.uint8)
        out = av.VideoFrame.from_ndarray(img, format="rgb24")
        out.pts, out.time_base = frame.pts, frame.time_base
        return out


class SeqRecorder:
    """Wraps aiortc's NackGenerator.add, which sees every media packet after RTX unwrapping."""

    def __init__(self) -> None:
        self.seen: dict[int, set[int]] = {}
        self._orig = rtcrtpreceiver.NackGenerator.add

    def __enter__(self) -> SeqRecorder:
        rec = self

        def add(gen, packet):
            rec.seen.setdefault(packet.ssrc, set()).add(packet.sequence_number)
            return rec._orig(gen, packet)

        rtcrtpreceiver.NackGenerator.add = add
        return self

    def __exit__(self, *exc) -> None:
        rtcrtpreceiver.NackGenerator.add = self._orig


def recovered(seqs: set[int], tail: int = 30) -> tuple[float, int]:
    """Share of the sequence range (minus a tail still in flight) that arrived; handles one wrap."""
    ordered = sorted(seqs)
    if ordered[-1] - ordered[0] > 32768:  # wrapped: shift the low half up
        ordered = sorted(s + 65536 if s < 32768 else s for s in seqs)
    lo, hi = ordered[0], ordered[-1] - tail
    span = hi - lo + 1
    got = sum(1 for s in ordered if s <= hi)
    return got / span, span


@pytest.mark.timeout(120)
@pytest.mark.parametrize("direction", ["down", "up"])
async def test_nack_rtx_recovers_99_percent_at_5_percent_loss(server, direction):
    base = server["base_url"]
    media = server["media"]
    relay = await LossyRelay(("127.0.0.1", media.port), 0.05, drop_down=(direction == "down")).start()
    try:
        with SeqRecorder() as rec:
            async with aiohttp.ClientSession() as session:
                ws = await session.ws_connect(base.replace("http", "ws") + "/ws")
                psig = Signal(ws)
                assert "result" in await psig.call("join", token=token("loss", "presenter", "pub"))
                pconn = pc()
                video = NoisyVideo()
                pconn.addTransceiver(video, direction="sendonly")
                pconn.addTransceiver(AudioStreamTrack(), direction="sendonly")
                await pconn.setLocalDescription(await pconn.createOffer())
                r = await psig.call("publish", sdp=pconn.localDescription.sdp)
                answer = r["result"]["sdp"]
                if direction == "up":
                    answer = via(answer, media.port, relay.port)
                await pconn.setRemoteDescription(RTCSessionDescription(answer, "answer"))

                ws2 = await session.ws_connect(base.replace("http", "ws") + "/ws")
                ssig = Signal(ws2)
                assert "result" in await ssig.call("join", token=token("loss", "attendee", "sub"))
                sconn = pc()
                frames, tasks = count_frames(sconn)

                r = await ssig.call("subscribe")
                offer = r["result"]["sdp"]
                if direction == "down":
                    offer = via(offer, media.port, relay.port)
                await sconn.setRemoteDescription(RTCSessionDescription(offer, "offer"))
                await sconn.setLocalDescription(await sconn.createAnswer())
                assert "result" in await ssig.call("answer", sdp=sconn.localDescription.sdp)

                assert await wait_for(lambda: frames["video"] > 10, 20), frames
                await asyncio.sleep(10)
                video_ssrcs = [s for s, seqs in rec.seen.items() if len(seqs) > 200]
                assert video_ssrcs, {s: len(v) for s, v in rec.seen.items()}
                ssrc = max(video_ssrcs, key=lambda s: len(rec.seen[s]))
                share, span = recovered(rec.seen[ssrc])
                st = media.stats()
                print(
                    f"{direction}: relay dropped {relay.dropped} of {relay.dropped + relay.passed}; "
                    f"recovered {share:.4f} of {span} video packets; nacks_rx={st['nacks_rx']} "
                    f"nacks_tx={st['nacks_tx']} rtx_tx={st['rtx_tx']}"
                )
                assert relay.dropped > 0.03 * (relay.dropped + relay.passed)
                assert span > 300
                assert share >= 0.99, (share, span)
                if direction == "down":
                    assert st["nacks_rx"] > 0 and st["rtx_tx"] > 0
                else:
                    assert st["nacks_tx"] > 0
                for t in tasks:
                    t.cancel()
                await sconn.close()
                await pconn.close()
    finally:
        relay.close()
