"""Load a code location the way Dagster's CLI does (``-m``, ``-f``, ``-a``, ``-w``).

Example:
    >>> graph, options = load_graph(module="definitions")  # doctest: +SKIP
"""

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import dagster as dg
import yaml

from marin_dagster.core.graph import StepGraph
from marin_dagster.core.runner import RunOptions
from marin_dagster.definitions_builder import run_options_of, step_graph_of


def _import_module(name: str) -> ModuleType:
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as Dagster does: the working directory is importable
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise click.UsageError(f"cannot import module {name!r}: {exc}") from exc


def _import_file(path: str) -> ModuleType:
    file = Path(path).resolve()
    if not file.is_file():
        raise click.UsageError(f"no such file: {path}")
    sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(file.stem, file)
    if spec is None or spec.loader is None:
        raise click.UsageError(f"cannot load {path} as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    spec.loader.exec_module(module)
    return module


def _definitions(module: ModuleType, attribute: str | None) -> dg.Definitions:
    if attribute is not None:
        value: Any = getattr(module, attribute, None)
        if not isinstance(value, dg.Definitions):
            raise click.UsageError(f"{module.__name__}.{attribute} is not a dagster Definitions")
        return value
    found = [v for v in vars(module).values() if isinstance(v, dg.Definitions)]
    if len(found) != 1:
        raise click.UsageError(
            f"{module.__name__} has {len(found)} Definitions at module scope; name one with -a"
        )
    return found[0]


def _from_workspace(path: str) -> tuple[ModuleType, str | None]:
    file = Path(path)
    try:
        entries = (yaml.safe_load(file.read_text()) or {}).get("load_from") or []
    except (OSError, yaml.YAMLError) as exc:
        raise click.UsageError(f"cannot read workspace {path}: {exc}") from exc
    if len(entries) != 1:
        raise click.UsageError(f"{path} has {len(entries)} code locations; this needs exactly one")
    (kind, target), *_ = entries[0].items()
    target = (
        {"module_name" if kind == "python_module" else "relative_path": target}
        if isinstance(target, str)
        else dict(target)
    )
    base = file.resolve().parent
    workdir = target.get("working_directory")
    sys.path.insert(0, str(base / workdir) if workdir else str(base))
    if kind == "python_module":
        return _import_module(target["module_name"]), target.get("attribute")
    if kind == "python_file":
        return _import_file(str(base / target["relative_path"])), target.get("attribute")
    raise click.UsageError(f"{path}: unsupported load_from entry {kind!r}")


def load_graph(
    *,
    module: str | None = None,
    file: str | None = None,
    attribute: str | None = None,
    workspace: str | None = None,
) -> tuple[StepGraph, RunOptions]:
    """The marin step graph and run options of one code location; ``UsageError`` if none."""
    given = [x for x in (module, file, workspace) if x is not None]
    if len(given) > 1:
        raise click.UsageError("give one of -m, -f, -w")
    if module is not None:
        loaded = _import_module(module)
    elif file is not None:
        loaded = _import_file(file)
    else:
        default = workspace or "workspace.yaml"
        if not Path(default).is_file():
            raise click.UsageError("no code location: give -m MODULE, -f FILE or -w workspace.yaml")
        loaded, ws_attribute = _from_workspace(default)
        attribute = attribute or ws_attribute
    defs = _definitions(loaded, attribute)
    try:
        return step_graph_of(defs), run_options_of(defs)
    except (LookupError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc
