"""The modules only a testing build has: test bindings of the native core and the benchmark load generator.

``pip install`` builds only ``native._core``; ``MEDIASERVER_BUILD_TESTING=1`` (which ``.ci/run`` and the
README's test set-up set) also builds ``native._srtp``, ``native._bwe``, ``native._units`` and
``bench.loadgen._loadgen``. Without them their tests are skipped, with the reason; with
``MEDIASERVER_REQUIRE_TESTING_BUILD=1`` (CI) a missing one is a failure, as ``MEDIASERVER_REQUIRE_PG`` does
for PostgreSQL.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

REQUIRE = os.environ.get("MEDIASERVER_REQUIRE_TESTING_BUILD") == "1"


def built_module(name: str) -> ModuleType:
    """Import ``name`` (at a test module's top level or in a test); skip, or fail under REQUIRE, when not
    built."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        why = f"{name} is not built: build with MEDIASERVER_BUILD_TESTING=1 ({e})"
        if REQUIRE:
            pytest.fail(f"MEDIASERVER_REQUIRE_TESTING_BUILD=1 but {why}", pytrace=False)
        pytest.skip(why, allow_module_level=True)
