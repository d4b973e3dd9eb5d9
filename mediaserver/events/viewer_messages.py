"""On-demand viewers' messages to the organiser (R-AUTO-2, issue 16).

With the event's option ``allowMessages`` on (the default), a viewer who holds a valid watch token of the
event (the one the public join gave, for ``/play/<token>``) leaves a message: a name, an e-mail address and
at most 2,000 characters of text, within a budget per client address (setting ``rate_limit_viewer_message``).
The organiser lists the messages, newest first, and answers each once; the answer is e-mailed to the address
the viewer gave, through the outbox. The event's view statistics count the messages
(``GET /api/v1/events/{id}/views``: ``messages``).

The answer goes to an address the viewer typed, not one the server confirmed (compare
mediaserver.events.recipients): it is sent only because the organiser, who read the message, chose to answer
it, one mail per message, never automatically.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.accounts.identity import Principal
from mediaserver.errors import ControlError, not_found
from mediaserver.events import lifecycle, ondemand
from mediaserver.interaction.chat import clean_text
from mediaserver.outbox import mail
from mediaserver.ratelimit import Caller
from mediaserver.store.db import paged, utcnow
from mediaserver.store.models import Account, Event, User, ViewerMessage


def allowed(ev: Event) -> bool:
    return bool((ev.options or {}).get("allowMessages", True))


async def leave(
    s: AsyncSession,
    caller: Caller,
    room_id: str,
    watch_token: str,
    name: str,
    email: str,
    text: str,
    secret: str,
) -> ViewerMessage:
    """A viewer's message (see the module's docstring); 403 without a valid watch token of this event or with
    messages off, 429 over the address's budget."""
    ev = await s.scalar(select(Event).where(Event.room_id == room_id))
    if ev is None or ev.kind != "on_demand":
        raise not_found("on-demand event with this room ID")
    try:
        _file, event_id = ondemand.verify_watch(secret, watch_token.removeprefix("/play/"))
    except ondemand.WatchRefused as e:
        raise ControlError("forbidden", str(e), 403) from None
    if event_id != ev.id:
        raise ControlError("forbidden", "this watch link is for another event", 403)
    if not allowed(ev):
        raise ControlError("messages_off", "the organiser does not take messages for this event", 403)
    body = clean_text(text)
    await caller.spend("viewer_message")
    row = ViewerMessage(event_id=ev.id, name=name.strip(), email=email.strip().lower(), text=body)
    s.add(row)
    await s.flush()
    return row


async def listing(
    s: AsyncSession, p: Principal, event_id: int, offset: int, limit: int
) -> tuple[list[ViewerMessage], int]:
    """The event's viewers' messages, newest first, for whoever sees the event (R-ACC-2, -3)."""
    ev = await lifecycle.get_event(s, p, event_id)
    where = ViewerMessage.event_id == ev.id
    order = (ViewerMessage.created_at.desc(), ViewerMessage.id.desc())
    return await paged(s, ViewerMessage, where, *order, offset=offset, limit=limit)


async def answer(s: AsyncSession, p: Principal, event_id: int, message_id: int, text: str) -> ViewerMessage:
    """Answer a message once: kept with it and e-mailed to the viewer (409 when it has been answered)."""
    ev = await lifecycle.get_event(s, p, event_id, write=True)
    row = await s.get(ViewerMessage, message_id)
    if row is None or row.event_id != ev.id:
        raise not_found("message of this event")
    if row.answered_at is not None:
        raise ControlError("already_answered", "this message has been answered already", 409)
    body = clean_text(text)
    row.answer, row.answered_at, row.answered_by = body, utcnow(), p.user.id
    account = await s.get(Account, ev.account_id)
    organiser = await s.get(User, p.user.id)
    await mail.queue(
        s,
        ev.account_id,
        "viewer_answer",
        row.email,
        ev.language,
        {
            "name": row.name,
            "event": ev.name,
            "organiser": organiser.name if organiser else "",
            "answer": body,
            "question": row.text,
            "signature": account.signature if account else "",
        },
    )
    return row


async def count(s: AsyncSession, ev: Event) -> int:
    """How many messages the event's viewers left (its statistics, R-AUTO-2)."""
    return int(await s.scalar(select(func.count()).where(ViewerMessage.event_id == ev.id)) or 0)
