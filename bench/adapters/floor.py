"""The C floor (bench/floor) as a side-by-side server: raw SRTP peers, pre-shared keys, one room.

The floor has no signaling: a peer is a load-generator raw peer (``lg.connect_raw``) whose hello
datagram ``FLOOR <name> <send|recv>`` registers its address, with keys derived from the adapter's
seed (:func:`bench.floor.keys`). It has no simulcast (``simulcast = False``: a publisher sends audio
and only its top video layer) and no rooms: every publisher reaches every subscriber, whatever
``room`` and ``publishers`` say. It has no packet cache either, so NACKs and PLIs go unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import secrets
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from bench.adapters.base import Adapter, Media, Peer
from bench.floor import MODES, build, keys, out_ssrc

if TYPE_CHECKING:
    from bench.loadgen import Loadgen

AUDIO_PT = 111  # Opus
VIDEO_PT = 96  # VP8


class FloorAdapter(Adapter):
    """Drive ``bench/floor/floor.c``.

    ``clips`` maps a media kind to a clip id the harness loaded into its ``Loadgen``
    (``lg.load_clip``): ``"audio"`` for Opus and the video rids (``"q"``, ``"h"``, ``"f"``) for VP8;
    only ``"audio"`` and the top layer of each publisher's ``Media.video_layers`` are used, so e.g.
    ``FloorAdapter({"audio": a, "f": f})`` is enough for the default ``Media()``.

    ``mode`` is the floor's send path (``sendto``, ``sendmmsg``, ``gso``); the adapter is named
    ``floor`` for the default ``sendmmsg`` and ``floor-<mode>`` otherwise. ``seed`` keys every SRTP
    direction (random by default).

    Peers: a publisher's ``ssrcs`` are its source SSRCs (``{"audio": .., <top rid>: ..}``); a
    subscriber's ``extra["expected_ssrcs"]`` maps every SSRC it should receive to
    ``(publisher name, kind)`` for the publishers signalled so far (:func:`bench.floor.out_ssrc`).
    """

    simulcast = False

    def __init__(
        self,
        clips: dict[str, int],
        *,
        mode: str = "sendmmsg",
        seed: str | None = None,
        ip: str = "127.0.0.1",
        binary: Path | None = None,
    ) -> None:
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.clips = dict(clips)
        self.mode = mode
        self.name = "floor" if mode == "sendmmsg" else f"floor-{mode}"
        self.seed = seed if seed is not None else secrets.token_hex(8)
        self.ip = ip
        self.binary = binary
        self.port = 0
        self.stats_path: Path | None = None
        self.final_stats: dict | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stderr = None
        self._ctl: socket.socket | None = None
        self._wire_names: set[str] = set()
        self._stream_ids = itertools.count(1)
        self._ssrcs = itertools.count(0x10000000 + secrets.randbelow(0x1000000) * 16)
        self._publishers: list[Peer] = []

    # ---- process -------------------------------------------------------------------------------

    async def start(self, core: int, workdir: Path) -> None:
        binary = self.binary or await asyncio.to_thread(build)
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.stats_path = workdir / f"{self.name}-stats.json"
        self.stats_path.unlink(missing_ok=True)
        self._stderr = open(workdir / f"{self.name}.log", "wb")
        self._proc = await asyncio.create_subprocess_exec(
            "taskset",
            "-c",
            str(core),
            str(binary),
            "--ip",
            self.ip,
            "--port",
            "0",
            "--seed",
            str(self.seed),
            "--mode",
            self.mode,
            "--stats",
            str(self.stats_path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self._stderr,
        )
        self.pids = [self._proc.pid]  # taskset execs the floor: same pid
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            stats = self._read_stats()
            if stats is not None:
                break
            if self._proc.returncode is not None or loop.time() > deadline:
                await self.stop()
                raise RuntimeError(f"the floor did not start (see {workdir / f'{self.name}.log'})")
            await asyncio.sleep(0.02)
        self.port = int(stats["port"])
        self._ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._ctl.bind((self.ip, 0))

    async def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(proc.wait(), 5)
                except asyncio.TimeoutError:
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
                    await proc.wait()
            self.final_stats = self._read_stats()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        self._wire_names.clear()
        self._publishers.clear()

    def _read_stats(self) -> dict | None:
        if self.stats_path is None:
            return None
        try:
            return json.loads(self.stats_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def egress_counters(self) -> dict[str, float] | None:
        """The floor's stats file as floats (tx_packets, tx_bytes, tx_syscalls, rx_*, dropped_*, rtcp_rx,
        peers, cpu_us, uptime_s ...); the floor rewrites it once a second and on exit."""
        stats = self._read_stats() if self._proc is not None else self.final_stats
        if stats is None:
            return None
        return {
            k: float(v)
            for k, v in stats.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("port", "pid")
        }

    # ---- peers ---------------------------------------------------------------------------------

    def _wire_name(self, name: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_.:-]", "_", name)[:56] or "peer"
        wire, n = base, 1
        while wire in self._wire_names:
            n += 1
            wire = f"{base}~{n}"
        self._wire_names.add(wire)
        return wire

    def _open(self, lg: Loadgen, name: str, direction: str) -> tuple[int, str]:
        if self._proc is None:
            raise RuntimeError("the floor is not running")
        wire = self._wire_name(name)
        p = lg.open_peer(secrets.token_hex(4), secrets.token_hex(12))  # no ICE: credentials unused
        lg.connect_raw(
            p,
            remote_ip=self.ip,
            remote_port=self.port,
            tx_key=keys(self.seed, f"{wire}-up"),
            rx_key=keys(self.seed, f"{wire}-down"),
            hello=f"FLOOR {wire} {direction}".encode(),
        )
        return p, wire

    async def publish(self, lg: Loadgen, room: str, name: str, media: Media) -> Peer:
        p, wire = self._open(lg, name, "send")
        ssrcs: dict[str, int] = {}
        sources: list[int] = []
        stream_ids: dict[str, int] = {}
        kinds = (["audio"] if media.audio else []) + list(media.video_layers[-1:])
        for kind in kinds:
            if kind not in self.clips:
                raise KeyError(f"FloorAdapter: no clip for {kind!r} (clips: {sorted(self.clips)})")
            ssrc = next(self._ssrcs)
            sid = next(self._stream_ids)
            sources.append(
                lg.add_source(
                    p,
                    clip=self.clips[kind],
                    ssrc=ssrc,
                    pt=AUDIO_PT if kind == "audio" else VIDEO_PT,
                    stream_id=sid,
                )
            )
            ssrcs[kind] = ssrc
            stream_ids[kind] = sid
        peer = Peer(
            name=name,
            lg_peer=p,
            role="publisher",
            ssrcs=ssrcs,
            extra={"lg": lg, "wire": wire, "sources": sources, "stream_ids": stream_ids},
        )
        self._publishers.append(peer)
        return peer

    async def subscribe(self, lg: Loadgen, room: str, name: str, publishers: list[Peer]) -> Peer:
        p, wire = self._open(lg, name, "recv")
        expected = {
            out_ssrc(self.seed, wire, pub.extra["wire"], ssrc): (pub.name, kind)
            for pub in self._publishers
            for kind, ssrc in pub.ssrcs.items()
        }
        return Peer(
            name=name,
            lg_peer=p,
            role="subscriber",
            extra={"lg": lg, "wire": wire, "expected_ssrcs": expected},
        )

    async def leave(self, peer: Peer) -> None:
        wire = peer.extra.get("wire")
        if wire is None:
            return  # already left
        if self._ctl is not None:  # unregister first, so the floor stops sending to a closed port
            with contextlib.suppress(OSError):
                self._ctl.sendto(f"FLOOR-BYE {wire}".encode(), (self.ip, self.port))
        lg = peer.extra["lg"]
        lg.close_peer(peer.lg_peer)
        self._wire_names.discard(wire)
        peer.extra["wire"] = None
        self._publishers = [p for p in self._publishers if p is not peer]
