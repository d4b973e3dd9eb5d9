"""Composition root: settings -> media engine -> rooms -> signaling."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import os
import threading
from pathlib import Path

from aiohttp import web

from mediaserver.billing import payments
from mediaserver.cluster.node import ClusterNode, Single
from mediaserver.cluster.rooms import ClusterRooms
from mediaserver.config import Settings, keep_generated_keys, worker_count
from mediaserver.events import (
    attendance,
    board_history,
    board_steps,
    chat_history,
    entry,
    qa_history,
    stage_history,
)
from mediaserver.events.client_profile import Countries
from mediaserver.events.clock import EventClock, TimelineClock
from mediaserver.events.lifecycle import RoomControl, resume_live
from mediaserver.interaction import hooks as interaction_hooks
from mediaserver.interaction import player_store, polls_store
from mediaserver.interaction.journal import Journal
from mediaserver.library import convert
from mediaserver.library.roomfiles import RoomFiles
from mediaserver.library.storage import Storage
from mediaserver.metrics import make_registry
from mediaserver.outbound import Policy
from mediaserver.outbox.dispatch import Dispatcher
from mediaserver.outbox.mail import Mailer
from mediaserver.output.livefeed import parse_size
from mediaserver.output.recording import RecordingService
from mediaserver.output.streaming import StreamingService
from mediaserver.proxies import Proxies
from mediaserver.ratelimit import RateLimits
from mediaserver.rtc.avatars import AvatarStore
from mediaserver.rtc.engine import MediaEngine
from mediaserver.rtc.rooms import RoomManager
from mediaserver.rtc.workers import MediaWorkers
from mediaserver.store import idempotency, sealed
from mediaserver.store.db import Database
from signaling import hardening, keys
from signaling.api.routes import add_control_routes
from signaling.errors import json_errors
from signaling.http import add_routes
from signaling.realtime.fanout import Fanout

log = logging.getLogger("mediaserver")


def media_first(nice: int) -> None:
    """Keep the Python side from delaying packets on a shared core.

    The media thread runs in C and never waits for Python, but when both are runnable on one core
    the scheduler splits it evenly, so a burst of signaling or a garbage collection used to hold
    packets for milliseconds. Lowering the priority of this (the signaling) thread, and of the
    threads it starts from now on, gives the media thread about 90% of a contended core at nice 10
    while signaling still progresses. The objects made at start-up (modules, schema, settings) are
    moved out of the collector's reach and young-generation collections run less often, since every
    full collection walks every live object.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    if nice > 0:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(nice, 19))
        except OSError as e:  # a sandbox may forbid it: media still works, only less isolated
            log.warning("could not lower the signaling thread's priority: %s", e)


def build(settings: Settings, own_process: bool = False) -> web.Application:
    """An aiohttp application whose media engine starts and stops with it. ``own_process``: the
    application is the whole process (``mediaserver serve``), so it may tune the garbage collector and
    lower its own thread's priority (:func:`media_first`); an embedding process (tests) keeps its own."""
    # an empty secret or api_key: the one kept in data_dir since the first start (issue 14)
    keep_generated_keys(settings)
    # issue 14 finding 15: cross-site changes on the session cookie are refused (signaling/hardening.py)
    # issue 15: behind a TLS-terminating proxy the client's address and scheme are its trusted_proxies' word
    app = web.Application(
        client_max_size=1024 * 1024,
        middlewares=[hardening.behind(Proxies.of(settings)), json_errors, hardening.csrf],
    )
    hardening.install(app)  # issue 14 finding 16: security headers
    # issue 18: one media worker per core (or as configured), each on its own port: rtc_port + its index
    media = MediaWorkers(
        worker_count(settings.workers),
        lambda i: MediaEngine(
            settings.rtc_listen_ip,
            settings.rtc_port + i if settings.rtc_port else 0,
            settings.announced_ip,
            settings.ice_tcp,
            settings.udp_gso,
            settings.consent_timeout,
        ),
    )
    media.share, media.busy = settings.room_worker_share, settings.worker_busy  # a room over workers
    rooms = RoomManager(
        media,
        idle_timeout=settings.room_idle_timeout,
        max_rooms=settings.max_rooms,
        creation_rate=settings.room_creation_rate,
    )
    rooms.board_limits = (settings.board_max_bytes, settings.board_save_seconds)  # issue 17, R-INT-5
    app[keys.SETTINGS] = settings
    app[keys.MEDIA] = media
    app[keys.ROOMS] = rooms
    app[keys.AVATARS] = AvatarStore()
    app[keys.COUNTRIES] = Countries(settings.geoip_database)  # R-STAT-1: iptocc, or the operator's .mmdb
    app[keys.LIMITS] = RateLimits(settings)  # issue 14 finding 3: sign-ins, sign-ups, joins, event passwords
    # the database's secrets are sealed under a key of the data directory (issue 14 finding 11)
    db = app[keys.DB] = Database(
        settings.database_url, sealed.load_key(settings.data_dir, settings.sealing_key)
    )
    # issue 14 findings 4, 5: where webhooks and live streams may connect (public addresses + outbound_allow)
    outbound = app[keys.OUTBOUND] = Policy(settings.outbound_allow)
    # R-REC-1: the rooms record through this (native recorder transport -> raw file -> WebM in the library)
    recordings = rooms.recordings = app[keys.RECORDINGS] = RecordingService(
        db, settings.data_dir, settings.public_url, settings.files_dir
    )
    # R-REC-6: live streams to RTMP services (the same capture as a recording -> H.264/AAC -> FLV over RTMP)
    streams = rooms.streams = app[keys.STREAMS] = StreamingService(
        db, parse_size(settings.stream_size), settings.stream_video_kbps, outbound
    )
    # issue 16: what the rooms' interaction keeps for statistics and exports, written in batches
    journal = rooms.journal = Journal(db)
    interaction_hooks.register(journal)  # the question.published webhook (R-INT-2, R-API-2)
    chat_history.register(journal)  # an event's chat, kept with its session (R-INT-1; API exports)
    board_history.register(journal)  # the event sessions' whiteboards (issue 17, R-INT-5)
    qa_history.register(journal)  # its Q&A list and call-to-action clicks (R-INT-2, R-INT-4, R-STAT-2)
    stage_history.register(journal)  # what was on its stage, and when (issue 17 item 4)
    board_steps.register(journal)  # and the whiteboard's drawing over time (issue 17 item 4)
    attendance.register(journal)  # the time each attendee was in the room, participant.left (R-STAT-1)
    # R-INT-3, R-STAT-1: event rooms launch their event's polls from the database; answers and closes are
    # written by the journal (and a close queues the poll.closed webhook)
    rooms.polls = polls_store.Launcher(db, settings.secret)
    rooms.files = RoomFiles(db)  # issue 17: the documents a room presents
    polls_store.register(journal)
    # issue 17: the shared player plays the event's videos (signed /play URLs) and YouTube's (its IFrame API)
    rooms.videos = player_store.Videos(db, settings.secret, settings.youtube_api)
    # an event room's Start and End buttons go through the event's life cycle (R-ROOM-4, -5, R-STAT-2, -3)
    rooms.control = RoomControl(db, rooms, settings.public_url, settings.secret)
    mailer = Mailer(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_user,
        settings.smtp_password,
        settings.smtp_tls,
        settings.mail_from,
        Path(settings.data_dir) / "mail",  # without smtp_host the mails are written here (0600)
    )
    # cancelling an event tells its payers (R-BILL-10): billing's answer to the life cycle's Payers hook
    app[keys.PAYERS] = payments.event_cancelled
    # the sweep's chores: the events' clock (R-ROOM-4, R-AUTO-1) and R-API-1's 24 hours of Idempotency-Keys
    dispatcher = app[keys.DISPATCHER] = Dispatcher(
        db,
        mailer,
        settings,
        chores=[
            EventClock(rooms, settings.public_url, payments.event_cancelled, settings.secret),
            idempotency.purge_idempotency_keys,
        ],
        policy=outbound,
        rounds=[TimelineClock(db, rooms, settings.secret)],  # R-AUTO-1: timeline polls, CTAs on time
    )
    # issue 17: documents uploaded are converted to PDF and page images in worker processes
    converter = app[keys.CONVERTER] = convert.Converter(
        db, Storage.of(settings), convert.Limits.of(settings), settings.document_workers
    )
    # issue 16: the rooms' interaction to their sockets, one frame per audience and tick
    fan = app[keys.FANOUT] = Fanout(rooms, settings.interaction_tick)

    # issue 19: this server as a node of a cluster (registered in Redis, reporting its load), or alone
    def report() -> tuple[float, int]:
        busiest = max((ld["cpu"] for ld in media.loads()), default=0.0)
        return busiest, sum(len(r.participants) for r in rooms.rooms.values())

    cluster = app[keys.CLUSTER] = (
        ClusterNode(
            settings.cluster_redis_url,
            settings.node_id,
            settings.node_url,
            settings.secret,
            settings.node_ttl,
            report,
            settings.files_dir,
        )
        if settings.cluster_redis_url
        else Single(settings.node_id, settings.node_url, report)
    )
    # the rooms across the nodes: owners and edges, the media links between them
    placing = (
        ClusterRooms(
            settings.node_id,
            settings.node_url,
            cluster.redis,
            cluster.channel,
            cluster.leases,
            rooms,
            settings.node_ttl / 3,
            cluster.nodes,
            cluster.info,
            settings.node_capacity,
            settings.node_max_load,
            lambda: cluster.returns,
        )
        if isinstance(cluster, ClusterNode)
        else None
    )
    app[keys.PEERS] = lambda: placing.node_urls if placing is not None else []
    if placing is not None:
        cluster.mover = placing.drain
        # issue 19: an instant room lives on the node that made it; the others ask it for its info and joins
        placing.instant_local = functools.partial(entry.instant_answer, rooms, secret=settings.secret)
    app[keys.REGISTRY] = make_registry(
        media.stats,
        lambda: (len(rooms.rooms), sum(len(r.participants) for r in rooms.rooms.values())),
        lambda: {
            "frames": fan.frames,
            "writes": fan.writes,
            "dropped": fan.dropped,
            "journal_dropped": journal.dropped,
            "journal_failed": journal.failed,
        },
        placing.links.stats if placing is not None else None,
    )

    async def on_startup(app: web.Application) -> None:
        await db.migrate()  # the schema is brought up to date before anything is served
        log.info("database %s migrated", db.url.render_as_string(hide_password=True))
        media.start(pin=settings.pin_workers)
        async with db.tx() as s:  # events live when the server stopped go on (their people reconnect)
            await resume_live(s, rooms, settings.restart_grace)
        dispatcher.start()
        journal.start()
        converter.start()
        app[keys.SWEEPER] = asyncio.get_running_loop().create_task(rooms.run_sweeper())
        await cluster.start()  # registered last: other nodes may send people here from now on
        if placing is not None:
            placing.start()
        if own_process:
            media_first(settings.signaling_nice)
        for i, e in enumerate(media.engines):
            log.info(
                "media worker %d on udp %s:%d (ice-tcp %s, gso %s), fingerprint %s",
                i,
                settings.rtc_listen_ip,
                e.port,
                e.ice_tcp,
                e.worker.gso,
                e.fingerprint,
            )

    async def on_cleanup(app: web.Application) -> None:
        sweeper = app.get(keys.SWEEPER)
        if sweeper is not None:
            sweeper.cancel()
        try:
            if placing is not None:
                await placing.stop()  # the rooms' leases given up, the links closed
            await cluster.stop()  # out of the registry first: no one is sent here any more
        except Exception:
            log.exception("leaving the cluster failed")
        await journal.close()
        await converter.close()
        await streams.close()
        await recordings.close()
        await dispatcher.close()
        await db.close()
        app[keys.MEDIA].close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    add_routes(app)
    add_control_routes(app)
    return app
