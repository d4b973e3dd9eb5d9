"""The control plane's tables (SQLAlchemy 2 declarative). Migrations in mediaserver/store/migrations follow
them."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypedDict

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from mediaserver.store.db import Base, UTCDateTime, utcnow
from mediaserver.store.sealed import Sealed, digest


class _OnDelete(TypedDict):
    ondelete: str


CASCADE: _OnDelete = {"ondelete": "CASCADE"}


class Account(Base):
    """A main account or a sub-account (one level deep, R-ACC-3): the owner of events, files and contacts."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # main | sub
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    page_name: Mapped[str] = mapped_column(String(120))
    plan: Mapped[str] = mapped_column(String(32))  # plans.PLANS key, "sub" for sub-accounts
    period: Mapped[str | None] = mapped_column(String(8))  # monthly | annual (paid plans)
    trial_ends_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    package: Mapped[str | None] = mapped_column(String(32))  # a sub-account's package
    addons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    language: Mapped[str] = mapped_column(String(8), default="en")
    signature: Mapped[str] = mapped_column(Text, default="")
    branding: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="account", passive_deletes=True)


class User(Base):
    """A login: the owner of an account (main or sub) or one of up to 3 additional users (R-ACC-2)."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower case
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))  # owner | additional
    password_hash: Mapped[str | None] = mapped_column(String(200))
    activation_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    activation_expires: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(8), default="en")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    account: Mapped[Account] = relationship(back_populates="users")


class Session(Base):
    """A web UI login (cookie). acting_user_id is set while a main account is logged in as a sub-account."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", **CASCADE), index=True)
    acting_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", **CASCADE))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", **CASCADE), index=True)
    name: Mapped[str] = mapped_column(String(120))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Event(Base):
    """A planned or running event (R-ROOM-4) and its settings; its room has a fixed 9-digit ID."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", **CASCADE), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # instant | permanent | scheduled | automated | on_demand
    status: Mapped[str] = mapped_column(String(16))  # planned | live | done | failed (automated)
    name: Mapped[str] = mapped_column(String(200))
    room_type: Mapped[str] = mapped_column(String(16))  # webinar | meeting
    room_id: Mapped[str] = mapped_column(String(9), unique=True)
    host_key: Mapped[str] = mapped_column(Sealed())  # sealed at rest (issue 14 finding 11): shown in hostUrl
    starts_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=60)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    language: Mapped[str] = mapped_column(String(8), default="en")
    agenda: Mapped[str] = mapped_column(Text, default="")
    lobby_message: Mapped[str] = mapped_column(Text, default="")
    access: Mapped[str] = mapped_column(String(16), default="open")  # open | password | token | paid
    password_hash: Mapped[str | None] = mapped_column(String(200))
    ticket_price: Mapped[str | None] = mapped_column(String(16))
    ticket_currency: Mapped[str | None] = mapped_column(String(3))
    dial_in: Mapped[bool] = mapped_column(Boolean, default=False)
    registration: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    branding: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    thank_you_url: Mapped[str] = mapped_column(String(2000), default="")
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # timeline, on-demand viewing rules
    # R-ROOM-4 / R-AUTO-2: the video an on-demand event plays, a file of the account's library (an upload now,
    # a recording of the future recording module: both are library files, told apart by LibraryFile.source)
    video_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    settings_version: Mapped[int] = mapped_column(Integer, default=1)
    ran: Mapped[bool] = mapped_column(Boolean, default=False)
    # R-ROOM-4 / R-AUTO-1: what the clock did with an automated event when it could not run it (status
    # "failed": why, when); see mediaserver.events.automation
    automation: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventSession(Base):
    """One live run of an event. At most one open run per account and slot (R-ROOM-5): the partial unique
    index makes the database itself refuse a second live event, whatever the timing of two requests."""

    __tablename__ = "event_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE))
    slot: Mapped[int] = mapped_column(Integer, default=0)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    participants: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index(
            "one_live_per_slot",
            "account_id",
            "slot",
            unique=True,
            sqlite_where=text("ended_at IS NULL"),
            postgresql_where=text("ended_at IS NULL"),
        ),
    )


class ChatMessage(Base):
    """A chat message of an event's room, kept with the event's session (issue 16, R-INT-1): written from
    the room's journal (mediaserver.events.chat_history). A message the host deleted is kept, marked deleted
    (``deleted_at``): the organiser's record of the session; the exports say so."""

    __tablename__ = "chat_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE))
    # NULL: written while the event waited in the lobby; the session's start adopts it
    session_id: Mapped[int | None] = mapped_column(ForeignKey("event_sessions.id", **CASCADE))
    message_id: Mapped[str] = mapped_column(String(24))  # the room's id of it ("m<seq>")
    sender_id: Mapped[str] = mapped_column(String(64))  # the participant's id in the room
    sender_name: Mapped[str] = mapped_column(String(120))
    sender_role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    to_name: Mapped[str | None] = mapped_column(String(120))  # "staff", or the private reply's recipient
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("chat_messages_by_session", "event_id", "session_id", "sent_at"),
        Index("chat_messages_by_id", "event_id", "message_id"),
    )


