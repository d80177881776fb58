"""``explain STEP``: why a step's version differs from the one recorded at its latest output.

Reads ``.executor_info`` under the newest ``{prefix}/{name}-*`` directory (by the info file's
mtime), diffs its ``version`` against the current definition's field by field, names the
upstream steps at the root of each change, and lists the downstream steps whose output paths
change with it. Nothing is written.
"""

import glob
import json
import re
from collections.abc import Iterator
from typing import Any

from marin_dagster.core.graph import AnyStep, StepGraph
from marin_dagster.core.status import INFO_FILE, read_info, read_status, resolve

_MISSING = object()
_HASH = re.compile(r"[0-9a-f]{6}")


def latest_recorded(graph: StepGraph, step: AnyStep) -> str | None:
    """The output directory of ``step``'s name holding the newest ``.executor_info``, if any."""
    current = graph.output_path(step)
    if step.override_output_path is not None:
        return current if read_info(current) is not None else None
    fs, root = resolve(graph.prefix)
    own = f"{root.rstrip('/')}/{step.name}"
    newest: tuple[float, str] | None = None
    for info in fs.glob(f"{glob.escape(own)}-*/{INFO_FILE}"):
        directory = str(info).rsplit("/", 1)[0]
        name, _, hashed = directory.rpartition("-")
        if name != own or not _HASH.fullmatch(hashed):  # not "train/lm" for "train/lm-lr0.1"
            continue
        mtime = fs.modified(info).timestamp()
        if newest is None or mtime > newest[0]:
            newest = (mtime, directory)
    if newest is None:
        return None
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    local = protocol in ("file", "local")
    return newest[1] if local else f"{protocol}://{newest[1].lstrip('/')}"


def _show(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def diff(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """``(dotted path, old, new)`` for every leaf that differs (missing sides are ``_MISSING``)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            sub = f"{path}.{key}" if path else str(key)
            yield from diff(old.get(key, _MISSING), new.get(key, _MISSING), sub)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            label: Any = i
            if path.endswith("dependencies"):  # name the upstream step, inline or "name-hash"
                label = b.get("name", i) if isinstance(b, dict) else str(b).rsplit("-", 1)[0]
            yield from diff(a, b, f"{path}[{label}]")
    elif old != new:
        yield path, old, new


def _line(path: str, old: Any, new: Any) -> str:
    if old is _MISSING:
        return f"  {path}: added {_show(new)}"
    if new is _MISSING:
        return f"  {path}: removed (was {_show(old)})"
    return f"  {path}: {_show(old)} → {_show(new)}"


def _root_cause(step_name: str, path: str) -> str:
    """The step owning a changed field: the innermost ``dependencies[NAME]`` in its path."""
    owner = step_name
    for part in path.split("dependencies[")[1:]:
        owner = part.split("]", 1)[0]
    return owner


def downstream(graph: StepGraph, step: AnyStep) -> list[AnyStep]:
    """Steps whose version includes ``step``'s (blocking or not), transitively."""
    affected = {id(graph.canonical(step))}
    out = []
    for s in graph.steps:  # dependencies first
        walk = graph.version(s).walk
        refs = [graph.canonical(d) for d in [*walk.dependencies, *walk.pseudo_dependencies]]
        if id(s) not in affected and any(id(d) in affected for d in refs):
            affected.add(id(s))
            out.append(s)
    return out


def explain(graph: StepGraph, step: AnyStep) -> str:
    """The report ``marin-dagster explain`` prints."""
    current_path = graph.output_path(step)
    current = graph.version(step).version
    lines = [f"{step.name}", f"  current definition: {current_path}"]
    recorded_path = latest_recorded(graph, step)
    if recorded_path is None:
        lines.append("nothing recorded on storage for this step name: a run would run it fresh")
        return "\n".join(lines)
    info = read_info(recorded_path) or {}
    status = read_status(recorded_path)
    state = status.value if status else "no status"
    lines.append(f"  latest on storage:  {recorded_path} ({state})")
    changes = list(diff(info.get("version", {}), current))
    if not changes:
        verdict = "cache hit" if status and status.value == "SUCCESS" else f"same version ({state})"
        lines.append(f"versions are equal: {verdict}")
        return "\n".join(lines)
    lines.append("changed (recorded → current):")
    lines.extend(_line(*change) for change in changes)
    causes = sorted({_root_cause(step.name, path) for path, _, _ in changes})
    lines.append(f"root cause: {', '.join(causes)}")
    below = downstream(graph, step)
    if below:
        lines.append("downstream steps whose output path changes with it:")
        lines.extend(
            f"  {s.name}: {graph.output_path(s)}" for s in below if s.override_output_path is None
        )
    return "\n".join(lines)
