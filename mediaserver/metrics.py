"""Prometheus metrics read from the media core's counters at scrape time (no per-packet Python)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry


class MediaCollector(Collector):
    def __init__(self, stats: Callable[[], dict[str, Any]], rooms: Callable[[], tuple[int, int]]) -> None:
        self._stats = stats
        self._rooms = rooms

    def collect(self) -> Iterator[Any]:
        s = self._stats()
        pk = CounterMetricFamily(
            "mediaserver_packets", "Datagrams through the media worker", labels=["direction"]
        )
        pk.add_metric(["in"], s["rx_packets"])
        pk.add_metric(["out"], s["tx_packets"])
        yield pk
        by = CounterMetricFamily("mediaserver_bytes", "Bytes through the media worker", labels=["direction"])
        by.add_metric(["in"], s["rx_bytes"])
        by.add_metric(["out"], s["tx_bytes"])
        yield by
        kinds = CounterMetricFamily(
            "mediaserver_protocol_packets", "Received datagrams by protocol", labels=["protocol"]
        )
        for proto in ("rtp", "rtcp", "stun", "dtls"):
            kinds.add_metric([proto], s[f"{proto}_rx"])
        yield kinds
        # issue 18: what the load tester (bench/loadtest.py) compares its subscribers' receive counters with
        yield CounterMetricFamily(
            "mediaserver_rtp_packets_sent",
            "RTP packets sent to subscribers (media, retransmissions and bandwidth probes)",
            value=s["rtp_tx"],
        )
        drops = CounterMetricFamily(
            "mediaserver_dropped_packets", "Datagrams dropped, by reason", labels=["reason"]
        )
        for reason, n in s["drops"].items():
            drops.add_metric([reason], n)
        yield drops
        for name, key, doc in (
            ("mediaserver_nacks_received", "nacks_rx", "NACK packets received from subscribers"),
            ("mediaserver_nacks_sent", "nacks_tx", "NACK packets sent to publishers"),
            ("mediaserver_retransmissions", "rtx_tx", "Packets retransmitted to subscribers"),
            ("mediaserver_plis_received", "plis_rx", "PLI/FIR received from subscribers"),
            ("mediaserver_plis_sent", "plis_tx", "PLI sent to publishers"),
            (
                "mediaserver_overloads",
                "overloads",
                "Times a media worker found its socket still full after a drain",
            ),
            (
                "mediaserver_retransmissions_shed",
                "rtx_shed",
                "Retransmissions left out while a worker was saturated",
            ),
        ):
            yield CounterMetricFamily(name, doc, value=s[key])
        refused = CounterMetricFamily(
            "mediaserver_retransmissions_refused",
            "Retransmissions subscribers asked for that their NACK budget refused, by reason",
            labels=["reason"],
        )
        for reason in ("rtcp", "repeat", "rate"):
            refused.add_metric([reason], s[f"rtx_refused_{reason}"])
        yield refused
        for name, key, doc in (
            ("mediaserver_transports", "transports", "Open WebRTC transports"),
            ("mediaserver_producers", "producers", "Published streams"),
            ("mediaserver_consumers", "consumers", "Forwarded streams"),
            ("mediaserver_ice_tcp_connections", "tcp_conns", "Open ICE-TCP connections"),
        ):
            yield GaugeMetricFamily(name, doc, value=s[key])
        rooms, participants = self._rooms()
        yield GaugeMetricFamily("mediaserver_rooms", "Rooms with participants", value=rooms)
        yield GaugeMetricFamily("mediaserver_participants", "Participants in rooms", value=participants)
        yield from self._workers(s.get("workers") or [])

    @staticmethod
    def _workers(each: list[dict[str, Any]]) -> Iterator[Any]:
        """The same counters by media worker (issue 18): the totals above are their sums."""
        pk = CounterMetricFamily(
            "mediaserver_worker_packets", "Datagrams through one media worker", labels=["worker", "direction"]
        )
        by = CounterMetricFamily(
            "mediaserver_worker_bytes", "Bytes through one media worker", labels=["worker", "direction"]
        )
        cpu = CounterMetricFamily(
            "mediaserver_worker_cpu_seconds", "CPU time of one media worker's thread", labels=["worker"]
        )
        gauges = {
            key: GaugeMetricFamily(
                f"mediaserver_worker_{key}", f"{doc} on one media worker", labels=["worker"]
            )
            for key, doc in (
                ("transports", "Open WebRTC transports"),
                ("producers", "Published streams"),
                ("consumers", "Forwarded streams"),
            )
        }
        port = GaugeMetricFamily(
            "mediaserver_worker_port", "The UDP port of one media worker", labels=["worker"]
        )
        piped = CounterMetricFamily(
            "mediaserver_worker_pipe_packets",
            "Packets of a room's tracks handed between media workers (out: sent on, in: taken in, dropped: "
            "a full ring)",
            labels=["worker", "direction"],
        )
        pipes = GaugeMetricFamily(
            "mediaserver_worker_pipes", "Tracks of other workers this worker receives", labels=["worker"]
        )
        for w in each:
            i = str(w["worker"])
            pk.add_metric([i, "in"], w["rx_packets"])
            pk.add_metric([i, "out"], w["tx_packets"])
            by.add_metric([i, "in"], w["rx_bytes"])
            by.add_metric([i, "out"], w["tx_bytes"])
            cpu.add_metric([i], w["cpu_us"] / 1e6)
            for key, g in gauges.items():
                g.add_metric([i], w[key])
            port.add_metric([i], w["port"])
            piped.add_metric([i, "out"], w["pipe_tx"])
            piped.add_metric([i, "in"], w["pipe_rx"])
            piped.add_metric([i, "dropped"], w["pipe_dropped"])
            pipes.add_metric([i], w["pipes_in"])
        yield from (pk, by, cpu, *gauges.values(), port, piped, pipes)


class LinkCollector(Collector):
    """The cluster's media links (issue 19): one series per link end, labelled with the other node, the track
    and this node's side (edge: it receives; owner: it relays). Read from the media core at scrape time."""

    def __init__(self, links: Callable[[], list[dict[str, Any]]]) -> None:
        self._links = links

    def collect(self) -> Iterator[Any]:
        labels = ["peer", "track", "side"]
        packets = CounterMetricFamily(
            "mediaserver_cluster_link_packets", "RTP packets over a link between nodes", labels=labels
        )
        octets = CounterMetricFamily(
            "mediaserver_cluster_link_bytes", "RTP bytes over a link between nodes", labels=labels
        )
        lost = GaugeMetricFamily(
            "mediaserver_cluster_link_packets_lost",
            "Packets an edge still misses after NACK/RTX repair (RFC 3550 cumulative loss)",
            labels=labels,
        )
        jitter = GaugeMetricFamily(
            "mediaserver_cluster_link_jitter",
            "Interarrival jitter at the edge (RTP clock units)",
            labels=labels,
        )
        nacks = CounterMetricFamily(
            "mediaserver_cluster_link_nacks",
            "NACK packets over a link (edge: sent; owner: received)",
            labels=labels,
        )
        rtx = CounterMetricFamily(
            "mediaserver_cluster_link_retransmissions",
            "Packets the owner retransmitted to an edge",
            labels=labels,
        )
        rtt = GaugeMetricFamily(
            "mediaserver_cluster_link_rtt_seconds",
            "Round trip to the edge, from its receiver reports",
            labels=labels,
        )
        for row in self._links():
            lv = [str(row["peer"]), str(row["track"]), str(row["side"])]
            packets.add_metric(lv, row["packets"])
            octets.add_metric(lv, row["bytes"])
            nacks.add_metric(lv, row["nacks"])
            if row["side"] == "edge":
                lost.add_metric(lv, row["lost"])
                jitter.add_metric(lv, row["jitter"])
            else:
                rtx.add_metric(lv, row["rtx"])
                if row["rtt_ms"] is not None:
                    rtt.add_metric(lv, row["rtt_ms"] / 1000)
        yield from (packets, octets, lost, jitter, nacks, rtx, rtt)


class InteractionCollector(Collector):
    """The rooms' interaction (issue 16): the fan-out's frames and writes, the sockets it cut off for not
    reading, and the journal's records lost (a full queue, a failed batch)."""

    def __init__(self, counters: Callable[[], dict[str, int]]) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Any]:
        c = self._counters()
        for name, key, doc in (
            ("mediaserver_interaction_frames", "frames", "Interaction frames serialised"),
            ("mediaserver_interaction_writes", "writes", "Interaction frames written to sockets"),
            ("mediaserver_slow_clients_dropped", "dropped", "WebSockets closed for leaving too much unread"),
            ("mediaserver_journal_dropped", "journal_dropped", "Interaction records dropped by a full queue"),
            ("mediaserver_journal_failed", "journal_failed", "Interaction records of failed batches"),
        ):
            yield CounterMetricFamily(name, doc, value=c[key])


def make_registry(
    stats: Callable[[], dict[str, Any]],
    rooms: Callable[[], tuple[int, int]],
    interaction: Callable[[], dict[str, int]] | None = None,
    links: Callable[[], list[dict[str, Any]]] | None = None,
) -> CollectorRegistry:
    reg = CollectorRegistry()
    reg.register(MediaCollector(stats, rooms))
    if interaction is not None:
        reg.register(InteractionCollector(interaction))
    if links is not None:
        reg.register(LinkCollector(links))
    return reg