class SessionQuestion(Base):
    """A question of an event's Q&A (issue 16, R-INT-2), kept with the session: one row per question, written
    from the room's journal (kind ``question``; mediaserver.events.qa_history) when it is asked and updated as
    it changes (state, published) and at the close of Q&A or the end of the session (its final state and
    votes): "the list is exported with the chat"."""

    __tablename__ = "session_questions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE))
    # NULL: asked while the event waited in the lobby; the session's start adopts it
    session_id: Mapped[int | None] = mapped_column(ForeignKey("event_sessions.id", **CASCADE))
    question_id: Mapped[str] = mapped_column(String(24))  # the room's id of it ("q<seq>")
    message_id: Mapped[str | None] = mapped_column(String(24))  # the chat message it was made of
    asker_id: Mapped[str] = mapped_column(String(64))  # the participant's id in the room
    asker_name: Mapped[str] = mapped_column(String(120))
    asker_role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16))  # open, answered, dismissed
    votes: Mapped[int] = mapped_column(Integer, default=0)
    asked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # last put on the main window
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)  # Q&A closed or the session ended

    __table_args__ = (
        Index("session_questions_by_session", "event_id", "session_id", "asked_at"),
        Index("session_questions_by_id", "event_id", "question_id"),
    )


class CtaClick(Base):
    """A counted click on an event's call to action (issue 16, R-INT-4): one per person and call to action,
    written from the room's journal (kind ``ctaClick``; mediaserver.events.qa_history); the sessions' history
    counts them (``ctaClicks``)."""

    __tablename__ = "cta_clicks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE))
    # NULL: clicked while the event waited in the lobby; the session's start adopts it
    session_id: Mapped[int | None] = mapped_column(ForeignKey("event_sessions.id", **CASCADE))
    cta_id: Mapped[str] = mapped_column(String(24))  # the room's id of the call to action ("c<seq>")
    text: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(String(120))  # who clicked
    role: Mapped[str] = mapped_column(String(16))
    clicked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("cta_clicks_by_session", "event_id", "session_id"),)


class ViewerMessage(Base):
    """An on-demand viewer's message to the organiser, and the organiser's answer, e-mailed to the viewer
    (R-AUTO-2, issue 16)."""

    __tablename__ = "viewer_messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), index=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(320))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Invitation(Base):
    """An e-mailed invitation (R-ROOM-10); token is the invitee's own key for token-protected events."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(120), default="")
    role: Mapped[str] = mapped_column(String(16), default="attendee")  # attendee | presenter
    # the token is shown again (re-sent invitations, the organiser's list), so it is sealed at rest; it is
    # found by its digest (issue 14 finding 11), which setting it fills in
    token: Mapped[str] = mapped_column(Sealed(), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    sent_count: Mapped[int] = mapped_column(Integer, default=0)
    sent_version: Mapped[int] = mapped_column(Integer, default=0)  # the event settings version last sent
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    declined_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime
    )  # the invitee said no (R-ROOM-11's button)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("event_id", "email"),)

    @validates("token")
    def _hash_token(self, _key: str, token: str) -> str:
        self.token_hash = digest(token)
        return token


class Registration(Base):
    __tablename__ = "registrations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), index=True)
    email: Mapped[str] = mapped_column(String(320))
    first_name: Mapped[str] = mapped_column(String(120))
    last_name: Mapped[str] = mapped_column(String(120))
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("event_id", "email"),)


class Attendance(Base):
    """One join of an event's room (for the thank-you e-mail, R-STAT-3, the history and the statistics,
    R-STAT-1): each join token is a row; the room's entries and exits with that token add up in
    ``seconds_attended`` (mediaserver.events.attendance). The client's device and country are kept, never its
    address."""

    __tablename__ = "attendances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("event_sessions.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    thanked: Mapped[bool] = mapped_column(Boolean, default=False)
    # R-STAT-1 (migration 0018): the last time they left the room, the seconds they were in it, the current
    # stay's start (NULL while out), and what the join request's headers and address told
    left_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    seconds_attended: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    in_room_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # the room's ids of its stays (their chat messages and questions are theirs), at most ROOM_IDS_MAX
    participant_ids: Mapped[list[str] | None] = mapped_column(JSON)
    browser: Mapped[str | None] = mapped_column(String(64))  # "Chrome Mobile 120"; NULL: unknown
    os: Mapped[str | None] = mapped_column(String(64))  # "Android 13"
    device: Mapped[str | None] = mapped_column(String(16))  # desktop | phone | tablet
    country: Mapped[str | None] = mapped_column(String(2))  # ISO 3166-1 alpha-2


class EventRating(Base):
    """An attendee's rating of an event after it (R-STAT-1: the event rating): 1-5 stars and an optional
    comment, one per attendee (their e-mail) and event; a second rating replaces the first."""

    __tablename__ = "event_ratings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), index=True)
    email: Mapped[str] = mapped_column(String(320))  # lower case
    name: Mapped[str] = mapped_column(String(120), default="")
    stars: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    rated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("event_id", "email"),)


class Contact(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str] = mapped_column(String(64), default="")
    company: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "email"),)


class ContactGroup(Base):
    __tablename__ = "contact_groups"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="manual")  # manual | registrations | leads
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("account_id", "name"),)


class GroupMember(Base):
    __tablename__ = "group_members"
    group_id: Mapped[int] = mapped_column(ForeignKey("contact_groups.id", **CASCADE), primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", **CASCADE), primary_key=True)


class LibraryFile(Base):
    """A file in an account's library (R-FILE-1..4); the bytes live under data_dir/files."""

    __tablename__ = "files"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    name: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(16), default="complete")  # uploading | complete
    source: Mapped[str] = mapped_column(
        String(16), default="upload", server_default="upload"
    )  # upload | recording
    storage_key: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RoomFile(Base):
    """A library file in an event's room: uploaded straight into it (R-FILE-2: at most 50 MB) by its host, a
    presenter or the organiser, or brought into it from the account's library (issue 17): the room's files.
    One file may be in the rooms of several events (a deck shown in every webinar of a series: the key is
    the file and the event, migration 0016_room_files_event). The file stays in the account's library and
    counts against its quota once (R-FILE-1); deleting the file deletes all its links, deleting an event
    deletes that event's links and leaves the file in the library and in the other rooms."""

    __tablename__ = "room_files"
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", **CASCADE), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), primary_key=True, index=True)
    uploaded_by: Mapped[str] = mapped_column(String(16))  # organiser | host | presenter


