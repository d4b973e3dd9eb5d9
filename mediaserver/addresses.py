"""E-mail addresses: the one check of every address the server takes (sign-up, users, contacts, invitations,
registrations, joiners, ticket buyers), with a real parser (email-validator) instead of a pattern.

Issue 14 finding 14: the old pattern took ``a@b.c,postmaster``, which the mailer then split into two
recipients. An address here is exactly one mailbox: no display name, no list, no quoted local part, no
domain literal ([1.2.3.4]), no comment. Deliverability is not checked (no DNS look-up on a request)."""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 254  # RFC 5321's path limit less the angle brackets


def normalized(value: Any) -> str | None:
    """The address ``value`` as one mailbox (the domain in lower case, surrounding blanks removed), or None
    when it is not one."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_LENGTH:
        return None
    try:
        # test_environment: the "test" top-level domain (RFC 6761: reserved for testing, never delivered) is
        # taken, as the demo and the test suite use example.test; the other special-use names (localhost,
        # local, onion, invalid, arpa) are refused
        # allow_smtputf8=False: the mailer sends plain SMTP, which cannot carry a non-ASCII mailbox name (an
        # internationalized domain is taken: it travels as its ASCII form, "xn--...")
        got = validate_email(value, check_deliverability=False, test_environment=True, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return got.ascii_email or got.normalized


def valid(value: Any) -> bool:
    return normalized(value) is not None
