"""Versions, hashes and output paths of a step graph, exactly as Marin's executor computes them.

``version = {"name", "config", "dependencies"}`` (+ ``"pseudo_dependencies"`` when there are
non-blocking references); a dependency contributes its whole version dict when its
blocking-dependency depth is at most 4, else ``"{name}-{hash}"``; ``hash = md5(json)[:6]``;
``path = os.path.join(prefix, name + "-" + hash)`` unless ``override_output_path`` is set.

Each step's version is computed once per graph and kept by the graph (never on the step: a
config edited after a first graph must not keep a stale hash), so a graph is hashed once per
step however many paths lead to it.

Example:
    >>> graph = StepGraph([some_step], prefix="/p")  # doctest: +SKIP
    >>> graph.output_path(some_step)  # doctest: +SKIP
    '/p/download/fineweb-2aeb1d'
"""

import dataclasses
import os
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, cast

from marin_dagster.core.encoding import version_hash
from marin_dagster.core.errors import StepCycleError, StepDefinitionError
from marin_dagster.core.overlap import check_disjoint_outputs
from marin_dagster.core.refs import RefKind, StepRef
from marin_dagster.core.resolve import default_prefix, prefix_absolute, resolve_config, resolve_ref
from marin_dagster.core.scoped import gc_paused
from marin_dagster.core.steps import STEP_FACTORY_ATTR, ExecutorStep, make_step
from marin_dagster.core.walk import ConfigWalk, check_hardcoded, walk_config

MAX_INLINE_DEPTH = 4

AnyStep = ExecutorStep[Any]


@dataclasses.dataclass(frozen=True)
class StepVersion:
    """A step's version dict, its JSON text, the 6-hex hash and its blocking depth."""

    walk: ConfigWalk
    version: dict[str, Any]
    version_str: str
    hash: str
    depth: int

    def as_dependency(self, name: str) -> dict[str, Any] | str:
        """What this step contributes to a dependent's version (Marin's ``dep_version``)."""
        return self.version if self.depth <= MAX_INLINE_DEPTH else f"{name}-{self.hash}"


def _unique(steps: Iterable[AnyStep]) -> list[AnyStep]:
    seen: set[int] = set()
    out: list[AnyStep] = []
    for s in steps:
        if id(s) not in seen:
            seen.add(id(s))
            out.append(s)
    return out


class _Versions:
    """Walks and versions of steps, computed once each and cached by step identity.

    One instance belongs to one :class:`StepGraph` (or one :func:`step_version` call): nothing
    is stored on the steps, so a config edited after a first build is walked afresh next time.
    """

    def __init__(self) -> None:
        self.walks: dict[int, ConfigWalk] = {}
        self.records: dict[int, StepVersion] = {}

    def walk(self, step: AnyStep) -> ConfigWalk:
        walk = self.walks.get(id(step))
        if walk is None:
            if step.config_type is None:
                walk = walk_config(step.config, step_name=step.name)
            else:
                walk = walk_config(step.config, step_name=step.name, annotation=step.config_type)
            self.walks[id(step)] = walk
        return walk

    def children(self, step: AnyStep) -> list[AnyStep]:
        walk = self.walks[id(step)]
        return _unique([*walk.dependencies, *walk.pseudo_dependencies, *step.ordering_deps])

    def compute_all(self, roots: Iterable[AnyStep]) -> list[AnyStep]:
        """Version every step reachable from ``roots``; return them dependencies first."""
        order = self.post_order(roots)
        for node in order:
            if id(node) not in self.records:
                self.records[id(node)] = self._compute(node)
        return order

    def _compute(self, step: AnyStep) -> StepVersion:
        walk = self.walks[id(step)]
        deps = [self.records[id(d)] for d in walk.dependencies]
        pseudo = [self.records[id(d)] for d in walk.pseudo_dependencies]
        version: dict[str, Any] = {
            "name": step.name,
            "config": walk.version,
            "dependencies": [
                v.as_dependency(d.name) for v, d in zip(deps, walk.dependencies, strict=True)
            ],
        }
        if pseudo:
            version["pseudo_dependencies"] = [
                v.as_dependency(d.name)
                for v, d in zip(pseudo, walk.pseudo_dependencies, strict=True)
            ]
        depth = 0 if not deps else 1 + max(v.depth for v in deps)
        try:
            version_str, hashed = version_hash(version)
        except (TypeError, ValueError) as exc:  # already checked per field by the walk
            raise StepDefinitionError(
                f"cannot serialise the version: {exc}", step=step.name
            ) from exc
        return StepVersion(walk, version, version_str, hashed, depth)

    def post_order(self, roots: Iterable[AnyStep]) -> list[AnyStep]:
        """Every step reachable from ``roots``, dependencies first (Marin's discovery order).

        Iterative, so chains of any depth work; a cycle raises :class:`StepCycleError`.
        """
        order: list[AnyStep] = []
        state: dict[int, int] = {}  # 1 = on the current path, 2 = done
        for root in roots:
            if state.get(id(root)) == 2:
                continue
            stack: list[tuple[AnyStep, bool]] = [(root, False)]
            path: list[AnyStep] = []
            while stack:
                node, expanded = stack.pop()
                if expanded:
                    state[id(node)] = 2
                    path.pop()
                    order.append(node)
                    continue
                mark = state.get(id(node))
                if mark == 2:
                    continue
                if mark == 1:
                    _raise_cycle([*path[path.index(node) :], node])
                state[id(node)] = 1
                path.append(node)
                self.walk(node)
                stack.append((node, True))
                for child in reversed(self.children(node)):
                    child_mark = state.get(id(child))
                    if child_mark == 1:
                        _raise_cycle([*path[path.index(child) :], child])
                    if child_mark is None:
                        stack.append((child, False))
        return order


