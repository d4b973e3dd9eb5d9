"""/api/v1 operations of events (R-ROOM-4, -5, -6, -9..-12, R-STAT-2, -3): planning, going live, invitations,
registration and the public join that turns an event's access rules into a room join token."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from mediaserver.errors import not_found
from mediaserver.events import (
    automation,
    client_profile,
    entry,
    invitations,
    lifecycle,
    listings,
    qa_history,
    registration,
)
from mediaserver.rtc import tokens
from signaling import keys
from signaling.api.accounts import Branding, Email, Url
from signaling.api.framework import API, Ctx, Model, Out, Page, Text, page

if TYPE_CHECKING:
    from mediaserver.store.models import Event, Invitation


def _sane_time(value: dt.datetime) -> dt.datetime:
    if not 2000 <= value.year <= 2200:
        raise ValueError("must be between the years 2000 and 2200")
    return value.astimezone(dt.timezone.utc)


When = Annotated[AwareDatetime, AfterValidator(_sane_time)]
FieldName = Annotated[str, Field(pattern=r"^[a-zA-Z][a-zA-Z0-9_]{0,39}$")]


class CustomField(Model):
    """A registration field added to the defaults (first name, last name, e-mail; R-ROOM-9)."""

    name: FieldName
    label: Annotated[Text, Field(min_length=1, max_length=100)]
    type: Literal["text", "textarea", "email", "phone", "select", "checkbox"] = "text"
    required: bool = False
    options: Annotated[list[Annotated[Text, Field(max_length=100)]], Field(max_length=50)] = Field(
        default_factory=list
    )

    @model_validator(mode="after")
    def _options(self) -> CustomField:
        if self.name in registration.DEFAULT_FIELDS:
            raise ValueError(f"{self.name!r} is a default field")
        if self.type == "select" and not self.options:
            raise ValueError("a select field needs options")
        return self


class RegistrationSettings(Model):
    enabled: bool = False
    fields: Annotated[list[CustomField], Field(max_length=20)] = Field(default_factory=list)
    redirect_url: Url | None = None

    @model_validator(mode="after")
    def _unique(self) -> RegistrationSettings:
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError("field names must be unique")
        return self


class FormField(Out):
    """One field of the registration form: the defaults first (firstName, lastName, email), then the custom
    ones in the organiser's order (R-ROOM-9). The room page draws its form from these."""

    name: str
    label: str
    type: Literal["text", "textarea", "email", "phone", "select", "checkbox"] = "text"
    required: bool = False
    options: list[str] = Field(default_factory=list)


class RegistrationForm(Out):
    enabled: bool
    fields: list[FormField]
    redirect_url: str | None = Field(None, description="where the person goes after registering (R-ROOM-9)")


class TimelineItem(Model):
    """R-AUTO-1: a component of an automated event's timeline, from ``start`` for ``duration`` seconds
    after the session's start. A recording, video or presentation shows a file of the account's library
    (``fileId``: a video; a PDF, PNG or JPG slide); a call to action shows ``text`` with a button
    (``buttonText``) to ``url``; a poll or slide may carry ``text``. The room page plays it for everyone at
    the same moment (mediaserver.events.automation)."""

    component: Literal["recording", "video", "presentation", "poll", "call_to_action", "chat"]
    start: Annotated[int, Field(ge=0, le=86400)]
    duration: Annotated[int, Field(ge=1, le=86400)]
    ref: Annotated[Text, Field(max_length=200)] = Field("", description="a label of the organiser's own")
    file_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None, description="recording, video, presentation: the library file shown"
    )
    text: Annotated[Text, Field(max_length=2000)] | None = Field(
        None,
        description="call to action, poll, presentation: the text shown (a call to action's: at most 54 "
        "characters, spaces included, R-INT-4; 400 too_long over it)",
    )
    url: Url | None = Field(None, description="call to action: where its button leads")
    button_text: Annotated[Text, Field(max_length=60)] | None = Field(
        None, description="call to action: the button's label"
    )
    poll_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None,
        description="poll: one of the event's polls or tests (saved first), launched in the room for the "
        "item's time (R-INT-3)",
    )


class EventOptions(Model):
    timeline: Annotated[list[TimelineItem], Field(max_length=200)] = Field(default_factory=list)
    chat: bool = True
    allow_seek: bool = True  # on demand (R-AUTO-2)
    allow_messages: bool = True
    lead_capture: bool = Field(
        False,
        description="on-demand viewers' e-mail addresses land in a contact group "
        "of the address book (R-REC-5)",
    )


