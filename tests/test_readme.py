"""The README's quickstart runs as written and gives the paths it promises."""

import re
from pathlib import Path

import pytest

from marin_dagster import compute_output_path

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
