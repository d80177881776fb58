"""Seed 004's Option C sugar: :func:`this_output`, :func:`executor_step` and :func:`resolved`.

Option C writes a step as ``ExecutorStep(name=, fn=, config=...)`` whose config holds typed
build-time values (``upstream / "data"``, ``this_output()``, ``Dep.hardcoded(path)``,
``versioned(x)``); the dependencies are read from the config and ``fn`` receives the resolved
config (every reference a ``str``, every versioned value bare).

Example:
    >>> from dataclasses import dataclass
    >>> from marin_dagster.core.refs import Dep, Output
    >>> @dataclass(frozen=True)
    ... class CopyConfig:
    ...     input_path: Dep[str]
    ...     output_path: Output[str] = this_output()
    >>> def copy(config: dict) -> None: ...
    >>> CopyStep = executor_step(name="demo/copy", fn=copy)(CopyConfig)
    >>> CopyStep(input_path=Dep.hardcoded("raw/x")).name
    'demo/copy'
"""

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from marin_dagster.core.errors import StepDefinitionError
from marin_dagster.core.refs import Output, output_ref
from marin_dagster.core.steps import ExecutorStep, make_step, validate_resources
from marin_dagster.core.typed import class_specs, compile_spec
from marin_dagster.core.versioned import Versioned
from marin_dagster.core.walk import contains_reference

if TYPE_CHECKING:
    from marin_dagster.core.resources import ResourceConfig

__all__ = ["StepClass", "executor_step", "resolved", "this_output"]

C = TypeVar("C")
P = ParamSpec("P")
R = TypeVar("R")


def this_output(subpath: str | None = None) -> Output[str]:
    """This step's own output (or ``subpath`` below it), for an ``Output[str]`` config field.

    Option C's spelling of ``ctx.output`` / ``ctx.output_subpath(subpath)``; immutable and
    hashable, so it is a valid dataclass field default.

    Example:
        >>> this_output("ckpt")
        StepRef(<own output> / 'ckpt')
    """
    return output_ref(subpath)


class StepClass(Generic[C]):
    """What ``@executor_step`` returns: calling it with the config's fields gives a step.

    ``config_class`` is the decorated dataclass itself (its instances are the step's config).
    The call's arguments are checked when it runs (by the dataclass's ``__init__``), not by
    pyright: pyright does not see a dataclass's synthesised ``__init__`` through a class
    decorator applied above ``@dataclass`` (it infers no parameters), so a ``ParamSpec``
    signature would reject every correct call.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass(frozen=True)
        ... class Cfg:
        ...     output_path: Output[str] = this_output()
        >>> maker = StepClass(Cfg, lambda c: make_step(name="demo/cfg", fn=print, config=c))
        >>> maker().config
        Cfg(output_path=StepRef(<own output>))
    """

    def __init__(self, config_class: type[C], make: Callable[[C], ExecutorStep[C]]) -> None:
        self.config_class = config_class
        self._make = make
        self.__doc__ = config_class.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> ExecutorStep[C]:
        """Build the step whose config is ``config_class(*args, **kwargs)``: one call, one step."""
        return self._make(self.config_class(*args, **kwargs))


def executor_step(
    *,
    name: str,
    fn: Callable[[Any], Any],
    description: str | None = None,
    resources: "ResourceConfig | None" = None,
    override_output_path: str | None = None,
) -> Callable[[type[C]], StepClass[C]]:
    """Seed 004's ``@executor_step`` on a config dataclass: each instance built is a step.

    ``name`` (and ``description``, ``override_output_path``) may hold ``{field}``
    placeholders, filled from the instance's fields (a versioned field by its value).

    Example:
        >>> from dataclasses import dataclass
        >>> from marin_dagster.core.versioned import versioned
        >>> def train(config: dict) -> None: ...
        >>> @executor_step(name="train/lr-{lr}", fn=train)
        ... @dataclass(frozen=True)
        ... class TrainStep:
        ...     lr: Versioned[float]
        ...     output_path: Output[str] = this_output()
        >>> TrainStep(lr=versioned(3e-4)).name
        'train/lr-0.0003'
    """
    if not callable(fn):
        raise StepDefinitionError(
            f"@executor_step needs a callable fn, got {fn!r}", step=name, field="fn"
        )
    validate_resources(resources, step=name)

    def decorator(config_class: type[C]) -> StepClass[C]:
        if not _is_dataclass_class(config_class):
            raise StepDefinitionError(
                f"@executor_step decorates a dataclass (put @dataclass below it), got "
                f"{config_class!r}",
                step=name,
            )

        def make(config: C) -> ExecutorStep[C]:
            fields = _placeholders(config)
            return make_step(
                name=_fill(name, fields, "name"),
                fn=fn,
                config=config,
                description=_fill(description, fields, "description"),
                resources=resources,
                override_output_path=_fill(override_output_path, fields, "override_output_path"),
            )

        return StepClass(config_class, make)

    return decorator


