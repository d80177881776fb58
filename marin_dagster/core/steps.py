"""Authoring: :class:`ExecutorStep`, :class:`StepContext` and the :func:`step` decorator.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class DownloadConfig:
    ...     hf_id: Versioned[str]
    ...     output_path: Output[str]
    >>> def download(config: DownloadConfig) -> None: ...
    >>> @step(name="download/fineweb", fn=download)
    ... def download_fineweb(ctx: StepContext) -> DownloadConfig:
    ...     return DownloadConfig(hf_id=versioned("HuggingFaceFW/fineweb"), output_path=ctx.output)
    >>> download_fineweb().name
    'download/fineweb'
"""

import contextvars
import dataclasses
import functools
import inspect
import posixpath
import reprlib
import typing
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar

from marin_dagster.core.errors import StepDefinitionError
from marin_dagster.core.legacy import legacy_name_in
from marin_dagster.core.refs import (
    Output,
    RefKind,
    StepRef,
    escapes_by_dotdot,
    join_subpath,
    output_ref,
)
from marin_dagster.core.typed import compile_spec
from marin_dagster.core.versioned import Versioned, current_step_name, versioned

if TYPE_CHECKING:
    from marin_dagster.core.legacy import InputName
    from marin_dagster.core.resources import ResourceConfig

__all__ = ["ExecutorStep", "Output", "StepContext", "Versioned", "step", "versioned"]

ConfigT = TypeVar("ConfigT")
ConfigT_co = TypeVar("ConfigT_co", covariant=True)
P = ParamSpec("P")

STEP_FACTORY_ATTR = "__marin_step_factory__"
"""Set on what ``@step`` returns (the name template), so misuse can say "call it"."""

MAX_PATH_PART_BYTES = 255
"""Longest file or directory name on common file systems (ext4, xfs, APFS: ``NAME_MAX``)."""
HASH_SUFFIX = "-123456"

# Set while @step (or another non-legacy path) constructs an ExecutorStep, to skip the warning.
_building: contextvars.ContextVar[bool] = contextvars.ContextVar("marin_building", default=False)


def validate_step_name(name: object) -> str:
    """Refuse names that would escape the prefix or give an empty path component.

    Example:
        >>> validate_step_name("tokenize/fineweb")
        'tokenize/fineweb'
    """
    if not isinstance(name, str) or not name:
        raise StepDefinitionError(
            f"a step name must be a non-empty str, got {name!r}", field="name"
        )
    if name.startswith("/"):
        raise StepDefinitionError(
            f"a step name must not start with '/': it is a path under the prefix, so write "
            f"{name.lstrip('/')!r}; to write outside the prefix, pass override_output_path=",
            step=name,
            field="name",
        )
    parts = name.split("/")
    bad = (
        "://" in name
        or "\\" in name
        or any(p in ("", ".", "..") for p in parts)
        or posixpath.normpath(name) != name
    )
    if bad:
        raise StepDefinitionError(
            "a step name must be a relative path without '..', '.', empty parts or a scheme",
            step=name,
            field="name",
        )
    # Each part is a directory name; the last one gets "-" + the 6-hex hash.
    too_long = [p for p in parts[:-1] if len(p.encode()) > MAX_PATH_PART_BYTES]
    if len(parts[-1].encode()) + len(HASH_SUFFIX) > MAX_PATH_PART_BYTES:
        too_long.append(parts[-1])
    if too_long:
        raise StepDefinitionError(
            f"the name part {reprlib.repr(too_long[0])} is too long for a file system: each "
            f"'/'-separated part may have at most {MAX_PATH_PART_BYTES} bytes in UTF-8 (the "
            f"last one {MAX_PATH_PART_BYTES - len(HASH_SUFFIX)}, as '-' and the hash follow); "
            "shorten it",
            step=name,
            field="name",
        )
    return name


