"""Which session a room's journal record belongs to (mediaserver.events.room_sessions.session_at): the
oldest one not ended before it, a lobby record none; and a record the session's end made itself (the
whiteboard's last save and step), which comes after the end was written, the session that just ended (a CI
run lost a board's last strokes when the end's save fell a millisecond after the end)."""

from __future__ import annotations

import datetime as dt

from mediaserver.events.room_sessions import session_at
from mediaserver.store.models import EventSession

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone.utc)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_records_belong_to_the_session_they_were_made_in_and_the_ends_own_to_the_ended_one():
    first = EventSession(id=1, event_id=9, started_at=at(0), ended_at=at(100))
    second = EventSession(id=2, event_id=9, started_at=at(200), ended_at=None)
    newest_first = [second, first]
    assert session_at(newest_first, at(50)) == 1
    assert session_at(newest_first, at(100)) == 1  # at its end
    assert session_at(newest_first, at(150)) == 2  # the lobby between: the next session's
    assert session_at(newest_first, at(250)) == 2
    assert session_at([first], at(100.001)) is None  # after the end, in the lobby: the next start adopts it
    assert session_at([first], at(100.001), final=True) == 1  # but the end's own last save is the session's
    assert session_at(newest_first, at(250), final=True) == 2
    assert session_at([first], at(-1), final=True) is None  # before any session