def _is_dataclass_class(obj: object) -> bool:
    return isinstance(obj, type) and dataclasses.is_dataclass(obj)


def _placeholders(config: Any) -> dict[str, Any]:
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    return {k: v.value if isinstance(v, Versioned) else v for k, v in values.items()}


def _fill(template: str | None, fields: dict[str, Any], what: str) -> str | None:
    if template is None or "{" not in template:
        return template
    try:
        return template.format(**fields)
    except (KeyError, IndexError, ValueError, TypeError) as exc:  # TypeError: a reference
        raise StepDefinitionError(
            f"cannot fill the {what} template {template!r} from the config's fields "
            f"({sorted(fields)}): {exc}",
            step=template,
            field=what,
        ) from None


def build_phase_fields(annotation: Any) -> list[str]:
    """Fields of ``annotation`` typed ``Dep``/``Output``/``Versioned`` (build phase), if any.

    Example:
        >>> from marin_dagster.core.refs import Dep
        >>> build_phase_fields(Dep[str]), build_phase_fields(str)
        (['<config>'], [])
    """
    spec = compile_spec(annotation)
    if spec is not None and spec.cls is None:
        return ["<config>"]
    if spec is not None and spec.cls is not None:
        specs = class_specs(spec.cls, spec.type_args)
    elif isinstance(annotation, type):
        specs = class_specs(annotation)
    else:
        specs = None
    if isinstance(specs, dict):
        return sorted(specs)
    if isinstance(specs, tuple):
        return [str(i) for i, s in enumerate(specs) if s is not None]
    return []


def _type_name(annotation: Any) -> str:
    return annotation.__qualname__ if isinstance(annotation, type) else repr(annotation)


def resolved(fn: Callable[P, R]) -> Callable[P, R]:
    """Mark a step function as taking the resolved config, and check that it does.

    Python's type system cannot map ``Dep[str]`` to ``str`` field by field, so this is a
    runtime check, not a typing aid: the first parameter's annotation must be a resolved type
    (no ``Dep``/``Output``/``Versioned`` field; for a config generic in its phase, parameterise
    it with the resolved types), checked when the annotation resolves (at decoration, else at
    the first call), and the value received must hold no reference or versioned value.

    Example:
        >>> @resolved
        ... def process(config: dict[str, str]) -> None: ...
        >>> process({"input_path": "/data"})
    """
    name = getattr(fn, "__qualname__", repr(fn))
    params = list(inspect.signature(fn).parameters)
    if not params:
        raise StepDefinitionError(f"@resolved function {name} takes no config parameter")
    first = params[0]
    checked: list[bool] = []

    def check_annotation(strict: bool) -> None:
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception as exc:  # a forward reference not yet defined
            if strict:
                raise StepDefinitionError(
                    f"@resolved cannot read the annotation of {name}'s {first!r}: {exc!r}",
                    field=first,
                ) from exc
            return
        checked.append(True)
        annotation = hints.get(first)
        if annotation is None:
            return
        fields = build_phase_fields(annotation)
        if fields:
            raise StepDefinitionError(
                f"@resolved function {name} annotates its config {_type_name(annotation)}, the "
                f"build phase (Dep/Output/Versioned in {', '.join(fields)}); it receives the "
                "resolved config: annotate a class whose fields are plain (str, float...), or "
                "parameterise a config generic in its phase with the resolved types",
                field=first,
            )

    check_annotation(strict=False)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not checked:
            check_annotation(strict=True)
        config = args[0] if args else kwargs.get(first)
        if contains_reference(config):
            raise StepDefinitionError(
                f"@resolved function {name} was called with a config still holding a reference "
                "or versioned value; the step runner resolves configs, call it with the "
                "resolved one",
                field=first,
            )
        return fn(*args, **kwargs)

    return wrapper