def validate_override(path: object, *, step: str) -> str:
    """Refuse an ``override_output_path`` that is empty or relative with a ``..`` part.

    An absolute path or URL (Marin's rule) may point anywhere, as in Marin; a relative one is
    joined under the prefix and must stay there.

    Example:
        >>> validate_override("/shared/out", step="a")
        '/shared/out'
    """
    if not isinstance(path, str) or not path:
        raise StepDefinitionError(
            f"override_output_path must be a non-empty str, got {path!r}",
            step=step,
            field="override_output_path",
        )
    if escapes_by_dotdot(path):
        raise StepDefinitionError(
            f"the relative override {path!r} has a '..' part and could leave the prefix; use a "
            "path under the prefix, or an absolute path or URL if the step must write elsewhere",
            step=step,
            field="override_output_path",
        )
    return path


def validate_resources(resources: object, *, step: str) -> None:
    """Refuse a ``resources`` value that is not a :class:`ResourceConfig` (or ``None``).

    Example:
        >>> validate_resources(None, step="a")
    """
    from marin_dagster.core.resources import ResourceConfig

    if resources is not None and not isinstance(resources, ResourceConfig):
        raise StepDefinitionError(
            f"resources must be a ResourceConfig, got {type(resources).__name__}: "
            f"{reprlib.repr(resources)}; use ResourceConfig.with_cpu(), .with_gpu(type) or "
            ".with_tpu(type)",
            step=step,
            field="resources",
        )


@dataclasses.dataclass(frozen=True, eq=False)
class ExecutorStep(Generic[ConfigT_co]):
    """A step: a function, the config it receives (with references), and where it writes.

    Build one with :func:`step` (the tracer) or directly, seed 004's Option C: the config holds
    ``upstream / "sub"``, ``this_output()``, ``Dep.hardcoded(path)`` and ``versioned(x)``, and
    the dependencies are read from it. Only a config still holding Marin's legacy names
    (``InputName``, ``OutputName``, ``VersionedValue``) warns ``DeprecationWarning``. Steps
    compare by identity; two steps with equal versions are still one step when run.

    Example:
        >>> s = ExecutorStep(name="raw/copy", fn=print, config={"v": versioned(1)})
        >>> (s / "train").subpath
        'train'
    """

    name: str
    fn: Callable[[Any], Any] | None
    config: ConfigT_co
    description: str | None = None
    override_output_path: str | None = None
    resources: "ResourceConfig | None" = None
    pip_dependency_groups: list[str] | None = dataclasses.field(default=None, repr=False)
    """Accepted for migration from Ray-era Marin; not used (and, as in Marin, not hashed)."""
    ordering_deps: tuple["ExecutorStep[Any]", ...] = dataclasses.field(default=(), repr=False)
    config_type: Any = dataclasses.field(default=None, repr=False)
    """The ``@step`` body's return annotation, so typed fields of a config that is a dict
    (a TypedDict) or a parameterised generic are checked too; ``None``: the value's class."""

    def __post_init__(self) -> None:
        if not _building.get() and (legacy := legacy_name_in(self.config)) is not None:
            warnings.warn(
                f"step {self.name!r}: a config holding {legacy} is deprecated; write "
                "`upstream / 'sub'`, `this_output()`, `Dep.hardcoded(path)` and `versioned(x)` "
                "(Option C), or define the step with @step",
                DeprecationWarning,
                stacklevel=3,
            )
        validate_step_name(self.name)
        if self.override_output_path is not None:
            validate_override(self.override_output_path, step=self.name)
        validate_resources(self.resources, step=self.name)
        if self.fn is not None and not callable(self.fn):
            raise StepDefinitionError(f"fn must be callable, got {self.fn!r}", step=self.name)

    @property
    def ref(self) -> StepRef:
        """A blocking reference to this step's output."""
        return StepRef(RefKind.STEP, self)

    def __truediv__(self, subpath: str) -> StepRef:
        """``step / "sub"``: a reference to a path inside this step's output."""
        return StepRef(RefKind.STEP, self, join_subpath(None, subpath))

    if not TYPE_CHECKING:  # defined for the message only: a type checker still rejects `+`

        def __add__(self, other: object) -> StepRef:
            raise TypeError(
                f"cannot add {other!r} to the step {self.name!r}: a step is not a path at "
                f"build time; use `step / {str(other).lstrip('/')!r}` for a path inside its "
                "output"
            )

        def __radd__(self, other: object) -> StepRef:
            return self.__add__(other)

    def cd(self, subpath: str) -> StepRef:
        """Alias of ``step / subpath``."""
        return self / subpath

    def nonblocking(self) -> StepRef:
        """A non-blocking reference to this step's output."""
        return self.ref.nonblocking()

    def as_input_name(self) -> "InputName":
        """Legacy: an ``InputName`` for this step's output (use ``step.ref``)."""
        from marin_dagster.core.legacy import output_path_of

        return output_path_of(self)

    def with_output_path(self, path: str) -> "ExecutorStep[ConfigT_co]":
        """A copy whose output goes to ``path`` (relative → under the prefix); same version."""
        token = _building.set(True)
        try:
            return dataclasses.replace(self, override_output_path=path)
        finally:
            _building.reset(token)