class Document(Base):
    """A library file shown as a document in a room (issue 17, R-MEDIA-8): a PDF, or an office file
    (R-FILE-4) converted to one by LibreOffice, with its page count and how many page images are ready.
    The PDF and the images live beside the file (mediaserver.library.storage); deleting the file deletes
    this row."""

    __tablename__ = "documents"
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", **CASCADE), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # converting | ready | failed
    pages: Mapped[int] = mapped_column(Integer, default=0)  # 0 until the PDF is known
    pages_ready: Mapped[int] = mapped_column(Integer, default=0)  # page images rendered, from page 1
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)  # what the person is told
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Recording(Base):
    """A recording of an event's room (R-REC-1..4): running, then a WebM in the account's file library
    (``file_id``, a LibraryFile with source "recording"). ``language`` is the room's language when the
    recording started (R-ROOM-14). A published recording has a public watch link (``public_token``,
    R-REC-4)."""

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("event_sessions.id", ondelete="SET NULL"))
    # deleting the file in the library deletes the recording with it
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(
        String(16), default="recording"
    )  # recording | processing | ready | failed
    language: Mapped[str] = mapped_column(String(8), default="en")
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    duration: Mapped[float] = mapped_column(Float, default=0.0)  # seconds
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    stop_reason: Mapped[str] = mapped_column(
        String(32), default=""
    )  # host | api | ended | trial_limit | error
    public_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    trimmed_from: Mapped[int | None] = mapped_column(ForeignKey("recordings.id", ondelete="SET NULL"))


class Poll(Base):
    """A poll or a test of an event (R-INT-3), saved before the event or during it and launched live. Its
    ``questions`` (see mediaserver.interaction.polls_store for their shape and rules): single-choice,
    multiple-choice or short-answer, options with an optional image (a library file of the same account),
    and for a test the correct options (or accepted short answers) and points."""

    __tablename__ = "polls"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))  # poll | test
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class PollLaunch(Base):
    """One live run of a poll in an event's session: the questions as they were launched (answers are scored
    against these, whatever later edits of the poll), and once closed its results' summary."""

    __tablename__ = "poll_launches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", **CASCADE), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("event_sessions.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(8))
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class PollAnswer(Base):
    """One person's answers to one launch (R-STAT-1: per attendee, with their name and e-mail); one per
    person (their person key: e-mail or invitation) and launch."""

    __tablename__ = "poll_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("poll_launches.id", **CASCADE), index=True)
    person_key: Mapped[str] = mapped_column(String(400))
    name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(320), default="")
    answers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    score: Mapped[float | None] = mapped_column(Float)
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("launch_id", "person_key"),)


class Webhook(Base):
    __tablename__ = "webhooks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str] = mapped_column(Sealed())  # the signing key, sealed at rest (issue 14 finding 11)
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """The outbox and the delivery log of webhooks: written in the transaction of the happening itself."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", **CASCADE), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("deliveries_due", "status", "next_attempt_at"),)


class Email(Base):
    """The outbox of e-mails: queued in the transaction that causes them, sent by the dispatcher."""

    __tablename__ = "emails"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    to_addr: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    # sealed at rest: invitations, activation links and tickets carry tokens (issue 14 finding 11)
    body_text: Mapped[str] = mapped_column(Sealed())
    body_html: Mapped[str] = mapped_column(Sealed())
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed | logged
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (Index("emails_due", "status", "next_attempt_at"),)


class IdempotencyKey(Base):
    """A creating request's Idempotency-Key and the response it got, replayed for a retry of the same
    request (kept 24 hours, signaling.api.framework). A signed-in user's keys are theirs (user_id); a
    public request's key (no user: a ticket order, a registration) has no user_id and is stored as
    "public:<sha256 of path and key>", so it belongs to that public resource."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", **CASCADE))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[str | None] = mapped_column(Sealed())  # sealed at rest (issue 14 finding 11)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index(
            "idempotency_public_key",
            "key",
            unique=True,
            sqlite_where=text("user_id IS NULL"),
            postgresql_where=text("user_id IS NULL"),
        ),
        Index("idempotency_created_at", "created_at"),
    )


