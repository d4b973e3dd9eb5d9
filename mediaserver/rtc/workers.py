"""Every core of the machine (issue 18 item 1): the media workers of one server, one native thread each with
its own UDP port (and ICE-TCP on the same number) and its own transports, producers and consumers
(:class:`~mediaserver.rtc.engine.MediaEngine` is one worker). A new room goes to the least loaded worker and
keeps it: its transports, producers and consumers are all made there, so a worker's rooms never share a lock,
a cache or a socket with another's. The load is what the workers measure: the CPU time their thread used and
the datagrams they moved in the last second or so, and the rooms placed on them (which have not sent anything
yet) break ties."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mediaserver.rtc.engine import MediaEngine

#: seconds between two readings of the workers' counters that decide where a room goes
LOAD_WINDOW = 1.0
#: counters summed over the workers for the server's totals (the rest are per worker)
_NOT_SUMMED = frozenset({"drops", "worker"})


@dataclass
class _Load:
    at: float = 0.0  # when the counters below were read (time.monotonic)
    cpu_us: int = 0
    packets: int = 0
    cpu_share: float = 0.0  # of a core, over the last window
    packets_per_s: float = 0.0


class MediaWorkers:
    """The server's media workers. ``make(i)`` builds worker ``i`` (its port: the configured one plus
    ``i``, or any free port when that is 0)."""

    def __init__(
        self, count: int, make: Callable[[int], MediaEngine], clock: Callable[[], float] = time.monotonic
    ) -> None:
        if count < 1:
            raise ValueError("at least one media worker")
        self.engines = [make(i) for i in range(count)]
        self.clock = clock
        self.share = (
            500  # a room's subscribers a worker takes before others take the next (room_worker_share)
        )
        self.busy = 0.85  # a worker this busy (share of a core) takes no more of a room's subscribers
        self._load = [_Load() for _ in self.engines]

    def __len__(self) -> int:
        return len(self.engines)

    @property
    def first(self) -> MediaEngine:
        return self.engines[0]

    def start(self, pin: bool = False) -> None:
        """Start every worker; with ``pin``, worker ``i`` runs on the ``i``-th CPU this process may use
        (round the list again when there are more workers than CPUs)."""
        cpus = sorted(os.sched_getaffinity(0))
        for i, e in enumerate(self.engines):
            e.start()
            if pin:
                e.pin(cpus[i % len(cpus)])
        self._measure(force=True)

    def close(self) -> None:
        for e in self.engines:
            e.close()

    # ---- placement ----

    def _measure(self, force: bool = False) -> None:
        now = self.clock()
        for e, ld in zip(self.engines, self._load, strict=True):
            if not force and now - ld.at < LOAD_WINDOW:
                continue
            s = e.stats()
            packets = s["rx_packets"] + s["tx_packets"]
            span = now - ld.at
            if ld.at and span > 0:
                ld.cpu_share = (s["cpu_us"] - ld.cpu_us) / 1e6 / span
                ld.packets_per_s = (packets - ld.packets) / span
            ld.at, ld.cpu_us, ld.packets = now, s["cpu_us"], packets

    def loads(self) -> list[dict[str, float]]:
        """Each worker's load as placement sees it: the share of a core its thread used and the datagrams it
        moved a second, over the last window."""
        self._measure()
        return [
            {"cpu": round(ld.cpu_share, 4), "packets_per_s": round(ld.packets_per_s, 1)} for ld in self._load
        ]

    def pick(self, rooms: list[int] | None = None) -> int:
        """The least loaded worker's index: the lowest CPU share (within a tenth of a core counts as equal:
        an idle worker's clock ticks too), then the fewest thousands of datagrams a second, then the fewest
        rooms (``rooms[i]``: the rooms on worker ``i``, which may not have sent anything yet)."""
        self._measure()
        n = rooms or [0] * len(self.engines)

        def load(i: int) -> tuple[int, float, int, int]:
            ld = self._load[i]
            return round(ld.cpu_share * 10), ld.packets_per_s // 1000, n[i], i

        return min(range(len(self.engines)), key=load)

    def for_subscriber(self, home: MediaEngine, counts: list[int]) -> MediaEngine:
        """The worker a room's new subscriber goes to (issue 18): the room's own (``home``, where its tracks
        are published) while it has fewer than ``share`` of the room's subscribers and is not ``busy``; else
        the least loaded of the others (``counts[i]``: the room's subscribers on worker ``i``), where the
        room's tracks are piped once each."""
        h = self.engines.index(home)
        if len(self.engines) == 1:
            return home
        self._measure()
        if counts[h] < self.share and self._load[h].cpu_share < self.busy:
            return home

        def load(i: int) -> tuple[int, float, int, int]:
            ld = self._load[i]
            return round(ld.cpu_share * 10), ld.packets_per_s // 1000, counts[i], i

        return self.engines[min((i for i in range(len(self.engines)) if i != h), key=load)]

    def index_of(self, engine: MediaEngine) -> int:
        return self.engines.index(engine)

    # ---- counters ----

    def worker_stats(self) -> list[dict[str, Any]]:
        """Each worker's counters (the native core's), with its index and UDP port."""
        out = []
        for i, e in enumerate(self.engines):
            s = e.stats()
            s["worker"] = i
            s["port"] = e.port
            out.append(s)
        return out

    def stats(self) -> dict[str, Any]:
        """The server's totals: every counter summed over the workers (drops by reason too), and
        ``workers``, each worker's own."""
        each = self.worker_stats()
        total: dict[str, Any] = {}
        for s in each:
            for k, v in s.items():
                if k in _NOT_SUMMED or k == "port" or not isinstance(v, int):
                    continue
                total[k] = total.get(k, 0) + v
        total["drops"] = {r: sum(s["drops"][r] for s in each) for r in each[0]["drops"]}
        total["workers"] = each
        return total