def _raise_cycle(cycle: list[AnyStep]) -> None:
    raise StepCycleError(
        "dependency cycle: " + " -> ".join(s.name for s in cycle), step=cycle[-1].name
    )


def post_order(roots: Iterable[AnyStep]) -> list[AnyStep]:
    """Every step reachable from ``roots``, dependencies first (Marin's discovery order)."""
    return _Versions().post_order(roots)


def step_version(step: AnyStep) -> StepVersion:
    """The version of ``step``, computing its dependencies' versions first (nothing cached)."""
    versions = _Versions()
    with gc_paused():
        versions.compute_all([step])
    return versions.records[id(step)]


def _root_step(item: object) -> AnyStep:
    if isinstance(item, ExecutorStep):
        return item
    if isinstance(item, StepRef) and item.step is not None:
        return item.step
    raise StepDefinitionError(_not_a_step(item), field="steps")


def _not_a_step(item: object) -> str:
    factory = getattr(item, STEP_FACTORY_ATTR, None)
    if factory is not None:
        fn = getattr(item, "__name__", "the factory")
        return (
            f"got the @step factory {fn} (step {factory!r}), not a step; did you mean {fn}()? "
            "Calling the factory builds the step"
        )
    if isinstance(item, str):
        return (
            f"got the str {item!r}; pass steps (what a @step factory returns) or references to "
            "them, not names or paths"
        )
    return f"expected an ExecutorStep or a reference to one, got {type(item).__name__}: {item!r}"


def roots_of(steps: object) -> "list[AnyStep | StepRef]":
    """The steps named by one step, one reference, or an iterable of them; anything else fails.

    Example:
        >>> roots_of("tokenize/fineweb")
        Traceback (most recent call last):
        ...
        marin_dagster.core.errors.StepDefinitionError: field 'steps': got the str ...
    """
    if isinstance(steps, ExecutorStep | StepRef):
        items: list[object] = [steps]
    elif isinstance(steps, str | bytes) or not isinstance(steps, Iterable):
        raise StepDefinitionError(_not_a_step(steps), field="steps")
    else:
        items = list(steps)
    for item in items:
        _root_step(item)
    return cast("list[AnyStep | StepRef]", items)