def make_step(**kwargs: Any) -> ExecutorStep[Any]:
    """Construct an :class:`ExecutorStep` without the legacy warning (for library code)."""
    token = _building.set(True)
    try:
        return ExecutorStep(**kwargs)
    finally:
        _building.reset(token)


class StepContext:
    """What a ``@step`` body uses to declare dependencies and name its own output.

    Example:
        >>> ctx = StepContext("eval/demo")
        >>> ctx.output.kind.value
        'output'
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._required: list[ExecutorStep[Any]] = []
        self._built = False

    def _close(self) -> None:
        """Called once the step is built: later ``require`` calls could not take effect."""
        self._built = True

    def _step_of(self, dep: "ExecutorStep[Any] | StepRef", method: str) -> StepRef:
        if self._built:
            raise StepDefinitionError(
                f"ctx.{method}() was called after step {self.name!r} was built, so it could no "
                "longer make the step wait; call it inside the @step body, before returning "
                "the config",
                step=self.name,
            )
        if isinstance(dep, ExecutorStep):
            return dep.ref
        if isinstance(dep, StepRef):
            if dep.kind is RefKind.OUTPUT:
                raise StepDefinitionError(
                    f"ctx.{method}() got this step's own output; use ctx.output", step=self.name
                )
            return dep
        template = getattr(dep, STEP_FACTORY_ATTR, None)
        if template is not None:
            fn = getattr(dep, "__name__", "the factory")
            raise StepDefinitionError(
                f"ctx.{method}() got the @step factory {fn} (step {template!r}), not a step; "
                f"did you mean ctx.{method}({fn}())? Calling the factory builds the step",
                step=self.name,
            )
        raise StepDefinitionError(
            f"ctx.{method}() takes an ExecutorStep or a StepRef, got {type(dep).__name__}: {dep!r}",
            step=self.name,
        )

    def require(self, dep: "ExecutorStep[Any] | StepRef") -> StepRef:
        """Declare a dependency and return a reference to its output (or to the given subpath).

        A non-blocking ``StepRef`` stays non-blocking; a hardcoded one is returned as is.
        """
        ref = self._step_of(dep, "require")
        if ref.blocking and ref.step is not None and all(ref.step is not s for s in self._required):
            self._required.append(ref.step)
        return ref

    def require_nonblocking(self, dep: "ExecutorStep[Any] | StepRef") -> StepRef:
        """Declare a dependency that is hashed and resolved but not waited on or forced to run."""
        ref = self._step_of(dep, "require_nonblocking")
        if ref.kind is not RefKind.STEP:
            raise StepDefinitionError(
                f"ctx.require_nonblocking() needs a reference to another step, got {ref!r}",
                step=self.name,
            )
        return ref.nonblocking()

    @property
    def output(self) -> StepRef:
        """This step's own output path."""
        return output_ref()

    def output_subpath(self, subpath: str) -> StepRef:
        """A path inside this step's own output."""
        return output_ref(subpath)


