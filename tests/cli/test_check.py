"""``marin-dagster check``: legacy patterns in a Marin-style file, none in ``definitions/``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from marin_dagster.cli import main
from marin_dagster.core.migration_check import check_source

REPO_ROOT = Path(__file__).resolve().parents[2]

MARIN_STYLE = """\
from dataclasses import dataclass

from marin.execution.executor import (
    ExecutorStep,
    InputName,
    VersionedValue,
    output_path_of,
    this_output_path,
)


@dataclass(frozen=True)
class TokenizeConfig:
    train_paths: list[str]
    cache_path: str
    tokenizer: str
    batch_size: int = 1000


@dataclass(frozen=True)
class DownloadConfig:
    hf_id: str
    output_path: str
    raw_path: str | None = None


def default_train(tokenized: InputName | ExecutorStep | dict, lr: float) -> dict:
    if isinstance(tokenized, InputName | ExecutorStep):
        return {"data": tokenized}
    return tokenized


def model_path(step) -> str:
    if isinstance(step, (ExecutorStep, InputName)):
        return "?"
    return step


download = ExecutorStep(
    name="download/fineweb",
    fn=print,
    config=DownloadConfig(hf_id="fineweb", output_path=this_output_path()),
)
tokenize = ExecutorStep(
    name="tokenize/fineweb",
    fn=print,
    config=TokenizeConfig(
        train_paths=[output_path_of(download, "train")],
        cache_path=this_output_path("cache"),
        tokenizer=VersionedValue("llama3"),
    ),
)
raw = InputName.hardcoded("gs://bucket/raw")
model = InputName(tokenize, "model")


@dataclass
class EvalConfig:
    model_path: str
    data: object


evaluation = EvalConfig(model_path=tokenize, data=download / "val")
"""

EXPECTED = [
    (3, "legacy-name", "import Dep (references: `step / 'sub'`, `Dep.hardcoded(path)`)"),
    (3, "legacy-name", "import versioned"),
    (3, "legacy-name", "drop it: write `step / 'sub'` (or `ctx.require(step) / 'sub'`)"),
    (3, "legacy-name", "import this_output (or use `ctx.output` in a @step body)"),
    (14, "untyped-field", "train_paths: list[Dep[str]]"),
    (15, "untyped-field", "cache_path: Output[str]"),
    (16, "untyped-field", "tokenizer: Versioned[str]"),
    (23, "untyped-field", "output_path: Output[str]"),
    (24, "untyped-field", "raw_path: Dep[str] | None"),
    (27, "legacy-name", "Dep[str] (a StepRef)"),
    (27, "union", "split the function: one taking a StepRef, one taking dict"),
    (28, "isinstance", None),
    (34, "isinstance", None),
    (42, "legacy-name", "this_output() (ctx.output in a @step body)"),
    (48, "legacy-name", "download / 'train'"),
    (49, "legacy-name", "this_output('cache') (ctx.output in a @step body)"),
    (50, "legacy-name", "versioned('llama3')"),
    (53, "legacy-name", "Dep.hardcoded('gs://bucket/raw')"),
    (54, "legacy-name", "tokenize / 'model'"),
    (59, "untyped-field", "model_path: Dep[str]"),  # set to a step (Marin's implicit InputName)
    (60, "untyped-field", "data: Dep[str]"),  # set to step / "val"
]


def test_each_pattern_is_found_with_its_line_and_replacement() -> None:
    findings = check_source(MARIN_STYLE, "exp.py")
    got = sorted((f.line, f.kind, f.replacement) for f in findings)
    expected = sorted(
        (
            line,
            kind,
            repl if repl is not None else next(f.replacement for f in findings if f.line == line),
        )
        for line, kind, repl in EXPECTED
    )
    assert got == expected
    isinstance_fix = next(f.replacement for f in findings if f.kind == "isinstance")
    assert isinstance_fix.startswith("split the function by input type")
    messages = {f.line: f.message for f in findings if f.kind == "untyped-field"}
    assert (
        messages[15]
        == "field TokenizeConfig.cache_path: str is set to a Output[...] value on line 49"
    )
    assert "looks like an input path" in messages[24]


def test_resolved_phase_and_generic_in_phase_configs_are_left_alone() -> None:
    source = (
        "from typing import Generic, TypeVar\n"
        "from dataclasses import dataclass\n"
        "PathT = TypeVar('PathT', Dep[str], str)\n"
        "@dataclass\n"
        "class ResolvedTrainConfig:\n"
        "    input_path: str\n"
        "@dataclass\n"
        "class PlainConfig:\n"
        "    input_path: str\n"
        "@dataclass\n"
        "class PhaseConfig(Generic[PathT]):\n"
        "    input_path: PathT\n"
        "    output_path: Output[str]\n"
        "@resolved\n"
        "def run(config: PlainConfig) -> None: ...\n"
        "x = PhaseConfig(input_path=up / 'x', output_path=this_output())\n"
    )
    assert check_source(source, "ok.py") == []


def test_a_file_that_does_not_parse_is_a_finding() -> None:
    [finding] = check_source("def broken(:\n", "bad.py")
    assert (finding.kind, finding.line) == ("syntax", 1)


def test_cli_text_json_and_exit_status(tmp_path: Path) -> None:
    exp = tmp_path / "experiments"
    (exp / ".hidden").mkdir(parents=True)
    (exp / "exp1.py").write_text(MARIN_STYLE)
    (exp / "clean.py").write_text("from marin_dagster import step\n")
    (exp / ".hidden" / "skipped.py").write_text("x = this_output_path()\n")
    runner = CliRunner()
    result = runner.invoke(main, ["check", str(exp)])
    assert result.exit_code == 1
    assert result.output.startswith(f"{exp / 'exp1.py'}\n  3:1 legacy-name: import of")
    assert "      -> download / 'train'\n" in result.output
    assert result.output.rstrip().endswith(
        "21 findings in 1 of 2 files (see the README: Migrating from Marin's executor)"
    )
    as_json = runner.invoke(main, ["check", "--json", str(exp / "exp1.py")])
    assert as_json.exit_code == 1
    rows = json.loads(as_json.output)
    assert len(rows) == 21
    assert rows[0] == {
        "path": str(exp / "exp1.py"),
        "line": 3,
        "col": 1,
        "kind": "legacy-name",
        "message": "import of the legacy name InputName",
        "replacement": "import Dep (references: `step / 'sub'`, `Dep.hardcoded(path)`)",
    }
    clean = runner.invoke(main, ["check", str(exp / "clean.py")])
    assert (clean.exit_code, clean.output) == (0, "no legacy patterns in 1 file\n")
    assert runner.invoke(main, ["check", str(tmp_path / "missing")]).exit_code == 2


def test_definitions_are_clean_and_user_code_is_never_imported(tmp_path: Path) -> None:
    trap = tmp_path / "trap.py"
    trap.write_text(f"open({str(tmp_path / 'imported')!r}, 'w').close()\nimport no_such_module\n")
    proc = subprocess.run(
        [sys.executable, "-m", "marin_dagster", "check", "definitions", str(trap)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stdout.strip()) == (0, "no legacy patterns in 4 files"), (
        proc.stderr
    )
    assert not (tmp_path / "imported").exists()


@pytest.mark.parametrize("path", ["definitions", "definitions/pipeline.py"])
def test_definitions_clean_in_process(path: str) -> None:
    result = CliRunner().invoke(main, ["check", str(REPO_ROOT / path)])
    assert result.exit_code == 0, result.output
