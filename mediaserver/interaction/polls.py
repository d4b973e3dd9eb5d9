"""Polls and tests live in the room (R-INT-3, issue 16).

A poll or test is saved with its event (mediaserver.interaction.polls_store, ``/api/v1/events/{id}/polls``);
the host or a presenter launches it here by its id (``poll.launch``): the room has no database, so the
command's reply is awaited while the room's :class:`Loader` (polls_store.Launcher, wired by the composition
root) reads the poll of the room's event and opens a launch row for the event's current session; only then is
the poll open in the room. One poll is open at a time.

Everyone gets the poll without its correct answers (``poll`` event); the staff also get the correct answers of
a test (``pollKey``). Each person answers once (their person key, whatever connection they come back on);
answers are checked against the question kinds, a short answer is at most :data:`MAX_SHORT` characters. The
counts go to the staff at most once per fan-out tick as one ``pollResults`` event, however many answered in
that tick (and the new short answers as one ``pollShortAnswers``); with ``poll.showResults`` the same event
goes to everyone (a test's correct answers only once it is closed). Each answer is recorded through the
room's journal (kind ``pollAnswer``, stored per attendee for statistics, R-STAT-1), and so is the close
(``pollClosed``: the results' summary and the ``poll.closed`` webhook).

Issue 19 (failover): an edge keeps a standby copy of the poll from the owner's log (:meth:`Polls.mirror`): the
launch with its whole definition (a test's answers included: ``Entry.standby``, never sent to a client), its
counts as each ``pollResults`` gives them, and who answered (on the same entry's ``standby``), so that a node
taking the room over keeps the poll open, refuses a second answer and counts on from the same results.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from mediaserver.errors import ControlError
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.journal import Record
from mediaserver.interaction.log import EVERYONE, STAFF, Entry, RoomLog
from mediaserver.interaction.members import Member, is_staff, require_staff

MAX_SHORT = 500  # characters of a short answer
SHORT_PER_TICK = 50  # new short answers sent to the staff per tick at most (the rest are in the results)
KINDS = ("poll", "test")
QUESTION_KINDS = ("single", "multiple", "short")

#: The room's way to its event's polls: a poll id -> the launched definition (see polls_store.Launcher).
Loader = Callable[[int], Awaitable[dict[str, Any]]]
#: The room's list of its event's saved polls for the staff's Polls tab: ``[{id, name, kind, questions}]``.
Lister = Callable[[], Awaitable[list[dict[str, Any]]]]


class PollSource(Protocol):
    """Reads a poll of the event whose room ``room_id`` is and stores its launch (polls_store.Launcher):
    ``{launch, poll, name, kind, questions}``; ControlError when the room's event has no such poll."""

    async def launch(self, room_id: str, poll_id: int) -> dict[str, Any]: ...

    async def saved(self, room_id: str) -> list[dict[str, Any]]:
        """The event's saved polls, ``[{id, name, kind, questions}]`` (questions: how many), by id."""
        ...


# ---------------------------------------------------------------- the rules of answers (the store uses them t


def check_answers(questions: list[dict[str, Any]], raw: Any) -> list[dict[str, Any]]:
    """An answer sheet: a list of ``{question, options}`` (single: one option id; multiple: one or more) or
    ``{question, text}`` (short: 1 to :data:`MAX_SHORT` characters), each question at most once, at least
    one. ControlError (400) naming what is wrong."""
    if not isinstance(raw, list) or not raw:
        raise ControlError("bad_request", "'answers' must be a non-empty list of {question, options | text}")
    by_id = {q["id"]: q for q in questions}
    out: list[dict[str, Any]] = []
    seen: set[int] = set()
    for n, a in enumerate(raw, start=1):
        if not isinstance(a, dict) or not isinstance(a.get("question"), int):
            raise ControlError("bad_request", f"answer {n}: 'question' (a question id) is required")
        q = by_id.get(a["question"])
        if q is None:
            raise ControlError("bad_request", f"answer {n}: this poll has no question {a['question']}")
        if q["id"] in seen:
            raise ControlError("bad_request", f"answer {n}: question {q['id']} is answered twice")
        seen.add(q["id"])
        if q["kind"] == "short":
            text = a.get("text")
            if not isinstance(text, str) or not text.strip():
                raise ControlError("bad_request", f"answer {n}: question {q['id']} needs a 'text' answer")
            text = text.strip()
            if len(text) > MAX_SHORT:
                raise ControlError(
                    "too_long",
                    f"answer {n}: a short answer is at most {MAX_SHORT} characters; this one has {len(text)}",
                )
            out.append({"question": q["id"], "text": text})
            continue
        chosen = a.get("options")
        if not isinstance(chosen, list) or not chosen or not all(isinstance(o, int) for o in chosen):
            raise ControlError(
                "bad_request", f"answer {n}: 'options' must list option ids of question {q['id']}"
            )
        valid = {o["id"] for o in q["options"]}
        if len(set(chosen)) != len(chosen) or not set(chosen) <= valid:
            raise ControlError(
                "bad_request", f"answer {n}: options of question {q['id']} are {sorted(valid)}, each once"
            )
        if q["kind"] == "single" and len(chosen) != 1:
            raise ControlError("bad_request", f"answer {n}: question {q['id']} takes exactly one option")
        out.append({"question": q["id"], "options": sorted(chosen)})
    return out


