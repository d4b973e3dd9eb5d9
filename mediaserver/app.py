"""Composition root: settings -> media engine -> rooms -> signaling."""
from __future__ import annotations

import logging

from aiohttp import web

from signaling import keys
from signaling.errors import json_errors
from signaling.http import add_routes
from signaling.v1 import add_control_routes

from .avatars import AvatarStore
from .config import Settings
from .db import Database
from .dispatch import Dispatcher
from .mail import Mailer
from .media import MediaEngine
from .metrics import make_registry
from .rooms import RoomManager

log = logging.getLogger("mediaserver")


def build(settings: Settings) -> web.Application:
    """An aiohttp application whose media engine starts and stops with it."""
    app = web.Application(client_max_size=1024 * 1024, middlewares=[json_errors])
    media = MediaEngine(settings.rtc_listen_ip, settings.rtc_port, settings.announced_ip, settings.ice_tcp,
                        settings.udp_gso, settings.consent_timeout)
    rooms = RoomManager(media)
    app[keys.SETTINGS] = settings
    app[keys.MEDIA] = media
    app[keys.ROOMS] = rooms
    app[keys.AVATARS] = AvatarStore()
    db = app[keys.DB] = Database(settings.database_url)
    mailer = Mailer(settings.smtp_host, settings.smtp_port, settings.smtp_user, settings.smtp_password,
                    settings.smtp_tls, settings.mail_from)
    dispatcher = app[keys.DISPATCHER] = Dispatcher(db, mailer, rooms, settings)
    app[keys.REGISTRY] = make_registry(
        media.stats, lambda: (len(rooms.rooms), sum(len(r.participants) for r in rooms.rooms.values())))

    async def on_startup(app: web.Application) -> None:
        await db.migrate()               # the schema is brought up to date before anything is served
        log.info("database %s migrated", db.url.render_as_string(hide_password=True))
        dispatcher.start()
        media.start()
        log.info("media worker on udp %s:%d (ice-tcp %s, gso %s), fingerprint %s", settings.rtc_listen_ip,
                 media.port, media.ice_tcp, media.worker.gso, media.fingerprint)

    async def on_cleanup(app: web.Application) -> None:
        await dispatcher.close()
        await db.close()
        app[keys.MEDIA].close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    add_routes(app)
    add_control_routes(app)
    return app