def _format_template(
    template: str | None, params: dict[str, Any], what: str, fn: str
) -> str | None:
    if template is None or "{" not in template:
        return template
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError) as exc:
        raise StepDefinitionError(
            f"cannot fill the {what} template {template!r} from the arguments of {fn}() "
            f"({sorted(params)}): {exc!r}",
            step=template,
            field=what,
        ) from None


def _return_annotation(
    build: Callable[..., Any], signature: inspect.Signature, cache: list[Any]
) -> Any:
    """``build``'s return annotation, resolved (``None`` if absent or unresolvable); cached."""
    if not cache:
        try:
            annotation = typing.get_type_hints(build, include_extras=True).get("return")
        except Exception:  # a forward reference that does not resolve: use it only if real
            raw = signature.return_annotation
            annotation = None if isinstance(raw, str) or raw is inspect.Signature.empty else raw
        # Kept only when it says more than the config's class (a TypedDict, a parameterised
        # generic, a container of markers), so most steps carry None.
        cache.append(annotation if annotation is not None and compile_spec(annotation) else None)
    return cache[0]


def step(
    name: str,
    *,
    fn: Callable[[Any], Any],
    description: str | None = None,
    resources: "ResourceConfig | None" = None,
    override_output_path: str | None = None,
) -> Callable[[Callable[Concatenate[StepContext, P], ConfigT]], Callable[P, ExecutorStep[ConfigT]]]:
    """Turn a config-building function ``(ctx, *args) -> config`` into a step factory.

    Extra parameters after ``ctx`` fill ``{placeholders}`` in ``name``, ``description`` and
    ``override_output_path``. Calling the factory returns an :class:`ExecutorStep`.

    Example:
        >>> def train(config: dict) -> None: ...
        >>> @step(name="train/lr-{lr}", fn=train)
        ... def train_step(ctx: StepContext, lr: float) -> dict:
        ...     return {"lr": versioned(lr), "out": ctx.output}
        >>> [train_step(lr=lr).name for lr in (1e-3, 3e-4)]
        ['train/lr-0.001', 'train/lr-0.0003']
    """
    if not callable(fn):
        raise StepDefinitionError(f"@step needs a callable fn, got {fn!r}", step=name, field="fn")
    validate_resources(resources, step=name)

    def decorator(
        build: Callable[Concatenate[StepContext, P], ConfigT],
    ) -> Callable[P, ExecutorStep[ConfigT]]:
        signature = inspect.signature(build)
        first = next(iter(signature.parameters), None)
        config_type: list[Any] = []  # the return annotation, read at the first call

        @functools.wraps(build)
        def factory(*args: P.args, **kwargs: P.kwargs) -> ExecutorStep[ConfigT]:
            try:
                bound = signature.bind(None, *args, **kwargs)
            except TypeError as exc:
                unknown = next((k for k in kwargs if k not in signature.parameters), None)
                takes = ", ".join(list(signature.parameters)[1:]) or "no arguments"
                raise StepDefinitionError(
                    f"{build.__name__}() {exc} (it takes: {takes})",
                    step=name,
                    field=unknown,
                ) from None
            bound.apply_defaults()
            params = {k: v for k, v in bound.arguments.items() if k != first}
            step_name = _format_template(name, params, "name", build.__name__)
            assert step_name is not None
            validate_step_name(step_name)
            ctx = StepContext(step_name)
            token = current_step_name.set(step_name)
            try:
                config = build(ctx, *args, **kwargs)
            except StepDefinitionError as exc:
                raise exc.with_step(step_name) from exc.__cause__
            finally:
                current_step_name.reset(token)
                ctx._close()
            return make_step(
                name=step_name,
                fn=fn,
                config=config,
                description=_format_template(description, params, "description", build.__name__),
                resources=resources,
                override_output_path=_format_template(
                    override_output_path, params, "override_output_path", build.__name__
                ),
                ordering_deps=tuple(ctx._required),
                config_type=_return_annotation(build, signature, config_type),
            )

        setattr(factory, STEP_FACTORY_ATTR, name)
        return factory

    return decorator
