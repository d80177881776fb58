"""pyproject.toml's dependencies match what the code imports.

``pip install marin-dagster`` must bring everything the library imports when its modules load;
an engine imported lazily (inside a function) or a module that exists for one extra must be in
that extra; the example and the UI are extras of their own.
"""

import ast
import functools
import importlib.metadata
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# Modules that exist for one extra: importing them needs that extra.
EXTRA_MODULES = {"marin_dagster/storage.py": "gcs"}
OWN = {"marin_dagster", "definitions"}


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


@functools.cache
def _installed() -> dict[str, list[str]]:
    return dict(importlib.metadata.packages_distributions())


def _distributions(top_level: str) -> set[str]:
    names = _installed().get(top_level, [])
    return {name.lower().replace("_", "-") for name in names}


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(top-level module, imported at module load) for each third-party import in ``path``."""
    tree = ast.parse(path.read_text())
    lazy: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or (
            isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        ):
            lazy.update(id(child) for child in ast.walk(node) if child is not node)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        for module in modules:
            top = module.split(".")[0]
            if top not in sys.stdlib_module_names and top not in OWN and top != "__future__":
                yield top, id(node) not in lazy


def _extra(name: str) -> set[str]:
    return {_name(r) for r in PYPROJECT["optional-dependencies"][name]}


def test_the_library_imports_only_its_declared_dependencies_at_load() -> None:
    core = {_name(r) for r in PYPROJECT["dependencies"]}
    missing = []
    for path in sorted((REPO / "marin_dagster").rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        allowed = core | (_extra(EXTRA_MODULES[relative]) if relative in EXTRA_MODULES else set())
        for top, at_load in _imports(path):
            if at_load and not _distributions(top) & allowed:
                missing.append(f"{relative}: {top}")
    assert missing == []


def test_every_lazily_imported_engine_is_a_dependency_or_in_an_extra() -> None:
    core = {_name(r) for r in PYPROJECT["dependencies"]}
    extras = core.union(*(_extra(name) for name in PYPROJECT["optional-dependencies"]))
    missing = [
        f"{path.relative_to(REPO)}: {top}"
        for path in sorted((REPO / "marin_dagster").rglob("*.py"))
        for top, at_load in _imports(path)
        if not at_load and not _distributions(top) & extras
    ]
    assert missing == []


def test_the_example_and_the_ui_are_named_extras() -> None:
    example_imports = {
        top for path in (REPO / "definitions").rglob("*.py") for top, _ in _imports(path)
    }
    core = {_name(r) for r in PYPROJECT["dependencies"]}
    needed = set().union(*(_distributions(top) for top in example_imports)) - core
    assert needed and needed <= _extra("example")
    assert {"dagster-webserver", "dagster-dg-cli"} <= _extra("ui")
    assert not {"numpy", "dagster-webserver", "dagster-dg-cli", "dagster-gcp"} & core
