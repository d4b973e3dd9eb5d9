"""The packaging tests' marker."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds the wheel and installs it into a new environment (minutes)"
    )
