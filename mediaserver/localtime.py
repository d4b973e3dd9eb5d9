"""Local times of events: an event's IANA time zone and how its start is written in e-mails (invitations,
tickets, failed automated starts)."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from mediaserver.errors import ControlError


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone of an IANA name; 400 ``bad_request`` for an unknown one."""
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ControlError(
            "bad_request", f"unknown time zone {name!r} (use an IANA name such as Europe/Moscow)"
        ) from None


def wall_clock(t: dt.datetime, name: str) -> str:
    """``t`` as people in the zone read it, the zone's name after it: ``2026-05-01 18:00 Europe/Moscow``."""
    return t.astimezone(zone(name)).strftime(f"%Y-%m-%d %H:%M {name}")