def correct(q: dict[str, Any], a: dict[str, Any]) -> bool | None:
    """Whether answer ``a`` to question ``q`` of a test is right (None: the question is not scored)."""
    if q["kind"] == "short":
        accepted = {t.casefold() for t in q.get("accepted") or []}
        return a.get("text", "").casefold() in accepted if accepted else None
    right = sorted(o["id"] for o in q["options"] if o.get("correct"))
    return a.get("options") == right if right else None


def max_score(questions: list[dict[str, Any]]) -> float:
    return float(sum(q.get("points", 1) for q in questions if scored(q)))


def scored(q: dict[str, Any]) -> bool:
    return bool(q.get("accepted")) if q["kind"] == "short" else any(o.get("correct") for o in q["options"])


def score(questions: list[dict[str, Any]], answers: list[dict[str, Any]]) -> float:
    """The points of a test's answer sheet: a question's points when it is answered right."""
    by_id = {q["id"]: q for q in questions}
    return float(
        sum(by_id[a["question"]].get("points", 1) for a in answers if correct(by_id[a["question"]], a))
    )


def public(questions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The questions as attendees see them: no correct options, no accepted answers."""
    return [
        {
            "id": q["id"],
            "text": q["text"],
            "kind": q["kind"],
            "points": q.get("points", 1),
            "options": [{k: o.get(k) for k in ("id", "text", "image")} for o in q["options"]],
        }
        for q in questions
    ]


def key(questions: list[dict[str, Any]]) -> dict[str, Any]:
    """A test's correct answers by question id: option ids, or the accepted short answers."""
    return {
        str(q["id"]): (
            q.get("accepted") or []
            if q["kind"] == "short"
            else [o["id"] for o in q["options"] if o.get("correct")]
        )
        for q in questions
        if scored(q)
    }


@dataclass
class Tally:
    """The counts of one launch: per question how many answered it and per option how many chose it."""

    questions: list[dict[str, Any]]
    respondents: int = 0
    points: float = 0.0  # the sum of the scores (a test's average is points / respondents)
    answered: dict[int, int] = field(default_factory=dict)
    counts: dict[int, dict[int, int]] = field(default_factory=dict)

    def add(self, answers: list[dict[str, Any]], points: float | None) -> None:
        self.respondents += 1
        self.points += points or 0.0
        for a in answers:
            self.answered[a["question"]] = self.answered.get(a["question"], 0) + 1
            per = self.counts.setdefault(a["question"], {})
            for o in a.get("options", ()):
                per[o] = per.get(o, 0) + 1

    def summary(self, kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "respondents": self.respondents,
            "questions": [
                {
                    "id": q["id"],
                    "answered": self.answered.get(q["id"], 0),
                    "counts": {
                        str(o["id"]): self.counts.get(q["id"], {}).get(o["id"], 0) for o in q["options"]
                    },
                }
                for q in self.questions
            ],
        }
        if kind == "test":
            out["maxScore"] = max_score(self.questions)
            out["averageScore"] = round(self.points / self.respondents, 3) if self.respondents else None
        return out


# ---------------------------------------------------------------- the feature


@dataclass
class Run:
    """The poll open (or last closed) in the room."""

    launch: int
    poll: int
    name: str
    kind: str
    questions: list[dict[str, Any]]
    tally: Tally
    open: bool = True
    shown: bool = False
    dirty: bool = False
    people: dict[str, float | None] = field(
        default_factory=dict
    )  # who answered (person key) -> a test's score
    short: list[dict[str, Any]] = field(default_factory=list)  # new short answers for the staff
    fresh: dict[str, float | None] = field(default_factory=dict)  # who answered since the last results

    def describe(self, staff: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "launch": self.launch,
            "poll": self.poll,
            "name": self.name,
            "type": self.kind,  # poll | test ("kind" names the event itself)
            "state": "open" if self.open else "closed",
            "shown": self.shown,
            "questions": public(self.questions),
        }
        if staff and self.kind == "test":
            out["correct"] = key(self.questions)
        return out

    def results(self, everyone: bool) -> dict[str, Any]:
        out = {
            "launch": self.launch,
            "state": "open" if self.open else "closed",
            **self.tally.summary(self.kind),
        }
        if everyone and self.kind == "test" and not self.open:
            out["correct"] = key(self.questions)  # revealed to all only once the test is closed
        return out


class Polls(Feature):
    key = "polls"
    mirrors = frozenset({"poll", "pollResults", "pollShown"})

    def __init__(
        self,
        log: RoomLog,
        loader: Loader | None = None,
        record: Record | None = None,
        lister: Lister | None = None,
    ) -> None:
        self.log = log
        self.loader = loader  # None: a room without an event (instant, ad hoc) has no polls
        self.lister = lister  # the event's saved polls (the staff's Polls tab lists them to launch one)
        self.record = record
        self.run: Run | None = None
        self._launching = False

    def commands(self) -> dict[str, Handler]:
        return {
            "poll.launch": self.launch,
            "poll.close": self.close,
            "poll.answer": self.answer,
            "poll.showResults": self.show_results,
            "poll.list": self.list,
        }

    # ---- commands ----

    def list(self, m: Member, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """The host or a presenter reads the event's saved polls (``{polls: [{id, name, kind, questions}]}``,
        questions: how many) to launch one from the room page: the host's room link is no API key."""
        require_staff(m, "list polls")
        if self.lister is None:
            raise ControlError("no_event", "polls belong to an event: this room has none", 409)
        return self._list(self.lister)

    async def _list(self, lister: Lister) -> dict[str, Any]:
        return {"polls": await lister()}

    def launch(self, m: Member, params: dict[str, Any]) -> Awaitable[dict[str, Any]]:
        """``{poll}``: the host or a presenter opens a saved poll of the event (awaited: it is read from the
        database and its launch is stored before anyone sees it)."""
        require_staff(m, "launch polls")
        poll_id = params.get("poll")
        if not isinstance(poll_id, int) or isinstance(poll_id, bool) or poll_id < 1:
            raise ControlError("bad_request", "'poll' (the id of one of the event's polls) is required")
        self._check_free()
        if self.loader is None:
            raise ControlError("no_event", "polls belong to an event: this room has none", 409)
        return self._launch(self.loader, poll_id)

    def _check_free(self) -> None:
        if self.busy():
            what = (
                f"{self.run.name!r} is open" if self.run is not None and self.run.open else "one is opening"
            )
            raise ControlError("poll_open", f"one poll at a time: {what}; close it first", 409)

    async def _launch(self, loader: Loader, poll_id: int) -> dict[str, Any]:
        self._launching = True
        try:
            d = await loader(poll_id)
        finally:
            self._launching = False
        return self.open(d)

    def busy(self) -> bool:
        return self._launching or (self.run is not None and self.run.open)

    def open(self, d: dict[str, Any]) -> dict[str, Any]:
        """Open a launched poll (``d`` from the room's loader, or the automated timeline's clock)."""
        self._check_free()
        run = self.run = Run(
            d["launch"], d["poll"], d["name"], d["kind"], d["questions"], Tally(d["questions"])
        )
        self.log.append("poll", run.describe(staff=False), EVERYONE, {"questions": run.questions})
        if run.kind == "test":
            self.log.append("pollKey", {"launch": run.launch, "correct": key(run.questions)}, STAFF)
        run.dirty = True  # the staff get the (empty) results at once
        return run.describe(staff=True)

    def close(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """The host or a presenter closes the open poll: no more answers; the final results go out."""
        require_staff(m, "close polls")
        return self._finish(self._open(params))

    def close_launch(self, launch: int) -> None:
        """Close the launch ``launch`` if it is the poll open (the automated timeline's item is over)."""
        if self.run is not None and self.run.open and self.run.launch == launch:
            self._finish(self.run)

    def ended(self) -> None:
        """The session ended with a poll open: it is closed (its results stored, the webhook sent)."""
        if self.run is not None and self.run.open:
            self._finish(self.run)

    def _finish(self, run: Run) -> dict[str, Any]:
        run.open = False
        self.log.append("poll", {"launch": run.launch, "state": "closed", "shown": run.shown}, EVERYONE)
        self._send_results(run)
        summary = run.results(everyone=False)
        if self.record is not None:
            self.record(
                "pollClosed",
                {"launch": run.launch, "closedAt": int(time.time() * 1000), "results": summary},
            )
        return summary

    def answer(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{launch? | poll?, answers}``: one answer sheet per person and launch (``launch`` or ``poll``,
        when given, must name the open one)."""
        run = self._open(params)
        if m.person_key in run.people:
            raise ControlError("answered", "you have answered this poll already", 409)
        answers = check_answers(run.questions, params.get("answers"))
        points = score(run.questions, answers) if run.kind == "test" else None
        run.people[m.person_key] = points
        run.fresh[m.person_key] = points
        run.tally.add(answers, points)
        run.dirty = True
        for a in answers:
            if "text" in a and len(run.short) < SHORT_PER_TICK:
                run.short.append({"question": a["question"], "text": a["text"], "name": m.name})
        if self.record is not None:
            email = getattr(m, "email", "")
            self.record(
                "pollAnswer",
                {
                    "launch": run.launch,
                    "person": m.person_key,
                    "name": m.name,
                    "email": email if isinstance(email, str) else "",
                    "answers": answers,
                    "score": points,
                    "at": int(time.time() * 1000),
                },
            )
        out: dict[str, Any] = {"launch": run.launch, "recorded": True}
        if points is not None:
            out.update(score=points, maxScore=max_score(run.questions))
        return out

    def show_results(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{shown}``: the host or a presenter shows the results (of the open or last closed poll) to
        everyone, or hides them again."""
        require_staff(m, "show poll results")
        shown = params.get("shown", True)
        if not isinstance(shown, bool):
            raise ControlError("bad_request", "'shown' must be true or false")
        run = self.run
        if run is None:
            raise ControlError("no_poll", "no poll has been launched in this room", 409)
        if run.shown != shown:
            run.shown = shown
            self.log.append("pollShown", {"launch": run.launch, "shown": shown}, EVERYONE)
            if shown:
                self._send_results(run)
        return {"launch": run.launch, "shown": shown}

    def _open(self, params: dict[str, Any]) -> Run:
        run = self.run
        if run is None or not run.open:
            raise ControlError("no_poll", "no poll is open in this room", 409)
        launch, poll = params.get("launch"), params.get("poll")
        if (launch is not None and launch != run.launch) or (poll is not None and poll != run.poll):
            raise ControlError("poll_closed", "that poll is closed; another one is open", 409)
        return run

    def _send_results(self, run: Run) -> None:
        run.dirty = False
        standby = {"people": run.fresh, "points": run.tally.points}  # for the edges' copies only
        run.fresh = {}
        self.log.append(
            "pollResults", run.results(everyone=run.shown), EVERYONE if run.shown else STAFF, standby
        )
        if run.short:
            self.log.append("pollShortAnswers", {"launch": run.launch, "answers": run.short}, STAFF)
            run.short = []

    # ---- issue 19: the standby copy on an edge ----

    def mirror(self, entry: Entry) -> None:
        d, sb = entry.data, entry.standby or {}
        run = self.run
        if entry.kind == "poll" and d.get("state") == "open":
            questions = sb.get("questions") or d.get("questions") or []
            self.run = Run(
                int(d["launch"]),
                int(d["poll"]),
                str(d.get("name", "")),
                str(d.get("type", "poll")),
                questions,
                Tally(questions),
                shown=bool(d.get("shown")),
            )
        elif run is None or d.get("launch") != run.launch:
            return
        elif entry.kind == "poll":
            run.open, run.shown = False, bool(d.get("shown"))
        elif entry.kind == "pollShown":
            run.shown = bool(d.get("shown"))
        else:  # pollResults: the counts as the owner has them, and who answered since the last
            t = run.tally
            t.respondents = int(d.get("respondents") or 0)
            t.points = float(sb.get("points") or 0.0)
            for q in d.get("questions") or []:
                t.answered[q["id"]] = int(q.get("answered") or 0)
                t.counts[q["id"]] = {int(o): int(n) for o, n in (q.get("counts") or {}).items()}
            run.people.update(sb.get("people") or {})

    # ---- the tick and what a member sees on joining ----

    def tick(self) -> None:
        run = self.run
        if run is not None and run.dirty:
            self._send_results(run)

    def snapshot(self, m: Member) -> dict[str, Any]:
        run = self.run
        if run is None or (not run.open and not run.shown and not is_staff(m)):
            return {"poll": None, "answered": False, "results": None}
        staff = is_staff(m)
        out = {
            "poll": run.describe(staff),
            "answered": m.person_key in run.people,
            "results": run.results(everyone=not staff) if staff or run.shown else None,
        }
        points = run.people.get(m.person_key)
        if points is not None:  # a test this person answered: their score, as the answer's reply gave it
            out["mine"] = {"launch": run.launch, "score": points, "maxScore": max_score(run.questions)}
        return out
