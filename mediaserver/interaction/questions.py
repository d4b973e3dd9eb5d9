"""Q&A mode (R-INT-2, issue 16).

The original product (the help page "Что такое режим вопросов и как его использовать?",
/work/shared/spec/seed-faq-ru.txt): a participant marks their chat message as a question, or the host marks
someone's; the questions gather in a list "on a separate tab"; the host picks one and publishes it to the main
window "so that the participants can focus on it"; "Закрыть режим вопросов" (closing Q&A mode) ends it. We
follow it, with the upvotes the issue asks for, and these choices:

- The host opens and closes Q&A mode (``qa.open``, ``qa.close``). Questions are asked while it is open only.
  Closing ends it: the list, the votes and the published question are gone from the room (everyone gets
  ``qa {open: false}``); each question's final state is recorded first (the journal's ``question`` kind), so
  the list is kept with the session's chat for its export.
- Who sees a question follows where it came from: a question asked as such (``qa.ask {text}``) or made of a
  public chat message is on everyone's list (the list tab is everyone's, and the message was public anyway);
  one made of a private message to the staff stays between the asker and the staff. A dismissed question
  leaves the attendees' lists (their clients drop it; the staff keep it, marked).
- One upvote per person (their person key, so it holds across reconnections): ``qa.upvote {id}`` is
  idempotent (a second one changes nothing), ``qa.upvote {id, up: false}`` takes the vote back. The counts are
  not sent per vote: once a tick, one ``questionVotes`` event carries the new totals of the questions whose
  count changed (absolute numbers, so a late joiner's snapshot and the events agree).
- The staff answer or dismiss; the host publishes one question (``questionPublished`` to everyone, and in
  every late joiner's snapshot) and takes it down; publishing queues the ``question.published`` webhook (the
  journal's ``questionPublished`` kind; mediaserver.interaction.hooks).

Issue 19 (failover): an edge keeps a standby copy of the Q&A from the owner's log (:meth:`Questions.mirror`):
the mode, each question with its audience and state, the published one, and the votes (who voted rides on
``questionVotes`` as ``Entry.standby``, never sent to a client), so that a node taking the room over answers,
publishes and counts votes as the owner would have.

Limits: a question is 1 to 2,000 characters (chat.clean_text), each person has a budget for asking and one for
voting (chat.Budget), a room holds at most :data:`MAX_OPEN` open questions and :data:`MAX_KEPT` in all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mediaserver.errors import ControlError
from mediaserver.interaction.chat import Budget, Chat, clean_text
from mediaserver.interaction.feature import Feature, Handler
from mediaserver.interaction.journal import Record
from mediaserver.interaction.log import EVERYONE, Audience, Entry, RoomLog, reaches
from mediaserver.interaction.members import Member, is_staff, require_host, require_staff, who

MAX_OPEN = 1000  # open questions in a room at once
MAX_KEPT = 5000  # questions of every state in a room's list
SNAPSHOT = 100  # the others' questions an attendee's snapshot carries at most (the most upvoted)
STATES = ("open", "answered", "dismissed")


@dataclass(slots=True)
class Question:
    id: str
    text: str
    asker: dict[str, str]  # who(m) of the person who asked (or whose message it was)
    person: str  # the asker's person key ("" when they had left before the host marked their message)
    at: int  # ms since the epoch
    audience: Audience  # who sees it: everyone, or the staff and the asker
    message: str | None = None  # the chat message it was made of
    state: str = "open"
    voters: set[str] = field(default_factory=set)  # person keys

    def wire(self) -> dict[str, Any]:
        q: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "from": self.asker,
            "at": self.at,
            "state": self.state,
            "votes": len(self.voters),
            "private": self.audience != EVERYONE,
        }
        if self.message is not None:
            q["message"] = self.message
        return q


def _id(params: dict[str, Any]) -> str:
    qid = params.get("id")
    if not isinstance(qid, str) or not qid:
        raise ControlError("bad_request", "'id' (a question id) is required")
    return qid


class Questions(Feature):
    key = "qa"
    mirrors = frozenset({"qa", "question", "questionVotes", "questionPublished"})

    def __init__(
        self,
        log: RoomLog,
        chat: Chat,
        find: Callable[[str], Member | None],
        record: Record | None = None,
        budget: Budget | None = None,
        votes_budget: Budget | None = None,
    ) -> None:
        self.log = log
        self.chat = chat  # the messages marked as questions, and who is silenced
        self.find = find
        self.record = record  # journal kinds: question (each change), questionPublished (the webhook)
        self.budget = budget or Budget(burst=3, rate=0.2)  # a question every 5 s after the first three
        self.votes_budget = votes_budget or Budget(burst=10, rate=2)
        self.open = False
        self.questions: dict[str, Question] = {}  # by id, in the order asked
        self.by_message: dict[str, str] = {}  # chat message id -> question id
        self.voted: dict[str, set[str]] = {}  # person key -> the question ids they upvoted
        self.mine: dict[str, list[str]] = {}  # person key -> the ids of their questions
        self.published: Question | None = None
        self.n_open = 0
        # question ids whose count changed this tick -> the votes given (True) or taken back, by person key
        self._votes_changed: dict[str, dict[str, bool]] = {}
        self._public: list[dict[str, Any]] | None = None  # the attendees' shared part of the snapshot

    def commands(self) -> dict[str, Handler]:
        return {
            "qa.open": self.open_qa,
            "qa.close": self.close_qa,
            "qa.ask": self.ask,
            "qa.upvote": self.upvote,
            "qa.answer": self.answer,
            "qa.dismiss": self.dismiss,
            "qa.publish": self.publish,
            "qa.unpublish": self.unpublish,
        }

    # ---- the mode ----

    def open_qa(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        require_host(m, "open Q&A")
        if not self.open:
            self.open = True
            self.log.append("qa", {"open": True})
        return {"open": True}

    def close_qa(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """Closing Q&A mode ends it (R-INT-2): each question's final state is recorded, then the list goes."""
        require_host(m, "close Q&A")
        n = len(self.questions)
        if not self.open:
            return {"open": False, "questions": 0}
        self._record_all("closed")
        self._clear()
        self.log.append("qa", {"open": False})
        return {"open": False, "questions": n}

    def _clear(self) -> None:
        self.open = False
        self.questions.clear()
        self.by_message.clear()
        self.voted.clear()
        self.mine.clear()
        self.published = None
        self.n_open = 0
        self._votes_changed.clear()
        self._public = None

    def _require_open(self) -> None:
        if not self.open:
            raise ControlError("qa_closed", "Q&A is closed: the host opens it", 409)

    # ---- questions ----

    def ask(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{text}`` (a question of its own) or ``{message}`` (a chat message: an attendee's own, or anyone's
        when the staff mark it)."""
        self._require_open()
        has_text, has_msg = "text" in params, "message" in params
        if has_text == has_msg:
            raise ControlError(
                "bad_request", "give either 'text' (a question) or 'message' (a chat message id)"
            )
        if m.person_key in self.chat.silenced:
            raise ControlError("silenced", "the host has silenced you in this chat", 403)
        if has_text:
            text = clean_text(params["text"])
            asker, person, audience, mid = who(m), m.person_key, EVERYONE, None
        else:
            mid = params["message"]
            if not isinstance(mid, str) or not mid:
                raise ControlError("bad_request", "'message' must be a chat message id")
            msg, audience = self._message(mid)
            asker = dict(msg["from"])
            if asker.get("id") != m.id and not is_staff(m):
                raise ControlError("forbidden", "attendees mark their own messages as questions", 403)
            if mid in self.by_message:
                raise ControlError("already_asked", "this message is already a question", 409)
            text = msg["text"]
            person = self._person(asker.get("id", ""), audience, m)
        if self.n_open >= MAX_OPEN or len(self.questions) >= MAX_KEPT:
            raise ControlError(
                "too_many_questions", f"this room's Q&A holds at most {MAX_OPEN} open questions", 409
            )
        wait = self.budget.spend(m.person_key)
        if wait:
            raise ControlError(
                "rate_limited",
                f"too many questions: wait {wait:.1f} s",
                429,
                {"Retry-After": str(int(wait) + 1)},
            )
        q = Question("", text, asker, person, int(time.time() * 1000), audience, mid)
        entry = self.log.append("question", {}, audience, {"person": person} if person else None)
        q.id = f"q{entry.seq}"
        entry.data.update(q.wire())
        self.questions[q.id] = q
        self.n_open += 1
        if mid is not None:
            self.by_message[mid] = q.id
        if person:
            self.mine.setdefault(person, []).append(q.id)
        self._changed(q, "asked")
        return {"id": q.id, "seq": entry.seq}

    def _message(self, mid: str) -> tuple[dict[str, Any], Audience]:
        for msg in self.chat.public:
            if msg["id"] == mid:
                return msg, EVERYONE
        for aud, msg in self.chat.private:
            if msg["id"] == mid:
                return msg, aud
        raise ControlError("not_found", "no such chat message (or too old to mark here)", 404)

    def _person(self, pid: str, audience: Audience, m: Member) -> str:
        """The person key of a message's sender: the one who marks it, the sender if still here, or (a
        private message) the person of its audience."""
        if pid == m.id:
            return m.person_key
        sender = self.find(pid)
        if sender is not None:
            return sender.person_key
        return audience[1] if audience != EVERYONE else ""

    def _question(self, m: Member, params: dict[str, Any]) -> Question:
        qid = _id(params)
        q = self.questions.get(qid)
        if q is None or not reaches(q.audience, m.person_key, m.role):
            raise ControlError("not_found", "no such question", 404)
        return q

    def upvote(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{id, up?}``: one vote per person; idempotent; ``up: false`` takes it back."""
        self._require_open()
        q = self._question(m, params)
        up = params.get("up", True)
        if not isinstance(up, bool):
            raise ControlError("bad_request", "'up' must be true or false")
        if q.state != "open":
            raise ControlError("not_open", f"this question is {q.state}: votes are for open questions", 409)
        mine = self.voted.get(m.person_key)
        if up != (mine is not None and q.id in mine):
            wait = self.votes_budget.spend(m.person_key)
            if wait:
                raise ControlError("rate_limited", f"too many votes: wait {wait:.1f} s", 429)
            if up:
                q.voters.add(m.person_key)
                self.voted.setdefault(m.person_key, set()).add(q.id)
            else:
                q.voters.discard(m.person_key)
                if mine is not None:
                    mine.discard(q.id)
            self._votes_changed.setdefault(q.id, {})[m.person_key] = up
        return {"id": q.id, "votes": len(q.voters), "voted": up}

    def answer(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        require_staff(m, "mark questions answered")
        return self._set_state(m, params, "answered")

    def dismiss(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        require_staff(m, "dismiss questions")
        return self._set_state(m, params, "dismissed")

    def _set_state(self, m: Member, params: dict[str, Any], state: str) -> dict[str, Any]:
        self._require_open()
        q = self._question(m, params)
        if q.state != state:
            self.n_open += (state == "open") - (q.state == "open")
            q.state = state
            if state == "dismissed" and self.published is q:
                self._take_down()
            self.log.append("question", q.wire(), q.audience)
            self._changed(q, state)
        return {"id": q.id, "state": state}

    # ---- the main window ----

    def publish(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        """``{id}``: the question on everyone's main window (and in late joiners' snapshots)."""
        require_host(m, "publish questions")
        self._require_open()
        q = self._question(m, params)
        if q.state == "dismissed":
            raise ControlError("dismissed", "a dismissed question cannot be published", 409)
        self.published = q
        entry = self.log.append("questionPublished", {"question": q.wire()})
        self._changed(q, "published")
        if self.record is not None:
            self.record(
                "questionPublished", {"question": q.wire(), "by": who(m), "at": int(time.time() * 1000)}
            )
        return {"id": q.id, "seq": entry.seq}

    def unpublish(self, m: Member, params: dict[str, Any]) -> dict[str, Any]:
        require_host(m, "take questions down")
        if self.published is not None:
            self._take_down()
        return {}

    def _take_down(self) -> None:
        self.published = None
        self.log.append("questionPublished", {"question": None})

    # ---- bookkeeping ----

    def _changed(self, q: Question, what: str) -> None:
        self._public = None
        if self.record is not None:
            self.record("question", {**q.wire(), "event": what})

    def _record_all(self, what: str) -> None:
        if self.record is not None:
            for q in self.questions.values():
                self.record("question", {**q.wire(), "event": what})

    def ended(self) -> None:
        """The session ended with Q&A open: each question's final state is recorded, as at closing."""
        if self.open:
            self._record_all("ended")

    def tick(self) -> None:
        """The counts that changed this tick, one event per audience (not one per vote)."""
        if not self._votes_changed:
            return
        groups: dict[Audience, tuple[dict[str, int], dict[str, dict[str, bool]]]] = {}
        for qid, given in self._votes_changed.items():
            q = self.questions.get(qid)
            if q is not None:
                votes, voters = groups.setdefault(q.audience, ({}, {}))
                votes[qid], voters[qid] = len(q.voters), given
        self._votes_changed = {}
        for audience, (votes, voters) in groups.items():  # who voted: for the edges' copies only
            self.log.append("questionVotes", {"votes": votes}, audience, {"voters": voters})
        self._public = None

    # ---- issue 19: the standby copy on an edge ----

    def mirror(self, entry: Entry) -> None:
        d, sb = entry.data, entry.standby or {}
        self._public = None
        if entry.kind == "qa":
            if d.get("open"):
                self.open = True
            else:
                self._clear()
        elif entry.kind == "question":
            q = self.questions.get(str(d.get("id")))
            if q is None:
                self._mirror_asked(d, sb, entry.audience)
            elif d.get("state") in STATES and d["state"] != q.state:
                self.n_open += (d["state"] == "open") - (q.state == "open")
                q.state = d["state"]
        elif entry.kind == "questionVotes":
            for qid, given in (sb.get("voters") or {}).items():
                q = self.questions.get(qid)
                if q is None:
                    continue
                for person, up in given.items():
                    if up:
                        q.voters.add(person)
                        self.voted.setdefault(person, set()).add(qid)
                    else:
                        q.voters.discard(person)
                        self.voted.get(person, set()).discard(qid)
        elif entry.kind == "questionPublished":
            shown = d.get("question")
            self.published = self.questions.get(str(shown.get("id"))) if isinstance(shown, dict) else None

    def _mirror_asked(self, d: dict[str, Any], sb: dict[str, Any], audience: Audience) -> None:
        person = sb.get("person") or (audience[1] if audience != EVERYONE else "")
        asker = d.get("from")
        q = Question(
            str(d["id"]),
            str(d.get("text", "")),
            dict(asker) if isinstance(asker, dict) else {},
            str(person),
            int(d.get("at") or 0),
            audience,
            d.get("message"),
            d["state"] if d.get("state") in STATES else "open",
        )
        self.questions[q.id] = q
        self.n_open += q.state == "open"
        if q.message is not None:
            self.by_message[q.message] = q.id
        if q.person:
            self.mine.setdefault(q.person, []).append(q.id)

    def _shared(self) -> list[dict[str, Any]]:
        """The public questions an attendee sees (not dismissed; the :data:`SNAPSHOT` most upvoted), built
        once for every attendee who joins until something changes."""
        if self._public is None:
            shown = [q for q in self.questions.values() if q.audience == EVERYONE and q.state != "dismissed"]
            if len(shown) > SNAPSHOT:
                top = sorted(shown, key=lambda q: len(q.voters), reverse=True)[:SNAPSHOT]
                keep = {q.id for q in top}
                shown = [q for q in shown if q.id in keep]
            self._public = [q.wire() for q in shown]
        return self._public

    def snapshot(self, m: Member) -> dict[str, Any]:
        voted = sorted(self.voted.get(m.person_key, ()))
        published = self.published.wire() if self.published is not None else None
        if is_staff(m):
            questions = [q.wire() for q in self.questions.values()]
        else:
            shared = self._shared()
            seen = {q["id"] for q in shared}
            own = [
                self.questions[i].wire()
                for i in self.mine.get(m.person_key, ())
                if i in self.questions and i not in seen
            ]
            questions = sorted([*shared, *own], key=lambda q: int(q["id"][1:])) if own else shared
        snap = {"open": self.open, "questions": questions, "voted": voted, "published": published}
        if not is_staff(
            m
        ):  # which are theirs, whatever connection asked them (a dismissed one stays on their list)
            snap["mine"] = [i for i in self.mine.get(m.person_key, ()) if i in self.questions]
        return snap