class StepGraph:
    """All steps reachable from ``roots`` (deduplicated by version), with their output paths.

    Example:
        >>> graph = StepGraph([train_step], prefix="gs://bucket")  # doctest: +SKIP
        >>> [graph.output_path(s) for s in graph.steps]  # doctest: +SKIP
    """

    def __init__(self, roots: Iterable["AnyStep | StepRef"], *, prefix: str | None = None):
        self.prefix = prefix if prefix is not None else default_prefix()
        self.roots = _unique(_root_step(r) for r in roots)
        self._versions = _Versions()
        self._canonical: dict[int, AnyStep] = {}
        self.steps: list[AnyStep] = []
        with gc_paused():  # many small acyclic records: the cyclic GC only slows this down
            self._build()
        self._warn_unreferenced_requires()

    def _build(self) -> None:
        every = self._versions.compute_all(self.roots)
        records = self._versions.records
        by_version: dict[str, AnyStep] = {}
        for node in every:
            first = by_version.setdefault(records[id(node)].version_str, node)
            self._canonical[id(node)] = first
            if first is node:
                self.steps.append(node)
        self._paths = {id(s): self._own_path(s) for s in self.steps}
        check_disjoint_outputs(
            [(s.name, self._paths[id(s)], s.override_output_path is not None) for s in self.steps],
            prefix=self.prefix,
        )

    def _own_path(self, step: AnyStep) -> str:
        if step.override_output_path is None:
            hashed = self._versions.records[id(step)].hash
            return os.path.join(self.prefix, step.name + "-" + hashed)
        return prefix_absolute(self.prefix, step.override_output_path)

    def _warn_unreferenced_requires(self) -> None:
        for s in self.steps:
            unreferenced = self.ordering_only_deps(s) if s.ordering_deps else []
            if unreferenced:
                names = ", ".join(d.name for d in unreferenced)
                warnings.warn(
                    f"step {s.name!r} requires {names} without referencing it in its config: it "
                    "waits for it, but the reference does not enter its version",
                    UserWarning,
                    stacklevel=3,
                )

    def canonical(self, step: AnyStep) -> AnyStep:
        """The step that stands for every step with the same version."""
        try:
            return self._canonical[id(step)]
        except KeyError:
            raise StepDefinitionError("step is not part of this graph", step=step.name) from None

    def version(self, step: AnyStep) -> StepVersion:
        """The step's version record."""
        return self._versions.records[id(self.canonical(step))]

    def output_path(self, step: AnyStep) -> str:
        """The step's output path under this graph's prefix."""
        return self._paths[id(self.canonical(step))]

    def blocking_deps(self, step: AnyStep) -> list[AnyStep]:
        """Canonical steps ``step`` waits for: blocking references plus ordering-only requires."""
        walk = self.version(step).walk
        return _unique(self.canonical(d) for d in [*walk.dependencies, *step.ordering_deps])

    def pseudo_deps(self, step: AnyStep) -> list[AnyStep]:
        """Canonical steps referenced only without blocking (hashed, not waited on)."""
        blocking = {id(d) for d in self.blocking_deps(step)}
        pseudo = (self.canonical(d) for d in self.version(step).walk.pseudo_dependencies)
        return [d for d in _unique(pseudo) if id(d) not in blocking]

    def ordering_only_deps(self, step: AnyStep) -> list[AnyStep]:
        """Steps required with ``ctx.require`` but never referenced in the config."""
        walk = self.version(step).walk
        referenced = {id(d) for d in [*walk.dependencies, *walk.pseudo_dependencies]}
        return [d for d in step.ordering_deps if id(d) not in referenced]

    def scheduled_steps(self) -> list[AnyStep]:
        """Steps a run of the roots executes: reachable from a root through blocking edges.

        A step reached only through non-blocking references is resolved and hashed but not run
        (Marin's pseudo-dependency rule, applied transitively).
        """
        seen: set[int] = set()
        stack = [self.canonical(r) for r in self.roots]
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.extend(self.blocking_deps(node))
        return [s for s in self.steps if id(s) in seen]

    def resolve_ref(self, ref: StepRef, *, step: AnyStep | None = None) -> str:
        """The concrete path of ``ref`` (own-output references need ``step``)."""
        own = self.output_path(step) if step is not None else None
        return resolve_ref(ref, output_path=own, path_of=self.output_path, prefix=self.prefix)

    def resolved_config(self, step: AnyStep) -> Any:
        """The config ``step.fn`` receives."""
        return resolve_config(
            step.config,
            output_path=self.output_path(step),
            path_of=self.output_path,
            prefix=self.prefix,
        )

    def name_conflicts(self) -> dict[str, list[AnyStep]]:
        """Step names used by more than one version (Dagster needs one key per name)."""
        by_name: dict[str, list[AnyStep]] = {}
        for s in self.steps:
            by_name.setdefault(s.name, []).append(s)
        return {name: group for name, group in by_name.items() if len(group) > 1}


def compute_output_path(
    step_or_name: "AnyStep | StepRef | str",
    config: Any = None,
    *,
    override_output_path: str | None = None,
    prefix: str | None = None,
) -> str:
    """A step's (or reference's) output path, without running or writing anything.

    Accepts Marin's form too: ``compute_output_path(name, config, override_output_path=...)``.

    Example:
        >>> compute_output_path("raw/demo", {"n": versioned(1)}, prefix="/p")  # doctest: +SKIP
        '/p/raw/demo-...'
    """
    if isinstance(step_or_name, str):
        target: AnyStep | StepRef = make_step(
            name=step_or_name, fn=None, config=config, override_output_path=override_output_path
        )
    else:
        if config is not None or override_output_path is not None:
            raise TypeError("config and override_output_path go with a step name, not a step")
        target = step_or_name
    if isinstance(target, StepRef) and target.kind is not RefKind.STEP:
        if target.kind is RefKind.OUTPUT:
            raise StepDefinitionError("an own-output reference has no path outside its step")
        assert target.subpath is not None
        check_hardcoded(target.subpath, step=None, field=None)
        return resolve_ref(
            target,
            output_path=None,
            path_of=lambda s: "",
            prefix=prefix if prefix is not None else default_prefix(),
        )
    graph = StepGraph([_root_step(target)], prefix=prefix)
    if isinstance(target, StepRef):
        return graph.resolve_ref(target)
    return graph.output_path(target)


def steps_of(items: Sequence["AnyStep | StepRef"]) -> list[AnyStep]:
    """The steps named by a list of steps or references."""
    return [_root_step(i) for i in items]
