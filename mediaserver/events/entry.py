"""Coming into a room by its ID (R-ROOM-1, -6, -7, -9): what anyone with the ID may know about it, and the
join that gives a join token. A room ID names an instant room (made with POST /api/v1/rooms, held in
memory) or an event's room (the event keeps its ID while no room is in memory); an event's room goes
through the event's access rules (mediaserver.events.registration.join)."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.passwords import password_matches
from mediaserver.errors import ControlError
from mediaserver.events import lifecycle, registration
from mediaserver.events.client_profile import Profile
from mediaserver.ratelimit import Caller
from mediaserver.rtc import tokens
from mediaserver.rtc.room_rules import check_person, entry_status, new_room_id
from mediaserver.rtc.rooms import Room, RoomManager
from mediaserver.store.db import Database
from mediaserver.store.models import Event

JOIN_TTL = 6 * 3600  # seconds a join token from the room page is valid


async def event_of_room(s: AsyncSession, room_id: str) -> Event | None:
    """The event that owns this room ID, if any (events keep their room ID while no room is in memory)."""
    return await lifecycle.event_by_room(s, room_id) if room_id.isdigit() and len(room_id) == 9 else None


def _instant(rooms: RoomManager, room_id: str) -> Room:
    """The instant room made on this node (an edge's copy of another node's is not it: issue 19)."""
    room = rooms.find(room_id)
    if room is None or room.settings.adhoc or room.owner_node is not None:
        raise ControlError("not_found", "there is no room with this ID; check the 9 digits", 404)
    return room


def instant_answer(
    rooms: RoomManager, room_id: str, op: str, body: dict[str, Any], secret: str
) -> dict[str, Any]:
    """An instant room of this node: its public information (``op`` "info") or a join token (``op`` "join",
    R-ROOM-7): ``body`` carries the person's name and e-mail, and a hostKey or presenterKey for those roles. A
    wrong key is refused (403), and a locked or ended room now, with a clear reason."""
    room = _instant(rooms, room_id)
    st = room.settings
    if op == "info":
        info = {**st.public(), "participants": room.seated()}
        info.pop("pin")
        return info
    name, email = check_person(body.get("name"), body.get("email"))
    role = "attendee"
    for field, value in (("hostKey", st.host_key), ("presenterKey", st.presenter_key)):
        given = body.get(field)
        if given is not None:
            if not isinstance(given, str) or not hmac.compare_digest(given.encode(), value.encode()):
                raise ControlError("forbidden", f"this {field} does not open this room", 403)
            role = "host" if field == "hostKey" else "presenter"
            break
    entry_status(st, role, 0)
    room.check_not_removed(frozenset({email.lower()}), role)  # issue 14 finding 13: no token to come back
    token = tokens.issue(
        secret, st.id, role, name, f"{email}#{secrets.token_hex(4)}", JOIN_TTL, email=email, adhoc=False
    )
    return {"token": token, "role": role, "room": st.public()}


async def _instant_anywhere(
    rooms: RoomManager, room_id: str, op: str, body: dict[str, Any], secret: str
) -> dict[str, Any]:
    """:func:`instant_answer` here, or from the node of the cluster that made the room (issue 19: an instant
    room lives on its node; any node answers for it)."""
    try:
        return instant_answer(rooms, room_id, op, body, secret)
    except ControlError as e:
        if e.code != "not_found":
            raise
        got = await rooms.instant_elsewhere(room_id, op, body)
        if got is None:
            raise
        return got


async def room_info(s: AsyncSession, rooms: RoomManager, room_id: str) -> dict[str, Any]:
    """A room's public information: the dial-in PIN and the keys stay with the people let in. An event's room
    before its first join is described from the event (its lobby to be)."""
    room = rooms.find(room_id)
    ev = await event_of_room(s, room_id) if room is None else None
    if ev is not None:
        return {
            "id": ev.room_id,
            "name": ev.name,
            "type": ev.room_type,
            "language": ev.language,
            "agenda": ev.agenda,
            "message": ev.lobby_message,
            "locked": False,
            "state": {"planned": "lobby"}.get(ev.status, "ended" if ev.status == "done" else "live"),
            "url": f"/room/{ev.room_id}",
            "participants": 0,
            "access": ev.access,
            "event": True,
        }
    return await _instant_anywhere(rooms, room_id, "info", {}, "")


async def before_join(db: Database, caller: Caller, room_id: str, body: dict[str, Any]) -> str | None:
    """What a join does before its transaction (issue 14 finding 3): it spends the address's join budget
    (429 when used up) and, for an event with a password that the body gives (an attendee's join), checks the
    password outside any transaction; a wrong one counts against the event's budget of wrong passwords, and
    while that is used up the event's password is not checked at all (429). Returns the event's password
    hash that the password matched (for :func:`join`), else None."""
    await caller.spend("join")
    password = body.get("password")
    if not isinstance(password, str) or registration.key_given(body):
        return None  # nothing to check, or a key or personal token decides the role, not the password
    async with db.read_only() as s:
        ev = await event_of_room(s, room_id)
    if ev is None or ev.access != "password" or not ev.password_hash:
        return None
    async with caller.limits.failures("event_password", f"event:{ev.id}", (403,)):
        if not await password_matches(ev.password_hash, password):
            raise registration.wrong_password()
    return ev.password_hash


async def join(
    s: AsyncSession,
    rooms: RoomManager,
    room_id: str,
    body: dict[str, Any],
    secret: str,
    watch_ttl: int,
    checked_password: str | None,
    client: Profile | None = None,
) -> dict[str, Any]:
    """A join token for the room (R-ROOM-7; an event's keeps ``client`` with the attendance, R-STAT-1):
    ``body`` carries the person's name and e-mail, and a hostKey or presenterKey for those roles (an event's
    room also a password, checked by :func:`before_join`, or a personal token). An instant room refuses a
    wrong key (403), and a locked or ended room now, with a clear reason."""
    ev = await event_of_room(s, room_id)
    if ev is not None:
        return await registration.join(s, ev, body, rooms, secret, watch_ttl, checked_password, client)
    return await _instant_anywhere(rooms, room_id, "join", body, secret)


async def create_room(s: AsyncSession, rooms: RoomManager, client: str, with_key: bool, **room: Any) -> Room:
    """An instant room (POST /api/v1/rooms): ``client`` (its IP address) may create a few a minute unless the
    request carries the API key, the node holds a bounded number of rooms (issue 14 finding 7), and its ID is
    no event's room ID, in memory or not (finding 17: an event never finds someone else's room under its
    ID)."""
    if not with_key:
        rooms.check_creation(client)
    while True:
        rid = new_room_id(rooms.rooms)
        if await lifecycle.event_by_room(s, rid) is None:
            break
    made = rooms.create(**room, room_id=rid, event=False)
    await rooms.claim(made)  # issue 19: owned by this node from now on, so any node can serve it
    if not with_key:
        rooms.created(client)
    return made
