"""/api/v1 operations of an event session's chat history (issue 16, R-INT-1): the messages kept with the
session, as JSON pages and as CSV and XLSX downloads (mediaserver.events.chat_history); and its Q&A list,
exported with the chat (R-INT-2; mediaserver.events.qa_history). The event's visibility
rules apply (R-ACC-2, -3): another account's event or session is a 404."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from pydantic import Field

from mediaserver import exports
from mediaserver.errors import ControlError
from mediaserver.events import chat_history, lifecycle, qa_history, room_sessions
from mediaserver.exports import Export
from signaling.api.framework import API, Ctx, Out, Page, page

if TYPE_CHECKING:
    from mediaserver.store.models import ChatMessage, Event, EventSession, SessionQuestion

DELETED_QUERY = (
    {
        "name": "deleted",
        "in": "query",
        "required": False,
        "description": "false: leave out the messages the host deleted (by default they are in, marked)",
        "schema": {"type": "boolean", "default": True},
    },
)


class ChatSender(Out):
    id: str = Field(description="the participant's id in the room")
    name: str
    role: str


class ChatMessageOut(Out):
    id: int
    message_id: str = Field(description="the room's id of the message (m<seq>)")
    sent_at: dt.datetime
    sender: ChatSender = Field(alias="from")
    text: str
    private: bool = Field(description="an attendee's private message to the staff, or the staff's reply")
    to: str | None = Field(description="a private message's recipient: 'staff' or the attendee's name")
    deleted_at: dt.datetime | None = Field(description="the host deleted it in the room (kept, marked)")


class ChatPage(Page[ChatMessageOut]):
    pass


def _deleted(ctx: Ctx) -> bool:
    raw = ctx.request.query.get("deleted", "true")
    if raw not in ("true", "false"):
        raise ControlError("bad_request", "'deleted' must be true or false")
    return raw == "true"


async def _session(ctx: Ctx) -> tuple[Event, EventSession]:
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    return ev, await room_sessions.session_of(ctx.s, ev, ctx.id("sessionId"))


def _out(m: ChatMessage) -> ChatMessageOut:
    return ChatMessageOut.model_validate(
        {
            "id": m.id,
            "message_id": m.message_id,
            "sent_at": m.sent_at,
            "from": ChatSender(id=m.sender_id, name=m.sender_name, role=m.sender_role),
            "text": m.text,
            "private": m.private,
            "to": m.to_name,
            "deleted_at": m.deleted_at,
        }
    )


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/chat",
    "the chat of one session of an event, oldest first: public and private messages, deleted ones "
    "marked (R-INT-1; sessions: GET /api/v1/history)",
    "events",
    response=ChatPage,
    paginated=True,
    query=DELETED_QUERY,
)
async def session_chat(ctx: Ctx) -> dict[str, Any]:
    ev, sess = await _session(ctx)
    offset, limit = ctx.page()
    rows, total = await chat_history.messages(ctx.s, ev, sess, offset, limit, _deleted(ctx))
    return page([_out(m) for m in rows], total, offset, limit)


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/chat.csv",
    "the session's chat as CSV (UTF-8 with BOM; columns sent_at, name, role, to, private, deleted, "
    "text); cells that a spreadsheet would run as a formula start with a ' (R-INT-1)",
    "events",
    query=DELETED_QUERY,
    produces=(exports.CSV,),
)
async def session_chat_csv(ctx: Ctx) -> Export:
    ev, sess = await _session(ctx)
    return await chat_history.export(ctx.s, ev, sess, "csv", _deleted(ctx))


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/chat.xlsx",
    "the session's chat as an Excel workbook (the CSV's columns; times in UTC; texts are string "
    "cells, never formulas) (R-INT-1)",
    "events",
    query=DELETED_QUERY,
    produces=(exports.XLSX,),
)
async def session_chat_xlsx(ctx: Ctx) -> Export:
    ev, sess = await _session(ctx)
    return await chat_history.export(ctx.s, ev, sess, "xlsx", _deleted(ctx))


# ---------------------------------------------------------------- the Q&A list (R-INT-2)


class QuestionOut(Out):
    id: int
    question_id: str = Field(description="the room's id of the question (q<seq>)")
    message_id: str | None = Field(description="the chat message it was made of, if any")
    asked_at: dt.datetime
    sender: ChatSender = Field(alias="from", description="who asked (or whose message it was)")
    text: str
    state: str = Field(description="open, answered or dismissed: the final state once Q&A closed")
    votes: int = Field(description="upvotes (one per person), as last recorded: final once Q&A closed")
    private: bool = Field(description="made of a private message: seen by the asker and the staff only")
    published_at: dt.datetime | None = Field(description="when the host last put it on the main window")
    closed_at: dt.datetime | None = Field(description="when Q&A closed or the session ended with it open")


class QuestionPage(Page[QuestionOut]):
    pass


def _question(q: SessionQuestion) -> QuestionOut:
    return QuestionOut.model_validate(
        {
            "id": q.id,
            "question_id": q.question_id,
            "message_id": q.message_id,
            "asked_at": q.asked_at,
            "from": ChatSender(id=q.asker_id, name=q.asker_name, role=q.asker_role),
            "text": q.text,
            "state": q.state,
            "votes": q.votes,
            "private": q.private,
            "published_at": q.published_at,
            "closed_at": q.closed_at,
        }
    )


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/questions",
    "the Q&A list of one session of an event, in the order asked, with each question's final state and "
    "votes (R-INT-2)",
    "events",
    response=QuestionPage,
    paginated=True,
)
async def session_questions(ctx: Ctx) -> dict[str, Any]:
    ev, sess = await _session(ctx)
    offset, limit = ctx.page()
    rows, total = await qa_history.questions(ctx.s, ev, sess, offset, limit)
    return page([_question(q) for q in rows], total, offset, limit)


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/questions.csv",
    "the session's Q&A list as CSV (UTF-8 with BOM; columns asked_at, name, role, text, state, votes, "
    "private, published); cells that a spreadsheet would run as a formula start with a ' (R-INT-2)",
    "events",
    produces=(exports.CSV,),
)
async def session_questions_csv(ctx: Ctx) -> Export:
    ev, sess = await _session(ctx)
    return await qa_history.export(ctx.s, ev, sess, "csv")


@API(
    "GET",
    "/api/v1/events/{id}/sessions/{sessionId}/questions.xlsx",
    "the session's Q&A list as an Excel workbook (the CSV's columns; times in UTC; texts are string "
    "cells, never formulas) (R-INT-2)",
    "events",
    produces=(exports.XLSX,),
)
async def session_questions_xlsx(ctx: Ctx) -> Export:
    ev, sess = await _session(ctx)
    return await qa_history.export(ctx.s, ev, sess, "xlsx")
