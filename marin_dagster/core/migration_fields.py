"""The ``untyped-field`` rule of :mod:`marin_dagster.core.migration_check` and its ast helpers.

Example:
    >>> import ast
    >>> retype(ast.parse("list[str]", mode="eval").body, "Dep")
    'list[Dep[str]]'
"""

import ast
from collections.abc import Set as AbstractSet

__all__ = [
    "MARKERS",
    "field_findings",
    "has_marker",
    "name_of",
    "phase_typevars",
    "retype",
    "source",
    "step_names",
    "value_kind",
]

MARKERS = {"Dep", "Output", "Versioned", "StepRef"}
OUTPUT_CALLS = {"this_output_path", "OutputName", "this_output", "output_subpath"}
DEP_CALLS = {"output_path_of", "InputName", "hardcoded", "require", "require_nonblocking"}
VERSIONED_CALLS = {"versioned", "VersionedValue"}


def name_of(node: ast.AST) -> str | None:
    """The last name of ``a.b.c`` / ``c``, else ``None``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def source(node: ast.AST) -> str:
    """The code of ``node``, as ``ast.unparse`` writes it."""
    return ast.unparse(node)


def value_kind(node: ast.AST, steps: AbstractSet[str] = frozenset()) -> str | None:
    """``Dep``/``Output``/``Versioned`` for a value that is (a list of) one, else ``None``.

    ``steps`` names variables bound to a step or a reference (``x = ExecutorStep(...)``,
    ``x = ctx.require(...)``): ``x``, ``x / "sub"`` and ``x.ref`` are ``Dep`` values.
    """
    if isinstance(node, ast.List | ast.Tuple) and node.elts:
        return value_kind(node.elts[0], steps)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        return value_kind(node.left, steps)
    if isinstance(node, ast.Name):
        return "Dep" if node.id in steps else None
    if isinstance(node, ast.Attribute):
        if node.attr == "output":
            return "Output"
        return "Dep" if node.attr == "ref" and value_kind(node.value, steps) else None
    if isinstance(node, ast.Call):
        name = name_of(node.func)
        if name in OUTPUT_CALLS:
            return "Output"
        if name in VERSIONED_CALLS:
            return "Versioned"
        if name in DEP_CALLS or name in ("nonblocking", "cd"):
            return "Dep"
    return None


def step_names(tree: ast.AST) -> set[str]:
    """Variables bound to a step or a reference anywhere in the file (by a plain assignment)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            name = name_of(node.value.func)
            if name == "ExecutorStep" or name in DEP_CALLS:
                found.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return found


def has_marker(annotation: ast.AST, markers: AbstractSet[str] = MARKERS) -> bool:
    return any(name_of(n) in markers for n in ast.walk(annotation))


def phase_typevars(tree: ast.Module) -> set[str]:
    """Module-level ``T = TypeVar("T", Dep[str], str)``: TypeVars standing for a marker."""
    found: set[str] = set()
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Call)
            and name_of(stmt.value.func) == "TypeVar"
            and has_marker(stmt.value)
        ):
            found.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
    return found


def stringy(annotation: ast.AST) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "str" for n in ast.walk(annotation))


def retype(annotation: ast.AST | None, kind: str) -> str:
    """``annotation`` with its ``str`` wrapped in ``kind`` (``list[str]`` → ``list[Dep[str]]``)."""
    if annotation is None or not stringy(annotation):
        inner = source(annotation) if annotation is not None and kind == "Versioned" else "str"
        return f"{kind}[{inner}]"
    if kind == "Versioned":
        return f"Versioned[{source(annotation)}]"

    class Wrap(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id != "str":
                return node
            return ast.Subscript(value=ast.Name(kind), slice=ast.Name("str"))

    return source(Wrap().visit(ast.parse(source(annotation), mode="eval")).body)


def field_findings(
    classes: dict[str, ast.ClassDef],
    field_values: dict[tuple[str, str], tuple[str, ast.keyword]],
    markers: AbstractSet[str],
    resolved: AbstractSet[str],
) -> list[tuple[ast.AST, str, str]]:
    """``(node, message, replacement)`` for each config field lacking a marker (module rule)."""
    found: list[tuple[ast.AST, str, str]] = []
    for name, cls in classes.items():
        sugar = any(
            name_of(d.func if isinstance(d, ast.Call) else d) == "executor_step"
            for d in cls.decorator_list
        )
        if name.startswith("Resolved") or name in resolved:
            continue
        config = name.endswith("Config") or sugar
        for stmt in cls.body:
            if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                continue
            field, ann = stmt.target.id, stmt.annotation
            if has_marker(ann, markers) or source(ann).startswith("ClassVar"):
                continue
            seen = field_values.get((name, field))
            if seen is not None:
                kind, where = seen
                message = (
                    f"field {name}.{field}: {source(ann)} is set to a {kind}[...] value on "
                    f"line {where.value.lineno}"
                )
            elif config and stringy(ann) and field == "output_path":
                kind, message = "Output", f"field {name}.{field}: {source(ann)} is an output"
            elif config and stringy(ann) and field.endswith(("_path", "_paths")):
                kind = "Dep"
                message = (
                    f"field {name}.{field}: {source(ann)} looks like an input path (another "
                    "step's output, or Dep.hardcoded(path) for outside data)"
                )
            else:
                continue
            found.append((stmt, message, f"{field}: {retype(ann, kind)}"))
    return found
