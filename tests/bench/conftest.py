"""The benchmarks' tests pin the server and the load to cores of their own (taskset) and time what they
measure: each runs with no other test beside it in CI (the `alone` marker, .ci/run)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.alone)
