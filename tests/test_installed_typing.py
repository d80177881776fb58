"""Pyright sees marin_dagster from a user's own project, outside this repository.

The README installs the package editable in setuptools' ``compat`` mode (a path entry in a
``.pth`` file), which static checkers follow; the default editable mode installs an import
hook that pyright cannot see, so every ``from marin_dagster import ...`` would be unresolved.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

USER_CODE = """\
from dataclasses import dataclass

from marin_dagster import Output, StepContext, Versioned, build_definitions, step, versioned


@dataclass(frozen=True)
class HelloConfig:
    greeting: Versioned[str]
    output_path: Output[str]


def hello(config) -> None: ...


@step(name="demo/hello", fn=hello)
def hello_step(ctx: StepContext) -> HelloConfig:
    return HelloConfig(greeting=versioned("hi"), output_path=ctx.output)


defs = build_definitions([hello_step()])
wrong: int = versioned("not an int")  # the one error pyright must report
"""


def test_pyright_resolves_the_installed_package_from_a_user_project(tmp_path: Path) -> None:
    exe = shutil.which("pyright")
    assert exe, "pyright is a dev dependency: pip install -e '.[dev]'"
    (tmp_path / "user_pipeline.py").write_text(USER_CODE)
    proc = subprocess.run(
        [exe, "--outputjson", "--pythonpath", sys.executable, "user_pipeline.py"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    found = [(d["range"]["start"]["line"] + 1, d.get("rule")) for d in errors]
    wrong_line = USER_CODE.splitlines().index(
        'wrong: int = versioned("not an int")  # the one error pyright must report'
    )
    assert found == [(wrong_line + 1, "reportAssignmentType")], errors
