"""Who sees what of an account (R-ACC-2, -3; issue 14 finding 6): the one rule of which events a user sees and
manages, and what hangs off events following it (recordings, a room's files, a recording's WebM). Each
function is a condition for a query: a row outside it answers 404, whatever the verb, so its existence is not
revealed."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import aliased

from mediaserver.accounts.identity import Principal
from mediaserver.store.models import Event, LibraryFile, Recording, RoomFile


def sees_account(p: Principal) -> bool:
    """Whether the principal sees every event of its account: the main account's owner (R-ACC-2) and a
    sub-account's user (R-ACC-3, their account is their own) do; an additional user sees only the events
    they own."""
    return p.role != "additional"


def events(p: Principal) -> ColumnElement[bool]:
    """The events the principal sees and manages (see :func:`sees_account`)."""
    cond = Event.account_id == p.account.id
    return cond if sees_account(p) else cond & (Event.owner_id == p.user.id)


def recordings(p: Principal) -> ColumnElement[bool]:
    """The recordings the principal reaches: a recording follows its event. Whoever sees the whole account
    also reaches the recordings of deleted events; an additional user only those of the events they see."""
    mine = Recording.account_id == p.account.id
    if sees_account(p):
        return mine
    return mine & Recording.event_id.in_(select(Event.id).where(events(p)))


def files(p: Principal) -> ColumnElement[bool]:
    """The library files the principal reaches. The account's library is shared by all its users by design:
    what they upload to it (presentations, videos for on-demand and automated events) every user of the
    account lists, downloads, plays, attaches and deletes. A file that belongs to an event follows that
    event: a file uploaded into the event's room, and a recording's WebM; an additional user reaches neither
    for the events of other users (nor the WebM of a recording whose event is deleted, which only those who
    see the whole account reach)."""
    mine = LibraryFile.account_id == p.account.id
    if sees_account(p):
        return mine
    seen = select(Event.id).where(events(p))
    room, rec = aliased(RoomFile), aliased(Recording)  # not correlated with a RoomFile the caller joins
    other_room = exists().where(room.file_id == LibraryFile.id, room.event_id.not_in(seen))
    other_recording = exists().where(
        rec.file_id == LibraryFile.id, or_(rec.event_id.is_(None), rec.event_id.not_in(seen))
    )
    return mine & ~other_room & ~other_recording
