"""The control plane's refusals: a stable code, a message that says what is wrong, and an HTTP status."""

from __future__ import annotations


class ControlError(Exception):
    def __init__(
        self, code: str, message: str, status: int = 400, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status
        self.headers = headers or {}  # e.g. Retry-After of a 429 or a 503


def not_found(what: str) -> ControlError:
    return ControlError("not_found", f"no such {what}", 404)


def forbidden(message: str) -> ControlError:
    return ControlError("forbidden", message, 403)
