"""One room's interaction: its log and its features, the commands members send, what a late joiner sees."""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.interaction.board import Board
from mediaserver.interaction.chat import Chat
from mediaserver.interaction.cta import CallToAction
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.hands import Hands
from mediaserver.interaction.journal import Record
from mediaserver.interaction.log import Entry, MemoryLog, RoomLog
from mediaserver.interaction.members import Member
from mediaserver.interaction.player import Player, VideoSource
from mediaserver.interaction.polls import Lister, Loader, Polls
from mediaserver.interaction.presentation import Finder, Presentation
from mediaserver.interaction.questions import Questions
from mediaserver.interaction.reactions import Reactions

#: the commands that put something on the stage (a document, a video), by the key of their feature
STAGE_TAKERS = {"doc.show": "doc", "player.load": "player", "board.show": "board"}
#: the commands that may change what is on the stage: the stage is recorded after them when it changed
STAGE_PREFIXES = ("doc.", "player.", "board.show", "board.page")


class Interaction:
    """``find``: a member of the room by participant id. ``chat``: whether the attendees' chat starts on (an
    event's ``options.chat``). ``record``: the room's journal (None: nothing is kept beyond the room).
    ``polls``: how the room reads its event's polls (None: a room without an event has none); ``poll_list``:
    the list of them for the staff. ``files``: a file of the room's event by id (None: no event, no files)."""

    def __init__(
        self,
        find: Callable[[str], Member | None],
        chat: bool = True,
        log: RoomLog | None = None,
        record: Record | None = None,
        polls: Loader | None = None,
        poll_list: Lister | None = None,
        files: Finder | None = None,
        videos: VideoSource | None = None,
        room_id: str = "",
    ) -> None:
        self.log: RoomLog = log or MemoryLog()
        self.record = record  # what statistics and exports keep (mediaserver.interaction.journal)
        self.chat = Chat(self.log, find, enabled=chat, record=record)
        self.hands = Hands(self.log, find)
        self.reactions = Reactions(self.log)
        self.qa = Questions(self.log, self.chat, find, record=record)  # R-INT-2
        self.cta = CallToAction(self.log, record=record)  # R-INT-4
        self.polls = Polls(self.log, polls, record=record, lister=poll_list)  # R-INT-3
        self.doc = Presentation(self.log, files)  # issue 17, R-MEDIA-8: the document on the stage
        self.player = Player(self.log, videos, room_id)  # issue 17: the shared video player
        self.board = Board(self.log, record=record)  # R-INT-5, issue 17
        features = [
            self.chat,
            self.hands,
            self.reactions,
            self.qa,
            self.cta,
            self.polls,
            self.doc,
            self.player,
            self.board,
        ]
        self.features: list[Feature] = features
        self._last_stage: dict[str, Any] | None = None  # the stage as last recorded (issue 17 item 4)
        self._commands: dict[str, Handler] = {}
        for f in self.features:
            self._commands.update(f.commands())
        self.methods = frozenset(self._commands)  # the protocol's interaction methods
        # issue 19: on an edge, the features are a standby copy of the owner's (mirror): they do not act
        self.standby = False
        self._mirrors: dict[str, Feature] = {kind: f for f in self.features for kind in f.mirrors}

    def follow(self) -> None:
        """Issue 19: this node serves the room as an edge: the features keep a copy of the owner's state
        (:meth:`mirror`) and do nothing of their own (no tick, leave or end acts here)."""
        self.standby = True

    def mirror(self, entry: Entry) -> None:
        """Issue 19, on an edge: an entry of the owner's log, into the standby copy of its feature."""
        f = self._mirrors.get(entry.kind)
        if f is not None:
            f.mirror(entry)

    def take_over(self) -> None:
        """Issue 19: this node took the room over: its features run from their standby copies."""
        if self.standby:
            self.standby = False
            self._last_stage = self.stage()
            for f in self.features:
                f.resume()

    def command(
        self, m: Member, method: str, params: dict[str, Any]
    ) -> dict[str, Any] | Awaitable[dict[str, Any]]:
        fn = self._commands.get(method)
        if fn is None:
            raise ControlError("unknown_method", f"unknown method {method!r}")
        out = fn(m, params)
        if not method.startswith(STAGE_PREFIXES):
            return out
        if inspect.isawaitable(out):
            return self._then_stage(out, method)
        self._stage_changed(method)
        return out

    async def _then_stage(self, out: Awaitable[dict[str, Any]], method: str) -> dict[str, Any]:
        got = await out
        self._stage_changed(method)
        return got

    def _stage_changed(self, method: str) -> None:
        taker = STAGE_TAKERS.get(method)
        if taker is not None:
            self._stage(taker)
        self._record_stage()

    def stage(self) -> dict[str, Any]:
        """What is on the stage now: the document (file, page, zoom), the shared video (its source without a
        signed URL, playing, position at the server's time, rate) and the board (shown, page)."""
        video = self.player.state()
        source = video.get("source")
        if isinstance(source, dict):
            video = {**video, "source": {k: v for k, v in source.items() if k != "url"}}
        return {
            "doc": self.doc.current,
            "player": video,
            "board": {"shown": self.board.shown, "page": self.board.page},
        }

    def _record_stage(self) -> None:
        """Issue 17 item 4: each change of the stage is kept with the session (a recording's track); an
        unchanged stage (a refused or idle command) is not recorded again."""
        if self.record is None:
            return
        now = self.stage()
        if now == self._last_stage:
            return
        self._last_stage = now
        self.record("stage", {"at": int(time.time() * 1000), "stage": now})

    def _stage(self, taker: str) -> None:
        """Issue 17: one presented item on the stage at a time; what was there leaves it (a board taken off
        the stage is kept as it is)."""
        if taker == "board" and not self.board.shown:
            return  # the board taken off the stage takes nothing else off
        for f in (self.doc, self.player, self.board):
            if f.key != taker:
                f.leave_stage()

    def tick(self) -> list[Entry]:
        """What the fan-out sends now: the aggregates' entries appended, then everything pending."""
        if not self.standby:
            for f in self.features:
                f.tick()
        return self.log.take()

    def snapshot(self, m: Member) -> dict[str, Any]:
        """What ``m`` sees on joining: each feature's state, and the log's position (entries up to ``seq`` are
        in it: the client ignores them if they arrive after)."""
        return {"seq": self.log.last_seq, **{f.key: f.snapshot(m) for f in self.features}}

    def left(self, m: Member) -> None:
        if self.standby:  # issue 19: the owner hears of it and appends what follows
            return
        for f in self.features:
            f.left(m)

    def ended(self) -> None:
        """The room's session ended (on an edge: on the owner, whose log says what follows)."""
        if self.standby:
            return
        for f in self.features:
            f.ended()
