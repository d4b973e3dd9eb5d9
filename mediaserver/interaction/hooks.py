"""What the rooms' interaction tells the organiser's systems (issue 16 item 8): the ``question.published``
webhook when the host publishes a question (R-INT-2, R-API-2).

The room records ``questionPublished`` in its journal (mediaserver.interaction.journal) with no wait; the
journal's writer here finds the room's event (its account is the webhook's) and queues the webhook in the
batch's transaction, through the outbox like every other webhook. A room that is no event's (an ad-hoc room of
the API) has no account: nothing is sent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mediaserver.interaction.journal import Journal
from mediaserver.outbox import webhooks
from mediaserver.store.models import Event


async def question_published(s: AsyncSession, room: str, items: list[dict[str, Any]]) -> None:
    ev = await s.scalar(select(Event).where(Event.room_id == room))
    if ev is None:
        return
    for item in items:
        await webhooks.emit(
            s,
            ev.account_id,
            "question.published",
            {
                "event": webhooks.public_ref(ev),
                "question": item["question"],
                "by": item["by"],
                "publishedAt": item["at"],
            },
        )


def register(journal: Journal) -> None:
    journal.register("questionPublished", question_published)
