"""Typed keys of the aiohttp application's shared objects."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from prometheus_client.registry import CollectorRegistry

from mediaserver.avatars import AvatarStore
from mediaserver.config import Settings
from mediaserver.db import Database
from mediaserver.dispatch import Dispatcher
from mediaserver.media import MediaEngine
from mediaserver.recording import RecordingService
from mediaserver.rooms import RoomManager
from mediaserver.streaming import StreamingService

SETTINGS = web.AppKey("settings", Settings)
MEDIA = web.AppKey("media", MediaEngine)
ROOMS = web.AppKey("rooms", RoomManager)
REGISTRY = web.AppKey("registry", CollectorRegistry)
RESOURCES = web.AppKey("resources", dict[str, Any])   # WHIP/WHEP resource id -> (kind, participant)
AVATARS = web.AppKey("avatars", AvatarStore)
DB = web.AppKey("db", Database)
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
RECORDINGS = web.AppKey("recordings", RecordingService)
STREAMS = web.AppKey("streams", StreamingService)
