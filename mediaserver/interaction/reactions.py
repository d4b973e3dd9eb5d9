"""Reactions (issue 16): a small fixed set of emoji that anyone sends; they are counted, and once per fan-out
tick the counts go to everyone as one event, so that 5,000 people clapping cost a few frames a second, not
5,000. Each person has a budget (a few a second): more are refused, and never counted."""

from __future__ import annotations

from collections import Counter
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.interaction.chat import Budget
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.log import RoomLog
from mediaserver.interaction.members import Member

REACTIONS = ("👍", "👏", "❤️", "😂", "😮", "🎉")


class Reactions(Feature):
    key = "reactions"

    def __init__(self, log: RoomLog, budget: Budget | None = None) -> None:
        self.log = log
        self.budget = budget or Budget(burst=4, rate=2)
        self.counts: Counter[str] = Counter()

    def commands(self) -> dict[str, Handler]:
        return {"react": self.react}

    def react(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        emoji = params.get("emoji")
        if emoji not in REACTIONS:
            raise ControlError("bad_request", f"'emoji' must be one of {' '.join(REACTIONS)}")
        wait = self.budget.spend(m.person_key)
        if wait:
            raise ControlError("rate_limited", f"too many reactions: wait {wait:.1f} s", 429)
        self.counts[emoji] += 1
        return {}

    def tick(self) -> None:
        if self.counts:
            self.log.append("reactions", {"counts": dict(self.counts)})
            self.counts.clear()

    def snapshot(self, m: Member) -> dict[str, Any]:
        return {"set": list(REACTIONS)}
