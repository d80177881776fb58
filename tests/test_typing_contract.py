"""Pyright rejects exactly the lines ``tests/typing/typing_cases.py`` marks, and nothing else."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CASES = Path(__file__).parent / "typing" / "typing_cases.py"
MARKER = re.compile(r"\s*# pyright: ignore\[(\w+)\]")
REPO = Path(__file__).resolve().parents[1]


def _pyright(path: Path) -> list[dict[str, object]]:
    exe = shutil.which("pyright")
    assert exe, "pyright is a dev dependency: pip install -e '.[dev]'"
    proc = subprocess.run(
        [exe, "--outputjson", "--pythonpath", sys.executable, str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    return [d for d in report["generalDiagnostics"] if d["severity"] == "error"]


@pytest.fixture(scope="module")
def expected_and_found(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    lines = CASES.read_text().splitlines()
    expected = {}
    stripped = []
    for number, line in enumerate(lines):
        match = MARKER.search(line)
        if match:
            expected[number] = match.group(1)
        stripped.append(MARKER.sub("", line))
    target = tmp_path_factory.mktemp("typing") / "typing_cases_unmarked.py"
    target.write_text("\n".join(stripped) + "\n")
    found: dict[int, set[str]] = {}
    for diag in _pyright(target):
        line = diag["range"]["start"]["line"]  # type: ignore[index]
        found.setdefault(line, set()).add(str(diag.get("rule")))
    return expected, found


def test_marked_file_is_clean() -> None:
    assert _pyright(CASES) == []


def test_every_marked_line_is_rejected_for_its_rule(expected_and_found: tuple[dict, dict]) -> None:
    expected, found = expected_and_found
    assert len(expected) >= 10
    for line, rule in expected.items():
        assert rule in found.get(line, set()), f"line {line + 1} should fail with {rule}"


def test_unmarked_lines_are_accepted(expected_and_found: tuple[dict, dict]) -> None:
    expected, found = expected_and_found
    assert set(found) == set(expected)
