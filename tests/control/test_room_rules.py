"""The room rules as plain functions (R-ROOM-1, -2, -3, -7, -8, -13; R-MEDIA-5, -7)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mediaserver.rtc import room_rules as r


def room(**kw) -> r.RoomSettings:
    return r.RoomSettings(id="123456789", **kw)


@given(st.integers(min_value=0, max_value=50))
def test_room_ids_are_nine_digits_and_new(n):
    taken = {r.new_room_id(set()) for _ in range(n)}
    rid = r.new_room_id(taken)
    assert re.fullmatch(r"[1-9]\d{8}", rid) and rid not in taken


def test_defaults_follow_the_product():
    s = room()
    assert s.type == "webinar" and s.audio_mode == "listen" and s.camera_limit == 4
    assert r.check_new_room("meeting", None, "en", "", "", "", "instant") == 25
    assert r.check_new_room("webinar", None, "ru", "", "", "", "lobby") == r.WEBINAR_DEFAULT


@pytest.mark.parametrize(
    "type_,cap,ok",
    [
        ("meeting", 25, True),
        ("meeting", 26, False),
        ("webinar", 5000, True),
        ("webinar", 5001, False),
        ("webinar", 0, False),
        ("webinar", True, False),
    ],
)
def test_capacity_limits(type_, cap, ok):
    if ok:
        assert r.check_capacity(type_, cap) == cap
    else:
        with pytest.raises(r.RuleError) as e:
            r.check_capacity(type_, cap)
        assert e.value.code == "bad_capacity"


def test_entry_lobby_waiting_locked_ended():
    assert r.entry_status(room(state="lobby"), "attendee", 0) == "lobby"
    assert r.entry_status(room(state="lobby"), "host", 0) == "joined"
    assert r.entry_status(room(capacity=2), "attendee", 2) == "waiting"
    assert r.entry_status(room(capacity=2), "host", 2) == "joined"
    with pytest.raises(r.RuleError, match="locked"):
        r.entry_status(room(locked=True), "presenter", 0)
    assert r.entry_status(room(locked=True), "host", 0) == "joined"
    with pytest.raises(r.RuleError) as e:
        r.entry_status(room(state="ended"), "host", 0)
    assert e.value.code == "ended"


def test_audio_modes_decide_who_publishes_and_receives():
    listen, presenters, discussion = room(), room(audio_mode="presenters"), room(audio_mode="discussion")
    assert r.may_publish(listen, "presenter", False) and not r.may_publish(listen, "attendee", False)
    assert r.may_publish(listen, "attendee", True)  # the floor (R-ROOM-3)
    assert r.may_publish(discussion, "attendee", False)
    assert not r.receives_media(presenters, "attendee", False)
    assert r.receives_media(presenters, "presenter", False) and r.receives_media(presenters, "attendee", True)
    assert r.receives_media(listen, "attendee", False)
    r.check_audio_mode(listen, "discussion", 25)
    with pytest.raises(r.RuleError) as e:
        r.check_audio_mode(listen, "discussion", 26)
    assert e.value.code == "too_many_for_discussion"
    with pytest.raises(r.RuleError):
        r.check_audio_mode(listen, "karaoke", 2)


def test_cameras_and_screens():
    r.check_cameras(room(), 3, 1)
    with pytest.raises(r.RuleError) as e:
        r.check_cameras(room(), 4, 1)
    assert e.value.code == "camera_limit"
    r.check_screen("desktop")
    with pytest.raises(r.RuleError) as e:
        r.check_screen("mobile")
    assert e.value.code == "not_on_mobile"


@pytest.mark.parametrize(
    "name,email,ok",
    [
        ("Ann", "ann@example.org", True),
        ("  Ann  ", " a@b.cc ", True),
        ("", "a@b.cc", False),
        ("x" * 65, "a@b.cc", False),
        ("Ann", "ann", False),
        ("Ann", "a@b", False),
        ("Ann", None, False),
    ],
)
def test_a_person_needs_a_name_and_an_email(name, email, ok):
    if ok:
        n, e = r.check_person(name, email)
        assert n == name.strip() and e == email.strip()
    else:
        with pytest.raises(r.RuleError):
            r.check_person(name, email)
