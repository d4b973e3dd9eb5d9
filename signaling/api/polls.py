"""/api/v1 operations of an event's polls and tests (R-INT-3, R-STAT-1, issue 16): saved before the event or
during it, launched in the room (the WebSocket's ``poll.launch``), their results and the answers per attendee,
exported as CSV or XLSX. The rules are mediaserver.interaction.polls_store's."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import Field

from mediaserver import exports
from mediaserver.exports import Export
from mediaserver.interaction import polls_store
from mediaserver.store.models import Poll
from signaling.api.framework import API, Ctx, Model, Out, Page, Text, page

Id = Annotated[int, Field(ge=1, le=2**31 - 1)]


class OptionIn(Model):
    text: Annotated[Text, Field(max_length=500)] = ""
    image_file_id: Id | None = Field(None, description="an image of the account's file library (PNG or JPG)")
    correct: bool = Field(False, description="a test's correct option (a single-choice question has one)")


class QuestionIn(Model):
    text: Annotated[Text, Field(min_length=1, max_length=1000)]
    kind: Literal["single", "multiple", "short"]
    points: Annotated[int, Field(ge=1, le=100)] = Field(1, description="a test's points for a right answer")
    options: Annotated[list[OptionIn], Field(max_length=polls_store.MAX_OPTIONS)] = Field(
        default_factory=list, description="single and multiple choice: 2 to 20 options; short answer: none"
    )
    accepted: Annotated[list[Annotated[Text, Field(max_length=500)]], Field(max_length=20)] = Field(
        default_factory=list, description="a test's accepted short answers (compared ignoring case)"
    )


class PollIn(Model):
    name: Annotated[Text, Field(min_length=1, max_length=200)]
    kind: Literal["poll", "test"]
    questions: Annotated[list[QuestionIn], Field(min_length=1, max_length=polls_store.MAX_QUESTIONS)]


class OptionOut(Out):
    id: int
    text: str
    image_file_id: int | None = None
    correct: bool


class QuestionOut(Out):
    id: int
    text: str
    kind: str
    points: int
    options: list[OptionOut]
    accepted: list[str]


class PollOut(Out):
    id: int
    event_id: int
    name: str
    kind: str
    questions: list[QuestionOut]
    created_at: dt.datetime
    updated_at: dt.datetime


class OptionResult(Out):
    id: int
    text: str
    count: int
    correct: bool | None = Field(None, description="tests: whether this option is a correct one")


class QuestionResult(Out):
    id: int
    text: str
    kind: str
    answered: int = Field(description="how many answered this question")
    options: list[OptionResult]


class LaunchResult(Out):
    id: int = Field(description="the launch (one live run of the poll)")
    session_id: int | None
    started_at: dt.datetime
    closed_at: dt.datetime | None
    respondents: int
    questions: list[QuestionResult]
    max_score: float | None = None
    average_score: float | None = None


class PollResults(Out):
    poll: PollOut
    launches: list[LaunchResult]


class AnswerItem(Out):
    question: int
    options: list[int] | None = None
    text: str | None = None


class AnswerOut(Out):
    launch_id: int
    name: str
    email: str
    answers: list[AnswerItem]
    score: float | None
    answered_at: dt.datetime


class PollPage(Page[PollOut]):
    pass


class AnswerPage(Page[AnswerOut]):
    pass


def _out(poll: Poll) -> PollOut:
    return PollOut.model_validate(poll)


def _data(ctx: Ctx) -> dict[str, Any]:
    body: PollIn = ctx.body
    data: dict[str, Any] = body.model_dump(mode="json", by_alias=True)
    return data


BASE = "/api/v1/events/{id}/polls"


@API("GET", BASE, "the event's polls and tests (R-INT-3)", "polls", response=PollPage, paginated=True)
async def list_polls(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total = await polls_store.list_polls(ctx.s, ctx.user, ctx.id(), offset, limit)
    return page([_out(p) for p in rows], total, offset, limit)


@API(
    "POST",
    BASE,
    "save a poll or test for the event, before it or during it (R-INT-3)",
    "polls",
    body=PollIn,
    response=PollOut,
    status=201,
    errors=(409, 415),
)
async def create_poll(ctx: Ctx) -> PollOut:
    return _out(await polls_store.create_poll(ctx.s, ctx.user, ctx.id(), _data(ctx)))


@API("GET", BASE + "/{pollId}", "one poll or test, with its correct answers", "polls", response=PollOut)
async def get_poll(ctx: Ctx) -> PollOut:
    return _out(await polls_store.get_poll(ctx.s, ctx.user, ctx.id(), ctx.id("pollId")))


@API(
    "PUT",
    BASE + "/{pollId}",
    "replace a poll's name, kind and questions (launches made keep their own copy)",
    "polls",
    body=PollIn,
    response=PollOut,
    errors=(409, 415),
)
async def put_poll(ctx: Ctx) -> PollOut:
    return _out(await polls_store.update_poll(ctx.s, ctx.user, ctx.id(), ctx.id("pollId"), _data(ctx)))


@API("DELETE", BASE + "/{pollId}", "delete a poll with its results", "polls", status=204)
async def delete_poll(ctx: Ctx) -> None:
    await polls_store.delete_poll(ctx.s, ctx.user, ctx.id(), ctx.id("pollId"))


@API(
    "GET",
    BASE + "/{pollId}/results",
    "the results of each launch: per option counts, respondents, a test's scores (R-INT-3, R-STAT-1)",
    "polls",
    response=PollResults,
)
async def poll_results(ctx: Ctx) -> PollResults:
    got = await polls_store.results(ctx.s, ctx.user, ctx.id(), ctx.id("pollId"))
    return PollResults(
        poll=_out(got["poll"]), launches=[LaunchResult.model_validate(x) for x in got["launches"]]
    )


@API(
    "GET",
    BASE + "/{pollId}/answers",
    "the answers per attendee, with name, e-mail and a test's score (R-STAT-1)",
    "polls",
    response=AnswerPage,
    paginated=True,
)
async def poll_answers(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total = await polls_store.answers(ctx.s, ctx.user, ctx.id(), ctx.id("pollId"), offset, limit)
    return page([AnswerOut.model_validate(a) for a in rows], total, offset, limit)


@API(
    "GET",
    BASE + "/{pollId}/export",
    "the answers per attendee as a CSV or XLSX file (R-STAT-1)",
    "polls",
    produces=(exports.CSV, exports.XLSX),
    errors=(400,),
    query=(
        {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["csv", "xlsx"], "default": "csv"},
        },
    ),
)
async def export_poll(ctx: Ctx) -> Export:
    fmt = ctx.request.query.get("format", "csv")
    return await polls_store.export(ctx.s, ctx.user, ctx.id(), ctx.id("pollId"), fmt)
