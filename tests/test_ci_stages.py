"""CI runs the tests in stages (.ci/run): every folder of tests/ and every top-level test file is in exactly
one stage, so a new folder cannot be left out of CI without this test failing."""

from __future__ import annotations

import re
import shlex
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / ".ci" / "run"
STAGE_ARRAYS = {
    "unit": "UNIT_TESTS",
    "api_and_security": "API_AND_SECURITY_TESTS",
    "end_to_end": "END_TO_END_TESTS",
}


def stage_lists(script: str) -> dict[str, list[str]]:
    """The bash arrays NAME=( ... ) of the script, comments left out."""
    out = {}
    for m in re.finditer(r"^([A-Z_]+)=\((.*?)\)", script, re.M | re.S):
        lines = (line.split("#", 1)[0] for line in m.group(2).splitlines())
        out[m.group(1)] = shlex.split(" ".join(lines))
    return out


def must_run() -> list[str]:
    """What must run somewhere: each folder of tests/ holding test files, each tests/test_*.py."""
    found = [
        f"tests/{p.name}"
        for p in sorted((ROOT / "tests").iterdir())
        if p.is_dir() and any(p.rglob("test_*.py"))
    ]
    found += [f"tests/{p.name}" for p in sorted((ROOT / "tests").glob("test_*.py"))]
    return found


def listed() -> list[str]:
    lists = stage_lists(CI.read_text())
    missing = [name for name in STAGE_ARRAYS.values() if name not in lists]
    assert not missing, f".ci/run has no {missing}"
    return [path for name in STAGE_ARRAYS.values() for path in lists[name]]


def test_every_test_folder_and_file_runs_in_exactly_one_stage() -> None:
    counts = Counter(listed())
    twice = sorted(p for p, n in counts.items() if n > 1)
    assert not twice, f"in more than one CI stage: {twice}"
    left_out = [p for p in must_run() if p not in counts]
    assert not left_out, f"in no CI stage (add them to UNIT_TESTS or END_TO_END_TESTS in .ci/run): {left_out}"


def test_every_listed_path_exists() -> None:
    gone = [p for p in listed() if not (ROOT / p).exists()]
    assert not gone, f".ci/run runs tests that are not there: {gone}"


def test_each_stage_runs_its_list() -> None:
    script = CI.read_text()
    for function, array in STAGE_ARRAYS.items():
        body = re.search(rf"^{function}\(\) \{{(.*?)\}}$", script, re.M | re.S)
        assert body and f'"${{{array}[@]}}"' in body.group(1) and "pytest" in body.group(1), function
        assert re.search(rf'^stage "[^"]+" {function}$', script, re.M), f"no stage runs {function}"


@pytest.mark.parametrize(
    "function,array",
    [
        ("unit", "UNIT_TESTS"),
        ("api_and_security", "API_AND_SECURITY_TESTS"),
        ("end_to_end", "END_TO_END_TESTS"),
    ],
)
def test_the_parallel_stages_run_each_test_once(function: str, array: str) -> None:
    """Each stage runs its list twice: on workers without the tests marked `alone`, then those alone; the
    two selections are complements, so each test runs exactly once."""
    script = CI.read_text()
    body = re.search(rf"^{function}\(\) \{{(.*?)^\}}$", script, re.M | re.S)
    assert body, f"no {function}() in .ci/run"
    runs = [line for line in body.group(1).splitlines() if "pytest" in line]
    assert len(runs) == 2, runs
    assert "-n 2" in runs[0] and '-m "not alone"' in runs[0], runs[0]
    assert "-n " not in runs[1] and "-m alone" in runs[1], runs[1]
    assert all(f'"${{{array}[@]}}"' in r for r in runs), runs


def test_readme_command_runs_everything() -> None:
    """`python -m pytest -q` (the README) collects all of tests/, whatever the stages are."""
    pytest_ini = (
        (ROOT / "pyproject.toml").read_text().split("[tool.pytest.ini_options]", 1)[1].split("\n[", 1)[0]
    )
    assert re.search(r'^testpaths = \["tests"\]$', pytest_ini, re.M), pytest_ini
