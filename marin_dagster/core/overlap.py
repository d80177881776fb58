"""Two steps never share an output: no output path equals, or lies inside, another's.

Paths are compared after normalisation (``a/./b/`` is ``a/b``, ``x/../y`` is ``y``; a URL's
scheme is case-insensitive), component by component, so ``/p/a-1`` does not contain
``/p/a-12``. An ``override_output_path`` must also not be the prefix or above it: every other
step writes below the prefix.

Example:
    >>> check_disjoint_outputs([("a", "/p/x", False), ("b", "/p/x/y", True)], prefix="/p")
    Traceback (most recent call last):
    ...
    marin_dagster.core.errors.StepDefinitionError: step 'b', field 'override_output_path': ...
"""

import posixpath
import urllib.parse
from collections.abc import Sequence

from marin_dagster.core.errors import StepDefinitionError

__all__ = ["check_disjoint_outputs", "normalize_path"]


def normalize_path(path: str) -> str:
    """A comparable form of ``path``: ``scheme:`` lower-cased, the rest ``normpath``-ed.

    Example:
        >>> normalize_path("GS://b/x/../y/"), normalize_path("/p/./a")
        ('gs://b/y', '/p/a')
    """
    scheme = urllib.parse.urlparse(path).scheme if ":" in path else ""
    rest = path[len(scheme) + 1 :] if scheme else path
    return (scheme.lower() + ":" if scheme else "") + posixpath.normpath(rest)


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts)) if parts[i - 1]]


def _is_within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_disjoint_outputs(outputs: Sequence[tuple[str, str, bool]], *, prefix: str) -> None:
    """Raise :class:`StepDefinitionError` when two outputs coincide or nest.

    ``outputs`` holds ``(step name, output path, whether it is an override)`` for each step.
    """
    normalized = [(name, normalize_path(path), path, override) for name, path, override in outputs]
    root = normalize_path(prefix)
    owner: dict[str, int] = {}
    for index, (name, norm, path, override) in enumerate(normalized):
        if override and _is_within(root, norm):
            raise StepDefinitionError(
                f"the override {path!r} is the prefix {prefix!r} or above it, so every other "
                "step's output would be inside this one's; give it a path of its own",
                step=name,
                field="override_output_path",
            )
        other = owner.setdefault(norm, index)
        if other != index:
            _fail(normalized[index], normalized[other], "is the same path as")
    for index, (_, norm, _, _) in enumerate(normalized):
        for ancestor in _ancestors(norm):
            outer = owner.get(ancestor)
            if outer is not None and outer != index:
                _fail(normalized[index], normalized[outer], "is inside")


def _fail(
    inner: tuple[str, str, str, bool], outer: tuple[str, str, str, bool], relation: str
) -> None:
    # Blame the step whose override put it there, if only one of them has one.
    if outer[3] and not inner[3]:
        inner, outer = outer, inner
        relation = "contains" if relation == "is inside" else relation
    name, _, path, override = inner
    raise StepDefinitionError(
        f"its output {path!r} {relation} the output of step {outer[0]!r} ({outer[2]!r}); two "
        "steps must never share an output: give one a different override_output_path "
        "(or none) or a different name",
        step=name,
        field="override_output_path" if override else "name",
    )
