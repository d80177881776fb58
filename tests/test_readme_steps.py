"""The README's "Three ways to write a step" blocks run as written and keep their promises."""

import re
import warnings
from pathlib import Path
from typing import Any

from marin_dagster import ExecutorStep, compute_output_path

README = Path(__file__).resolve().parents[1] / "README.md"


def _block(first_line: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
    return next(b for b in blocks if b.startswith(first_line + "\n"))


def test_three_ways_share_the_paths_and_option_c_does_not_warn() -> None:
    namespace: dict[str, Any] = {}
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        exec(compile(_block("# Three ways to write a step"), str(README), "exec"), namespace)
    deprecations = [str(r.message) for r in records if r.category is DeprecationWarning]
    assert deprecations == []  # the legacy part silences its own warnings, nothing else warns
    expected = ["/p/download/fineweb-2aeb1d", "/p/tokenize/fineweb-ce2dd5"]
    for label in ("tracer", "option_c", "legacy"):
        steps: list[ExecutorStep[Any]] = namespace[label]
        assert [compute_output_path(s, prefix="/p") for s in steps] == expected, label
    text = README.read_text()
    section = text[text.index("## Three ways to write a step") :]
    assert all(path in section[:600] for path in expected)

    exec(compile(_block("# @executor_step"), str(README), "exec"), namespace)
    sweep: list[ExecutorStep[Any]] = namespace["sweep"]
    assert [s.name for s in sweep] == ["train/tiny-lr-0.001", "train/tiny-lr-0.0003"]
    assert len({compute_output_path(s, prefix="/p") for s in sweep}) == 2


def test_migration_section_names_the_checker_and_the_phases() -> None:
    text = README.read_text()
    section = text[text.index("## Migrating from Marin's executor") :]
    section = section[: section.index("\n## ", 1)]
    assert "marin-dagster check PATH..." in section
    numbered = re.findall(r"^(\d)\. \*\*", section, flags=re.MULTILINE)
    assert numbered == ["1", "2", "3", "4", "5"]