Access = Literal["open", "password", "token", "paid"]
Price = Annotated[str, Field(pattern=r"^[0-9]{1,6}(\.[0-9]{1,2})?$")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class EventPatch(Model):
    name: Annotated[Text, Field(min_length=1, max_length=200)] | None = None
    room_type: Literal["webinar", "meeting"] | None = None
    starts_at: When | None = None
    duration_minutes: Annotated[int, Field(ge=1, le=1440)] | None = None
    timezone: Annotated[Text, Field(max_length=64)] | None = None
    language: Literal["en", "ru"] | None = None
    agenda: Annotated[Text, Field(max_length=5000)] | None = None
    lobby_message: Annotated[Text, Field(max_length=2000)] | None = None
    access: Access | None = None
    password: Annotated[Text, Field(min_length=4, max_length=128)] | None = None
    ticket_price: Price | None = None
    ticket_currency: Currency | None = None
    dial_in: bool | None = None
    registration: RegistrationSettings | None = None
    branding: Branding | None = None
    thank_you_url: Url | None = Field(
        None,
        description="where attendees go after the event (R-STAT-3); null in a PATCH: the server's own "
        "thank-you page again",
    )
    options: EventOptions | None = None
    video_file_id: Annotated[int, Field(ge=1, le=2**31 - 1)] | None = Field(
        None,
        description="on-demand events: the video they play, a finished video file of the account's file "
        "library (R-ROOM-4, R-AUTO-2, R-FILE-4); null detaches it",
    )


class EventIn(EventPatch):
    kind: Literal["instant", "permanent", "scheduled", "automated", "on_demand"]
    name: Annotated[Text, Field(min_length=1, max_length=200)]


class AutomationFailure(Out):
    code: str = Field(description="live_event_running (R-ROOM-5), missed (the server was down), ...")
    message: str
    failed_at: dt.datetime


class AutomationInfo(Out):
    """R-AUTO-1: how an automated event plays."""

    length: int = Field(
        description="seconds from the start to the end of the timeline (without components: the "
        "duration); the event ends then"
    )
    failure: AutomationFailure | None = Field(
        None,
        description="set while the status is failed: why the start "
        "did not happen; a new startsAt plans it again",
    )


class EventOut(Out):
    id: int
    kind: str
    status: Literal["planned", "live", "done", "failed"] = Field(
        description="failed: an automated event that could not start at its time"
    )
    name: str
    room_type: str
    room_id: str
    url: str
    host_url: str
    starts_at: dt.datetime | None
    duration_minutes: int
    timezone: str
    language: str
    agenda: str
    lobby_message: str
    access: str
    ticket_price: str | None
    ticket_currency: str | None
    dial_in: bool
    registration: RegistrationForm
    branding: dict[str, Any]
    thank_you_url: str | None
    options: dict[str, Any]
    video_file_id: int | None = Field(None, description="the video an on-demand event plays (R-AUTO-2)")
    automation: AutomationInfo | None = Field(None, description="automated events (R-AUTO-1)")
    owner_id: int
    settings_version: int
    invitations_outdated: int = Field(
        description="invitees holding an invitation older than the settings: re-send (R-ROOM-10)"
    )
    created_at: dt.datetime


class EventChanged(EventOut):
    reminder: str | None = Field(None, description="set when invitations should be re-sent (R-ROOM-10)")


_E = TypeVar("_E", bound=EventOut)


class EventPage(Page[EventOut]):
    pass


async def _out(ctx: Ctx, ev: Event) -> EventOut:
    return await _as(EventOut, ctx, ev)


async def _as(cls: type[_E], ctx: Ctx, ev: Event, **extra: Any) -> _E:
    """The event as ``cls`` (EventOut, or a subclass with the ``extra`` fields)."""
    base = ctx.settings.public_url
    data = {
        c: getattr(ev, c)
        for c in (
            "id",
            "kind",
            "status",
            "name",
            "room_type",
            "room_id",
            "starts_at",
            "duration_minutes",
            "timezone",
            "language",
            "agenda",
            "lobby_message",
            "access",
            "ticket_price",
            "ticket_currency",
            "dial_in",
            "branding",
            "options",
            "video_file_id",
            "owner_id",
            "settings_version",
            "created_at",
        )
    }
    where = "watch" if ev.kind == "on_demand" else "room"  # R-AUTO-2: on-demand events are watched
    auto = None
    if ev.kind == "automated":
        failed = ev.automation if ev.status == "failed" and ev.automation else None
        auto = AutomationInfo(
            length=automation.length(ev),
            failure=AutomationFailure(
                code=failed.get("code", ""),
                message=failed.get("message", ""),
                failed_at=dt.datetime.fromisoformat(failed["failedAt"]),
            )
            if failed
            else None,
        )
    return cls(
        **data,
        url=f"{base}/{where}/{ev.room_id}",
        automation=auto,
        host_url=f"{base}/{where}/{ev.room_id}?host={ev.host_key}",
        registration=RegistrationForm.model_validate(registration.registration_form(ev)),
        thank_you_url=ev.thank_you_url or None,
        invitations_outdated=await lifecycle.outdated_invitations(ctx.s, ev),
        **extra,
    )


def _data(ctx: Ctx) -> dict[str, Any]:
    """The event's settings from the body; a new password as its hash, made before the transaction."""
    model: Model = ctx.body
    data: dict[str, Any] = model.model_dump(exclude_unset=True)
    for key in ("registration", "branding", "options"):
        if key in data and data[key] is not None:
            data[key] = getattr(model, key).model_dump(mode="json", by_alias=True, exclude_none=True)
    if data.pop("password", None) is not None:
        data["password_hash"] = ctx.password_hash
    return data


@API(
    "GET",
    "/api/v1/events",
    "the dashboard: planned and live events (R-ROOM-4)",
    "events",
    response=EventPage,
    paginated=True,
)
async def list_events(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total = await lifecycle.list_events(ctx.s, ctx.user, offset, limit)
    return page([await _out(ctx, e) for e in rows], total, offset, limit)


@API(
    "POST",
    "/api/v1/events",
    "plan an event: instant (live at once), permanent, scheduled, automated or on demand (R-ROOM-4)",
    "events",
    body=EventIn,
    response=EventOut,
    status=201,
    errors=(402, 404, 409, 415, 503),
    idempotent=True,
    password_field="password",
)
async def create_event(ctx: Ctx) -> EventOut:
    data = _data(ctx)
    ev = await lifecycle.create_event(ctx.s, ctx.user, data, ctx.app[keys.ROOMS])
    return await _out(ctx, ev)


@API("GET", "/api/v1/events/{id}", "one event", "events", response=EventOut)
async def get_event(ctx: Ctx) -> EventOut:
    return await _out(ctx, await lifecycle.get_event(ctx.s, ctx.user, ctx.id()))


@API(
    "PATCH",
    "/api/v1/events/{id}",
    "change an event's settings; the answer reminds to re-send invitations (R-ROOM-10)",
    "events",
    body=EventPatch,
    response=EventChanged,
    errors=(402, 403, 409, 415, 503),
    password_field="password",
)
async def patch_event(ctx: Ctx) -> EventChanged:
    ev, outdated = await lifecycle.update_event(
        ctx.s, ctx.user, ctx.id(), _data(ctx), ctx.settings.public_url
    )
    reminder = (
        f"the settings changed: {outdated} invitee(s) have the old invitation; re-send the invitations"
        if outdated
        else None
    )
    return await _as(EventChanged, ctx, ev, reminder=reminder)


@API(
    "DELETE",
    "/api/v1/events/{id}",
    "delete an event (a permanent one stays until deleted)",
    "events",
    status=204,
    errors=(403, 409),
)
async def delete_event(ctx: Ctx) -> None:
    await lifecycle.delete_event(ctx.s, ctx.user, ctx.id(), ctx.app[keys.PAYERS])


class Started(Out):
    event: EventOut
    session_id: int
    host_token: str = Field(description="a join token for the organiser (role host) for /ws")
    host_url: str


@API(
    "POST",
    "/api/v1/events/{id}/start",
    "go live: one live event per account unless the parallel-sessions add-on (R-ROOM-5)",
    "events",
    response=Started,
    errors=(402, 403, 409),
)
async def start_event(ctx: Ctx) -> Started:
    session = await lifecycle.start_event(ctx.s, ctx.user, ctx.id(), ctx.app[keys.ROOMS])
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    token = tokens.issue(
        ctx.settings.secret,
        ev.room_id,
        "host",
        ctx.user.user.name,
        f"user{ctx.user.user.id}",
        6 * 3600,
        adhoc=False,
    )
    out = await _out(ctx, ev)
    return Started(event=out, session_id=session.id, host_token=token, host_url=out.host_url)


@API(
    "POST",
    "/api/v1/events/{id}/end",
    "end the live session; attendees get the thank-you e-mail (R-STAT-3)",
    "events",
    response=EventOut,
    errors=(403, 409),
)
async def end_event(ctx: Ctx) -> EventOut:
    ev = await lifecycle.end_event(
        ctx.s, ctx.user, ctx.id(), ctx.app[keys.ROOMS], ctx.settings.public_url, secret=ctx.settings.secret
    )
    return await _out(ctx, ev)


class Embed(Out):
    html: str


@API(
    "GET",
    "/api/v1/events/{id}/embed",
    "the HTML snippet that embeds the event's room (R-ROOM-12)",
    "events",
    response=Embed,
)
async def embed(ctx: Ctx) -> Embed:
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    return Embed(html=registration.embed_snippet(ctx.settings.public_url, ev))


class HistoryItem(Out):
    session_id: int
    event_id: int
    name: str
    kind: str
    room_id: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    participants: int
    cta_clicks: int = Field(
        description="counted clicks on the session's calls to action: one per person and call to action "
        "(R-INT-4)"
    )


class HistoryPage(Page[HistoryItem]):
    pass


@API(
    "GET",
    "/api/v1/history",
    "sessions that ran, newest first (R-STAT-2)",
    "events",
    response=HistoryPage,
    paginated=True,
)
async def history(ctx: Ctx) -> dict[str, Any]:
    offset, limit = ctx.page()
    rows, total = await lifecycle.history(ctx.s, ctx.user, offset, limit)
    clicks = await qa_history.clicks_by_session(ctx.s, [sess.id for sess, _ in rows])
    items = [
        HistoryItem(
            session_id=sess.id,
            event_id=ev.id,
            name=ev.name,
            kind=ev.kind,
            room_id=ev.room_id,
            started_at=sess.started_at,
            ended_at=sess.ended_at,
            participants=sess.participants,
            cta_clicks=clicks.get(sess.id, 0),
        )
        for sess, ev in rows
    ]
    return page(items, total, offset, limit)


# ---------------------------------------------------------------- invitations (R-ROOM-10)


class InviteIn(Model):
    emails: Annotated[list[Email], Field(max_length=1000)] = Field(default_factory=list)
    contact_ids: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(max_length=1000)] = Field(
        default_factory=list
    )
    group_ids: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(max_length=100)] = Field(
        default_factory=list
    )
    role: Literal["attendee", "presenter"] = "attendee"


