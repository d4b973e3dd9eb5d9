"""The automated timeline's call to action played through the room's own (issue 16, R-AUTO-1, R-INT-4): once
per item and room, for what is left of the item's time, refused when it would break the room's limits."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

from mediaserver.events.clock import _call_to_action
from mediaserver.interaction.cta import CallToAction
from mediaserver.interaction.log import MemoryLog


def _event(*items: dict[str, Any]) -> Any:
    return SimpleNamespace(options={"timeline": list(items)}, kind="automated")


def test_an_item_with_a_link_is_shown_once_for_what_is_left_of_its_time() -> None:
    cta = CallToAction(MemoryLog())
    started = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone.utc)
    ev = _event(
        {
            "component": "call_to_action",
            "start": 10,
            "duration": 30,
            "text": "Buy now",
            "url": "https://x.test/b",
        },
        {"component": "call_to_action", "start": 50, "duration": 5, "text": "No link"},
    )
    session = SimpleNamespace(started_at=started)
    _call_to_action(cta, ev, session, started + dt.timedelta(seconds=5), "ru")
    assert cta.current is None  # not yet
    _call_to_action(cta, ev, session, started + dt.timedelta(seconds=12.5), "ru")
    assert cta.current is not None
    assert (cta.current["text"], cta.current["button"], cta.current["url"], cta.current["seconds"]) == (
        "Buy now",
        "Открыть",  # no buttonText: the room's language's label
        "https://x.test/b",
        28,  # 40 - 12.5, rounded up
    )
    first = cta.current["id"]
    cta.current = None  # the host closed it early: the clock does not show it again
    _call_to_action(cta, ev, session, started + dt.timedelta(seconds=20), "ru")
    assert cta.current is None
    _call_to_action(cta, ev, session, started + dt.timedelta(seconds=51), "ru")
    assert cta.current is None  # without a link the timeline page shows its text; nothing to count
    assert first.startswith("c")


def test_an_item_over_the_rooms_limit_is_not_shown() -> None:
    cta = CallToAction(MemoryLog())
    assert not cta.play("t", "x" * 55, "Go", "https://x.test/", 10)
    assert not cta.play("u", "Fine", "Go", "javascript:alert(1)", 10)
    assert cta.current is None
    assert cta.play("v", "Fine", "Go", "https://x.test/", 10)
    assert not cta.play("v", "Fine", "Go", "https://x.test/", 10)
