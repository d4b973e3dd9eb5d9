"""Who acts in the interaction features: a room's participant as they see it, and the rules of roles."""

from __future__ import annotations

from typing import Protocol

from mediaserver.errors import ControlError
from mediaserver.interaction.log import STAFF_ROLES


class Member(Protocol):
    """A participant of the room (mediaserver.rtc.rooms.Participant has these)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def person_key(self) -> str:
        """The person behind the connection (their e-mail or invitation): the same across reconnections,
        so that one person's vote, answer or silence holds whatever connection they come back on."""
        ...

    @property
    def floor(self) -> bool: ...


def is_staff(m: Member) -> bool:
    return m.role in STAFF_ROLES


def require_staff(m: Member, what: str) -> None:
    """Only the host and presenters may do ``what`` (checked here, whatever the page shows)."""
    if not is_staff(m):
        raise ControlError("forbidden", f"only the host and presenters may {what}", 403)


def require_host(m: Member, what: str) -> None:
    if m.role != "host":
        raise ControlError("forbidden", f"only the host may {what}", 403)


def who(m: Member) -> dict[str, str]:
    """How a member is shown next to what they did."""
    return {"id": m.id, "name": m.name, "role": m.role}