class ResendIn(Model):
    ids: Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(max_length=1000)] | None = Field(
        None, description="the invitations to re-send; none: all"
    )


class InvitationOut(Out):
    id: int
    email: str
    name: str
    role: str
    token: str
    link: str
    sent_count: int
    last_sent_at: dt.datetime | None
    outdated: bool
    declined_at: dt.datetime | None = Field(
        None,
        description="when the invitee pressed Decline in the e-mail (R-ROOM-11; webhook invitation.declined)",
    )


class InvitationList(Out):
    items: list[InvitationOut]
    total: int
    offset: int = 0
    limit: int = 0


def _inv(ctx: Ctx, ev: Event, inv: Invitation) -> InvitationOut:
    return InvitationOut(
        id=inv.id,
        email=inv.email,
        name=inv.name,
        role=inv.role,
        token=inv.token,
        link=invitations.join_link(ctx.settings.public_url, ev, inv),
        sent_count=inv.sent_count,
        last_sent_at=inv.last_sent_at,
        outdated=inv.sent_version < ev.settings_version,
        declined_at=inv.declined_at,
    )


@API(
    "POST",
    "/api/v1/events/{id}/invitations",
    "invite by e-mail: pasted addresses, contacts, groups; before or during the event (R-ROOM-10). At most "
    "the plan's invitations_per_hour invitation e-mails an hour (429 with Retry-After), and only in the name "
    "of a user whose address is confirmed (403; issue 14 finding 9)",
    "invitations",
    body=InviteIn,
    response=InvitationList,
    status=201,
    errors=(403, 409, 429),
    idempotent=True,
)
async def invite(ctx: Ctx) -> InvitationList:
    b: InviteIn = ctx.body
    rows = await invitations.invite(
        ctx.s, ctx.user, ctx.id(), b.emails, b.contact_ids, b.group_ids, b.role, ctx.settings
    )
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    return InvitationList(items=[_inv(ctx, ev, i) for i in rows], total=len(rows), limit=len(rows))


