"""Find what seed 000's migration phases 2-5 ask to change, by reading source with ``ast``.

Nothing is imported or run. Three kinds of finding, each with a line and a replacement:

* ``legacy-name`` (phases 4-5): ``InputName``, ``OutputName``, ``VersionedValue``,
  ``output_path_of``, ``this_output_path`` (calls, imports, annotations);
* ``isinstance`` / ``union`` (phase 2): ``isinstance`` checks on a reference type
  (``InputName | ExecutorStep``, ``StepRef``...) and parameters annotated with a union of a
  step reference and a plain value;
* ``untyped-field`` (phase 3): a config dataclass field holding a path or a step without a
  ``Dep``/``Output``/``Versioned`` annotation. The heuristic, in order: a field this file sets
  to a reference or ``versioned(...)`` when it builds the class (any annotation without a
  marker; a reference is a legacy or new reference call, ``ctx.output``, or a variable bound by
  ``x = ExecutorStep(...)`` / ``x = ctx.require(...)``, alone, ``/ "sub"`` or ``.ref``); else,
  in a class named ``*Config`` (Marin's convention) or decorated ``@executor_step``, a field
  annotated with ``str`` (``str | None``, ``list[str]``...) named ``output_path`` (→
  ``Output[str]``) or ``*_path`` / ``*_paths`` (→ ``Dep[str]``). A class in the resolved phase
  is left alone: named ``Resolved*`` (seed 004's naming) or annotating the config of a
  ``@resolved`` function. A TypeVar defined in the file with a marker among its constraints (the
  generic-in-phase pattern) counts as a marker.

Example:
    >>> [f.kind for f in check_source("x = this_output_path()\\n", "x.py")]
    ['legacy-name']
"""

import ast
import dataclasses
import os
from collections.abc import Iterable, Iterator

from marin_dagster.core.migration_fields import (
    MARKERS,
    field_findings,
    phase_typevars,
    step_names,
    value_kind,
)
from marin_dagster.core.migration_fields import name_of as _name
from marin_dagster.core.migration_fields import source as _src

__all__ = ["Finding", "check_paths", "check_source"]

LEGACY_IMPORTS = {
    "InputName": "import Dep (references: `step / 'sub'`, `Dep.hardcoded(path)`)",
    "OutputName": "import this_output",
    "VersionedValue": "import versioned",
    "output_path_of": "drop it: write `step / 'sub'` (or `ctx.require(step) / 'sub'`)",
    "this_output_path": "import this_output (or use `ctx.output` in a @step body)",
}
LEGACY_USES = {
    "InputName": "Dep[str] (a StepRef)",
    "OutputName": "Output[str] / this_output()",
    "VersionedValue": "Versioned / versioned(value)",
    "output_path_of": "step / 'sub'",
    "this_output_path": "this_output()",
}
REFERENCE_TYPES = {
    "InputName",
    "OutputName",
    "ExecutorStep",
    "StepRef",
    "VersionedValue",
    "Versioned",
    "Dep",
    "Output",
}


@dataclasses.dataclass(frozen=True, order=True)
class Finding:
    """One thing to change: where, what, and what to write instead."""

    path: str
    line: int
    col: int
    kind: str
    message: str
    replacement: str


def _legacy_call(call: ast.Call) -> tuple[str, str] | None:
    """``(message, replacement)`` for a call of a legacy name, else ``None``."""
    func = call.func
    args = [_src(a) for a in call.args]
    name = _name(func)
    if (
        isinstance(func, ast.Attribute)
        and func.attr == "hardcoded"
        and _name(func.value) == ("InputName")
    ):
        return "InputName.hardcoded(...) is legacy", f"Dep.hardcoded({', '.join(args)})"
    if name == "output_path_of" and args:
        ref = f"{args[0]} / {args[1]}" if len(args) > 1 else f"{args[0]}.ref"
        return "output_path_of(...) is legacy", ref
    if name == "InputName" and args:
        ref = f"{args[0]} / {args[1]}" if len(args) > 1 else f"{args[0]}.ref"
        return "InputName(...) is legacy", ref
    if name in ("this_output_path", "OutputName"):
        inner = "" if not args or args[0] == "None" else args[0]
        return f"{name}(...) is legacy", f"this_output({inner}) (ctx.output in a @step body)"
    if name == "VersionedValue":
        return "VersionedValue(...) is legacy", f"versioned({', '.join(args)})"
    return None


def _is_dataclass_decorator(node: ast.AST) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    return _name(target) in ("dataclass", "executor_step")


