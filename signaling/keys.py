"""Typed keys of the aiohttp application's shared objects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from mediaserver.cluster.node import Single
from mediaserver.config import Settings
from mediaserver.events.client_profile import Countries
from mediaserver.events.lifecycle import Payers
from mediaserver.library.convert import Converter
from mediaserver.outbound import Policy
from mediaserver.outbox.dispatch import Dispatcher
from mediaserver.output.recording import RecordingService
from mediaserver.output.streaming import StreamingService
from mediaserver.ratelimit import RateLimits
from mediaserver.rtc.avatars import AvatarStore
from mediaserver.rtc.rooms import RoomManager
from mediaserver.rtc.workers import MediaWorkers
from mediaserver.store.db import Database
from signaling.realtime.fanout import Fanout

SETTINGS = web.AppKey("settings", Settings)
MEDIA = web.AppKey("media", MediaWorkers)
ROOMS = web.AppKey("rooms", RoomManager)
REGISTRY = web.AppKey("registry", CollectorRegistry)
RESOURCES = web.AppKey("resources", dict[str, Any])  # WHIP/WHEP resource id -> (kind, participant)
AVATARS = web.AppKey("avatars", AvatarStore)
DB = web.AppKey("db", Database)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
CONVERTER = web.AppKey("converter", Converter)  # issue 17: documents to PDF and page images
RECORDINGS = web.AppKey("recordings", RecordingService)
STREAMS = web.AppKey("streams", StreamingService)
LIMITS = web.AppKey("limits", RateLimits)  # the budgets of sign-ins, sign-ups, joins (issue 14 finding 3)
COUNTRIES = web.AppKey("countries", Countries)  # R-STAT-1: attendees' countries, from their address
OUTBOUND = web.AppKey("outbound", Policy)  # where webhooks and live streams may connect (issue 14)
PAYERS: web.AppKey[Payers] = web.AppKey("payers")  # who tells the payers of a cancelled event
SWEEPER: web.AppKey[asyncio.Task[None]] = web.AppKey("sweeper")  # frees empty rooms (issue 14 finding 7)
FANOUT = web.AppKey("fanout", Fanout)  # the rooms' interaction to their sockets, once a tick (issue 16)
CLUSTER = web.AppKey("cluster", Single)  # issue 19: this node of a cluster (ClusterNode), or alone
# issue 19: the addresses of the cluster's live nodes (as last read from the registry; [] alone): a page's SDK
# may reconnect to any of them, so the pages' CSP lets it
PEERS: web.AppKey[Callable[[], list[str]]] = web.AppKey("peers")