@API(
    "POST",
    "/api/v1/events/{id}/invitations/resend",
    "re-send invitations (after a settings change, R-ROOM-10); they count in the hourly cap (429)",
    "invitations",
    body=ResendIn,
    response=InvitationList,
    errors=(403, 409, 429),
)
async def resend(ctx: Ctx) -> InvitationList:
    rows = await invitations.resend(ctx.s, ctx.user, ctx.id(), ctx.body.ids, ctx.settings)
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    return InvitationList(items=[_inv(ctx, ev, i) for i in rows], total=len(rows), limit=len(rows))


@API(
    "GET",
    "/api/v1/events/{id}/invitations",
    "the event's invitations",
    "invitations",
    response=InvitationList,
    paginated=True,
)
async def list_invitations(ctx: Ctx) -> InvitationList:
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    offset, limit = ctx.page()
    rows, total = await listings.invitations(ctx.s, ev, offset, limit)
    return InvitationList(items=[_inv(ctx, ev, i) for i in rows], total=total, offset=offset, limit=limit)


class PreviewIn(Model):
    branding: Branding | None = Field(
        None, description="the event's branding as being edited (not saved); none: the event's own"
    )


class MailPreview(Out):
    subject: str
    text: str
    html: str


@API(
    "POST",
    "/api/v1/events/{id}/invitations/preview",
    "the invitation e-mail an attendee would get now, laid out by the given branding's e-mail blocks over "
    "the account's (R-ROOM-11); nothing is sent or stored",
    "invitations",
    body=PreviewIn,
    response=MailPreview,
)
async def preview_invitation(ctx: Ctx) -> MailPreview:
    b: PreviewIn = ctx.body
    brand = (
        None if b.branding is None else b.branding.model_dump(mode="json", by_alias=True, exclude_none=True)
    )
    subject, text, html = await invitations.preview(ctx.s, ctx.user, ctx.id(), brand, ctx.settings)
    return MailPreview(subject=subject, text=text, html=html)


# ---------------------------------------------------------------- registration (R-ROOM-9)


class RegistrationIn(Model):
    first_name: Annotated[Text, Field(min_length=1, max_length=120)]
    last_name: Annotated[Text, Field(min_length=1, max_length=120)]
    email: Email
    fields: dict[Annotated[str, Field(max_length=40)], Annotated[Text, Field(max_length=2000)] | bool] = (
        Field(default_factory=dict)
    )


class Registered(Out):
    id: int
    redirect_url: str | None


class RegistrationOut(Out):
    id: int
    email: str
    first_name: str
    last_name: str
    fields: dict[str, Any]
    created_at: dt.datetime


class RegistrationPage(Page[RegistrationOut]):
    pass


@API(
    "GET",
    "/api/v1/events/{id}/registrations",
    "who registered (R-ROOM-9)",
    "registration",
    response=RegistrationPage,
    paginated=True,
)
async def list_registrations(ctx: Ctx) -> dict[str, Any]:
    ev = await lifecycle.get_event(ctx.s, ctx.user, ctx.id())
    offset, limit = ctx.page()
    rows, total = await listings.registrations(ctx.s, ev, offset, limit)
    return page([RegistrationOut.model_validate(r) for r in rows], total, offset, limit)


# ---------------------------------------------------------------- public: attendees need no account
# (R-ROOM-7)


class PublicEvent(Out):
    """What the room page needs to ask before joining (R-ROOM-6: the access type, never the password or
    tokens; R-ROOM-9: the registration form) and to refuse early (status ``done``, kind ``on_demand``)."""

    name: str
    kind: str
    status: str
    room_id: str
    room_type: str
    starts_at: dt.datetime | None
    timezone: str
    language: str
    agenda: str
    lobby_message: str
    access: str
    ticket_price: str | None
    ticket_currency: str | None
    dial_in: bool
    dial_in_numbers: list[str]
    registration: RegistrationForm
    branding: dict[str, Any] = Field(
        description="R-ROOM-11: the logo, colours (primary, accent, background, "
        "text) and background images (room, registration, lobby, thankYou) "
        "the pages apply: the event's own over the account's"
    )


async def _public(ctx: Ctx) -> Event:
    ev = await entry.event_of_room(ctx.s, ctx.request.match_info["roomId"])
    if ev is None:
        raise not_found("event with this room ID")
    return ev