class _Checker(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.findings: list[Finding] = []
        self.skip: set[int] = set()  # nodes already reported as part of a larger finding
        self.classes: dict[str, ast.ClassDef] = {}
        self.field_values: dict[tuple[str, str], tuple[str, ast.keyword]] = {}
        self.markers = set(MARKERS)
        self.steps: set[str] = set()  # variables bound to a step or a reference
        self.resolved: set[str] = set()  # classes annotating a @resolved function's config

    def add(self, node: ast.AST, kind: str, message: str, replacement: str) -> None:
        line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0) + 1
        self.findings.append(Finding(self.path, line, col, kind, message, replacement))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name in LEGACY_IMPORTS:
                self.add(
                    node,
                    "legacy-name",
                    f"import of the legacy name {alias.name}",
                    LEGACY_IMPORTS[alias.name],
                )

    def visit_Call(self, node: ast.Call) -> None:
        if _name(node.func) == "isinstance" and len(node.args) == 2:
            types = {_name(n) for n in ast.walk(node.args[1])} & REFERENCE_TYPES
            if types:
                self.skip.update(id(n) for n in ast.walk(node.args[1]))
                self.add(
                    node,
                    "isinstance",
                    f"isinstance check on a step reference ({_src(node.args[1])})",
                    "split the function by input type: one taking a StepRef (Dep[str]), one "
                    "taking the concrete value; call the one that fits",
                )
        legacy = _legacy_call(node)
        if legacy is not None:
            self.skip.update(id(n) for n in ast.walk(node.func))
            self.add(node, "legacy-name", legacy[0], legacy[1])
        callee = _name(node.func)
        if callee is not None:
            for keyword in node.keywords:
                kind = value_kind(keyword.value, self.steps) if keyword.arg else None
                if kind is not None and keyword.arg is not None:
                    self.field_values.setdefault((callee, keyword.arg), (kind, keyword))
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in LEGACY_USES and id(node) not in self.skip:
            self.add(
                node,
                "legacy-name",
                f"the legacy name {node.id}",
                LEGACY_USES[node.id],
            )

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        params = [*node.args.posonlyargs, *node.args.args]
        if params and params[0].annotation is not None:
            if any(_name(d) == "resolved" for d in node.decorator_list):
                self.resolved.update(_name(n) or "" for n in ast.walk(params[0].annotation))
        for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
            ann = arg.annotation
            if ann is None or not isinstance(ann, ast.BinOp | ast.Subscript):
                continue
            arms = _union_arms(ann)
            refs = [a for a in arms if _name(a) in REFERENCE_TYPES - {"Versioned"}]
            plain = [a for a in arms if a not in refs and _src(a) != "None"]
            if refs and plain:
                self.add(
                    arg,
                    "union",
                    f"parameter {arg.arg!r} takes a step reference or a value ({_src(ann)})",
                    "split the function: one taking a StepRef, one taking "
                    + " | ".join(_src(a) for a in plain),
                )
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if any(_is_dataclass_decorator(d) for d in node.decorator_list):
            self.classes[node.name] = node
        self.generic_visit(node)

    def check_fields(self) -> None:
        for node, message, replacement in field_findings(
            self.classes, self.field_values, self.markers, self.resolved
        ):
            self.add(node, "untyped-field", message, replacement)


def _union_arms(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return [*_union_arms(node.left), *_union_arms(node.right)]
    if isinstance(node, ast.Subscript) and _name(node.value) == "Union":
        inner = node.slice
        return list(inner.elts) if isinstance(inner, ast.Tuple) else [inner]
    if isinstance(node, ast.Subscript) and _name(node.value) == "Optional":
        return [node.slice, ast.Constant(None)]
    return [node]


def check_source(source: str, path: str) -> list[Finding]:
    """Findings in one file's text, by line.

    Example:
        >>> check_source("from marin_dagster import step\\n", "ok.py")
        []
    """
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        return [Finding(path, exc.lineno or 0, exc.offset or 0, "syntax", str(exc.msg), "-")]
    checker = _Checker(path)
    checker.markers |= phase_typevars(tree)
    checker.steps = step_names(tree)
    checker.visit(tree)
    checker.check_fields()
    return sorted(set(checker.findings))


def python_files(paths: Iterable[str]) -> Iterator[str]:
    """The ``.py`` files named or under the directories named, in a stable order."""
    for path in paths:
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
                yield from (os.path.join(root, f) for f in sorted(files) if f.endswith(".py"))
        elif os.path.exists(path):
            yield path
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")


def check_paths(paths: Iterable[str]) -> list[Finding]:
    """Findings in every ``.py`` file under ``paths`` (files or directories), file by file.

    Example:
        >>> check_paths(["definitions"])  # doctest: +SKIP
        []
    """
    findings: list[Finding] = []
    for file in python_files(paths):
        with open(file, encoding="utf-8") as f:
            findings.extend(check_source(f.read(), file))
    return findings
