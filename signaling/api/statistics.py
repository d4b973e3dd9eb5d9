"""/api/v1 statistics (R-STAT-1): the account's (events per month, meetings and webinars, attendees, their
countries and devices), an event's attendees and totals, and their CSV and XLSX export; and the attendees'
rating of an event from the thank-you page and e-mail. The rules and queries are
mediaserver.events.statistics and mediaserver.events.ratings; the events' visibility applies (R-ACC-2, -3)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import Field

from mediaserver import exports
from mediaserver.events import ratings, statistics
from mediaserver.exports import Export
from signaling.api.framework import API, Ctx, Model, Out, Text

MONTH = {"type": "string", "pattern": r"^\d{4}-\d{2}$"}
RANGE_QUERY = (
    {
        "name": "from",
        "in": "query",
        "required": False,
        "description": "the first month, YYYY-MM (default: 11 months before 'to')",
        "schema": MONTH,
    },
    {
        "name": "to",
        "in": "query",
        "required": False,
        "description": "the last month, YYYY-MM (default: this month, UTC); at most 60 months in all",
        "schema": MONTH,
    },
)


class MonthOut(Out):
    month: str = Field(description="YYYY-MM (UTC)")
    events: int = Field(description="events with a session started in the month")
    meetings: int
    webinars: int


class AccountStats(Out):
    from_: str = Field(alias="from")
    to: str
    months: list[MonthOut]
    events: int = Field(description="events held in the range (a session started in it)")
    meetings: int
    webinars: int
    attendees: int = Field(description="people who joined (one per event and e-mail; not the host)")
    views: int = Field(description="on-demand views (R-AUTO-2)")
    countries: dict[str, int] = Field(description="attendees by country (ISO 3166-1 alpha-2, or unknown)")
    devices: dict[str, int] = Field(description="attendees by device: desktop, phone, tablet, unknown")
    browsers: dict[str, int]


class PollAnswerOut(Out):
    poll: str
    kind: str = Field(description="poll or test")
    launch_id: int
    answers: list[dict[str, Any]] = Field(description="as the room took them (question id, options or text)")
    text: str = Field(description="the answers as text: 'question: answer; ...'")
    score: float | None = Field(description="a test's score")
    answered_at: dt.datetime


class AttendeeOut(Out):
    name: str
    email: str
    role: str
    joined_at: dt.datetime = Field(description="their first join")
    left_at: dt.datetime | None = Field(description="their last leave (or now, while in the room)")
    seconds_attended: int = Field(description="the time they were in the room, all their joins added up")
    browser: str | None
    os: str | None
    device: str | None = Field(description="desktop, phone or tablet")
    country: str | None = Field(description="ISO 3166-1 alpha-2, from their address (not kept)")
    rating: int | None = Field(description="their rating of the event, 1-5")
    comment: str
    questions: int = Field(description="questions they asked (Q&A)")
    chat_messages: int
    poll_answers: list[PollAnswerOut]


class EventRef(Out):
    id: int
    name: str
    kind: str
    room_type: str
    status: str


class EventTotals(Out):
    attendees: int
    seconds_attended: int
    average_seconds_attended: int
    ratings: int
    average_rating: float | None
    questions: int
    chat_messages: int
    poll_answers: int
    countries: dict[str, int]
    devices: dict[str, int]


class EventStats(Out):
    event: EventRef
    totals: EventTotals
    attendees: list[AttendeeOut]


class RatingIn(Model):
    token: Annotated[str, Field(min_length=1, max_length=1000)] = Field(
        description="the rating token: the join's ratingToken, or the thank-you e-mail's /rate#<token> link"
    )
    stars: Annotated[int, Field(ge=1, le=5, strict=True)] = Field(description="1 (poor) to 5 (excellent)")
    comment: Annotated[Text, Field(max_length=ratings.COMMENT_MAX)] = ""


class RatingOut(Out):
    event_name: str
    stars: int
    comment: str
    rated_at: dt.datetime
    replaced: bool = Field(description="it replaced the person's earlier rating of the event")


@API(
    "GET",
    "/api/v1/statistics",
    "the account's statistics over a range of months: events per month, meetings and webinars, "
    "attendees, their countries, devices and browsers, on-demand views (R-STAT-1)",
    "statistics",
    response=AccountStats,
    query=RANGE_QUERY,
    errors=(400,),
)
async def account_statistics(ctx: Ctx) -> AccountStats:
    q = ctx.request.query
    got = await statistics.account(ctx.s, ctx.user, q.get("from"), q.get("to"))
    return AccountStats.model_validate(got)


def _attendee(x: statistics.Person) -> AttendeeOut:
    return AttendeeOut(
        name=x.name,
        email=x.email,
        role=x.role,
        joined_at=x.joined_at,
        left_at=x.left_at,
        seconds_attended=x.seconds,
        browser=x.browser,
        os=x.os,
        device=x.device,
        country=x.country,
        rating=x.rating,
        comment=x.comment,
        questions=x.questions,
        chat_messages=x.chat_messages,
        poll_answers=[PollAnswerOut.model_validate(a) for a in x.answers],
    )


@API(
    "GET",
    "/api/v1/events/{id}/statistics",
    "an event's attendees (e-mail, join and leave times, time attended, browser, OS, device, country, "
    "rating, poll and test answers, Q&A and chat counts) and totals (average rating) (R-STAT-1)",
    "statistics",
    response=EventStats,
)
async def event_statistics(ctx: Ctx) -> EventStats:
    ev, people, totals = await statistics.event(ctx.s, ctx.user, ctx.id())
    return EventStats(
        event=EventRef.model_validate(ev),
        totals=EventTotals.model_validate(totals),
        attendees=[_attendee(x) for x in people],
    )


@API(
    "GET",
    "/api/v1/events/{id}/statistics/attendees.csv",
    "the event's attendee table as CSV (UTF-8 with BOM; a formula-like cell starts with ') (R-STAT-1)",
    "statistics",
    produces=(exports.CSV,),
)
async def attendees_csv(ctx: Ctx) -> Export:
    return await statistics.export(ctx.s, ctx.user, ctx.id(), "csv")


@API(
    "GET",
    "/api/v1/events/{id}/statistics/attendees.xlsx",
    "the event's attendee table as an Excel workbook (times in UTC; texts are string cells) (R-STAT-1)",
    "statistics",
    produces=(exports.XLSX,),
)
async def attendees_xlsx(ctx: Ctx) -> Export:
    return await statistics.export(ctx.s, ctx.user, ctx.id(), "xlsx")


@API(
    "POST",
    "/api/v1/public/ratings",
    "an attendee rates the event, 1-5 and an optional comment, with their rating token (the thank-you "
    "page's form, the thank-you e-mail's link); a second rating replaces the first; a budget per client "
    "address (rate_limit_rating) (R-STAT-1, R-STAT-3)",
    "public",
    body=RatingIn,
    response=RatingOut,
    auth=False,
    idempotent=True,  # the first rating creates one: a retried request with its key is answered again
    errors=(403, 404, 429),
)
async def rate(ctx: Ctx) -> RatingOut:
    b: RatingIn = ctx.body
    got = await ratings.rate(ctx.s, ctx.caller, ctx.settings.secret, b.token, b.stars, b.comment)
    r = got.rating
    return RatingOut(
        event_name=got.event.name,
        stars=r.stars,
        comment=r.comment,
        rated_at=r.rated_at,
        replaced=got.replaced,
    )
