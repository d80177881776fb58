"""The README's snippets run as written and give the paths they promise."""

import re
import warnings
from pathlib import Path
from typing import Any

import pytest

from marin_dagster import ExecutorStep, compute_output_path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_opens_with_the_two_setup_commands() -> None:
    bash = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    install = "pip install -e '.[dev]' --config-settings editable_mode=compat"
    assert bash[0].strip() == f"{install} && dg launch --job all_steps"
    assert bash[1].strip() == f"{install} && python -m pytest"
    ci = (README.parent / ".ci" / "run").read_text()
    assert f"run_tests() {{ {install} && python -m pytest; }}" in ci


def test_quickstart_gives_the_promised_paths() -> None:
    quickstart = next(b for b in _python_blocks() if "tokenize_fineweb" in b)
    namespace: dict[str, object] = {}
    exec(compile(quickstart, str(README), "exec"), namespace)
    paths = re.findall(r"(/p/[\w/]+-[0-9a-f]{6})", quickstart)
    assert paths == ["/p/download/fineweb-2aeb1d", "/p/tokenize/fineweb-ce2dd5"]
    assert compute_output_path(namespace["download_step"], prefix="/p") == paths[0]  # type: ignore[arg-type]
    assert compute_output_path(namespace["tokenize_step"], prefix="/p") == paths[1]  # type: ignore[arg-type]
    defs = namespace["defs"]
    assert {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()} == {  # type: ignore[attr-defined]
        "download/fineweb",
        "tokenize/fineweb",
    }


def test_every_python_snippet_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ``python`` block runs alone, imports included (output under a temporary prefix)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MARIN_PREFIX", str(tmp_path / "prefix"))
    blocks = _python_blocks()
    assert len(blocks) >= 5
    for number, block in enumerate(blocks):
        namespace: dict[str, object] = {"__name__": f"readme_snippet_{number}"}
        try:
            exec(compile(block, f"{README}:python block {number}", "exec"), namespace)
        except Exception as error:
            raise AssertionError(f"README python block {number} fails:\n{block}") from error


def _block(first_line: str) -> str:
    return next(b for b in _python_blocks() if b.startswith(first_line + "\n"))


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
