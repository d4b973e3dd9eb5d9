"""Tests of the security review's findings (issue 14): each drives the real interface (HTTP, WebSocket, UDP)
and failed before its fix. The API fixtures are the ones of tests/api."""

from tests.api.conftest import api, database_url, pg_server, pg_template, smtp  # noqa: F401