@API(
    "GET",
    "/api/v1/public/events/{roomId}",
    "an event's public page data: access type (never the password or "
    "tokens), registration form, state, branding; the room page asks for what the event needs from it "
    "(R-ROOM-6, "
    "-9)",
    "public",
    response=PublicEvent,
    auth=False,
)
async def public_event(ctx: Ctx) -> PublicEvent:
    ev = await _public(ctx)
    brand = await listings.public_branding(ctx.s, ev)
    return PublicEvent(
        name=ev.name,
        kind=ev.kind,
        status=ev.status,
        room_id=ev.room_id,
        room_type=ev.room_type,
        starts_at=ev.starts_at,
        timezone=ev.timezone,
        language=ev.language,
        agenda=ev.agenda,
        lobby_message=ev.lobby_message,
        access=ev.access,
        ticket_price=ev.ticket_price,
        ticket_currency=ev.ticket_currency,
        dial_in=ev.dial_in,
        dial_in_numbers=ctx.settings.dial_in_numbers if ev.dial_in else [],
        registration=RegistrationForm.model_validate(registration.registration_form(ev)),
        branding=brand,
    )


@API(
    "POST",
    "/api/v1/public/events/{roomId}/registrations",
    "register for an event (R-ROOM-9); the answer names the page to go to next",
    "public",
    body=RegistrationIn,
    response=Registered,
    status=201,
    auth=False,
    errors=(409, 410),
)
async def register(ctx: Ctx) -> Registered:
    ev = await _public(ctx)
    data = {
        "firstName": ctx.body.first_name,
        "lastName": ctx.body.last_name,
        "email": ctx.body.email,
        "fields": ctx.body.fields,
    }
    row, ev = await registration.register(ctx.s, ev.room_id, data)
    return Registered(id=row.id, redirect_url=registration.registration_form(ev)["redirectUrl"])


class JoinIn(Model):
    name: Annotated[Text, Field(max_length=64)] | None = None
    email: Annotated[Text, Field(max_length=320)] | None = None
    password: Annotated[Text, Field(max_length=128)] | None = None
    token: Annotated[Text, Field(max_length=100)] | None = None
    host_key: Annotated[Text, Field(max_length=100)] | None = None
    presenter_key: Annotated[Text, Field(max_length=100)] | None = None


class Playback(Out):
    """R-AUTO-2: where an on-demand event's video is watched; the URL is signed and short-lived."""

    url: str = Field(
        description="the video, relative to this server (/play/<token>); HTTP Range requests work"
    )
    expires_at: dt.datetime
    content_type: str
    name: str
    size: int
    source: str = Field(description="upload or recording: where the library file came from")
    allow_seek: bool
    allow_messages: bool = Field(
        description="the viewer may leave a message for the organiser: "
        "POST /api/v1/public/events/{roomId}/messages (R-AUTO-2)"
    )


class Joined(Out):
    token: str | None = Field(
        description="the join token for /ws; null for an on-demand event (see playback)"
    )
    role: str
    room: dict[str, Any] | None
    thank_you_url: str | None
    playback: Playback | None = Field(
        None, description="on-demand events: the signed watch URL instead of a room (R-ROOM-4, R-AUTO-2)"
    )
    rating_token: str | None = Field(
        None, description="the person's rating token (POST /api/v1/public/ratings, R-STAT-1); null for hosts"
    )


@API(
    "POST",
    "/api/v1/public/events/{roomId}/join",
    "join an event: its access rules (open, password, personal "
    "token, ticket; registration) give a join token for /ws (R-ROOM-6, -7, -9); an on-demand event gives a "
    "signed watch URL of its video instead, or 409 while it has none (R-AUTO-2)",
    "public",
    body=JoinIn,
    response=Joined,
    auth=False,
    errors=(403, 409, 410, 429, 503),
)
async def join(ctx: Ctx) -> Joined:
    body = ctx.body.model_dump(by_alias=True, exclude_none=True)
    checked = await entry.before_join(ctx.db, ctx.caller, ctx.request.match_info["roomId"], body)
    ev = await _public(ctx)
    return Joined.model_validate(
        await registration.join(
            ctx.s,
            ev,
            body,
            ctx.app[keys.ROOMS],
            ctx.settings.secret,
            ctx.settings.watch_url_ttl,
            checked,
            client_profile.profile(ctx.request.headers, ctx.request.remote, ctx.app[keys.COUNTRIES]),
        )
    )