class PaymentProvider(Base):
    """R-BILL-10: the payment provider an account linked for its paid webinars (one per account). kind
    names a class in mediaserver.billing.providers.PROVIDERS; secret is the HMAC-SHA256 key of the
    provider's signed callbacks (empty for the manual provider, which has none)."""

    __tablename__ = "payment_providers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # manual | gateway
    secret: Mapped[str] = mapped_column(Sealed(), default="")  # sealed at rest (issue 14 finding 11)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    """A ticket order for a paid event (R-BILL-10) and its payment status. It outlives its event (event_id is
    set to NULL when the event is deleted): refunds are not automatic (R-BILL-6, R-BILL-10), so the organiser
    keeps the record of who paid. At most one open (pending or paid) order per event and e-mail address."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", **CASCADE), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("events.id", ondelete="SET NULL"), index=True)
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )  # the event's owner
    event_name: Mapped[str] = mapped_column(String(200))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("payment_providers.id", ondelete="SET NULL"))
    provider_kind: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(8), default="en")
    amount: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # ours: quoted with a transfer
    payer_reference: Mapped[str] = mapped_column(String(200), default="")  # what the payer declared
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)  # the payer's own key (SHA-256)
    status: Mapped[str] = mapped_column(
        String(16), default="pending"
    )  # pending | paid | failed | refused | cancelled
    provider_payment_id: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(16), default="")  # organiser | provider | event_cancelled
    invitation_id: Mapped[int | None] = mapped_column(ForeignKey("invitations.id", ondelete="SET NULL"))
    sent_count: Mapped[int] = mapped_column(Integer, default=0)  # ticket e-mails sent (re-sends count)
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    event_cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(
            "one_open_order",
            "event_id",
            "email",
            unique=True,
            sqlite_where=text("status IN ('pending', 'paid')"),
            postgresql_where=text("status IN ('pending', 'paid')"),
        ),
    )


class PaymentCallback(Base):
    """The log of a provider's signed callbacks; the unique key makes a replayed callback (same provider
    payment id and outcome) a no-op, whatever the timing of two deliveries."""

    __tablename__ = "payment_callbacks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider_id: Mapped[int] = mapped_column(ForeignKey("payment_providers.id", **CASCADE))
    provider_payment_id: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))  # succeeded | failed
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", **CASCADE), index=True)
    applied: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (UniqueConstraint("provider_id", "provider_payment_id", "outcome"),)


class SessionBoard(Base):
    """An event session's whiteboard (issue 17, R-INT-5): the room's Yjs document as one update, saved
    from the room's journal (kind ``board``; mediaserver.events.board_history) at most every
    ``board_save_seconds`` while it changes and when the session ends; exported as PNG and PDF."""

    __tablename__ = "session_boards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE))
    session_id: Mapped[int] = mapped_column(ForeignKey("event_sessions.id", **CASCADE), unique=True)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    saved_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class SessionStage(Base):
    """What was on an event session's stage, and when (issue 17 item 4: recordings keep what was presented):
    one row per change of the document, the shared video or the board's place on the stage, with the whole
    stage as it then was, written from the room's journal (kind ``stage``; mediaserver.events.stage_history).
    A recording's watch page plays this track beside the video."""

    __tablename__ = "session_stage"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE))
    # NULL: changed while the event waited in the lobby; the session's start adopts it
    session_id: Mapped[int | None] = mapped_column(ForeignKey("event_sessions.id", **CASCADE))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)

    __table_args__ = (Index("session_stage_by_session", "event_id", "session_id", "at"),)


class SessionBoardStep(Base):
    """The whiteboard's drawing over time (issue 17 item 4): what changed on an event session's board in about
    a second (a Yjs update: the strokes drawn, moved, erased or cleared then), written from the room's
    journal (kind ``board_step``; mediaserver.events.board_steps). Applied in order, the steps give the board
    at any moment of the session, which a recording's watch page draws beside the video."""

    __tablename__ = "session_board_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", **CASCADE))
    # NULL: drawn while the event waited in the lobby; the session's start adopts it
    session_id: Mapped[int | None] = mapped_column(ForeignKey("event_sessions.id", **CASCADE))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    update: Mapped[bytes] = mapped_column(LargeBinary)

    __table_args__ = (Index("session_board_steps_by_session", "event_id", "session_id", "at"),)
