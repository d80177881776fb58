"""Typing contract, checked by pyright (CI runs ``pyright`` over this file).

Lines carrying a pyright ignore comment naming a rule MUST be rejected: with
``reportUnnecessaryTypeIgnoreComment = "error"``, pyright fails if such a line type-checks.
Unmarked lines MUST be accepted. ``tests/test_typing_contract.py`` also strips the markers and
checks that pyright then reports exactly the marked lines.
"""

from dataclasses import dataclass

from marin_dagster import (
    Dep,
    ExecutorStep,
    Output,
    StepContext,
    StepRef,
    Versioned,
    executor_step,
    resolved,
    step,
    this_output,
    versioned,
)


@dataclass(frozen=True)
class Config:
    input_path: Dep[str]
    output_path: Output[str]
    lr: Versioned[float]
    batch_size: int = 32


def run(config: Config) -> None: ...


@step(name="typing/upstream", fn=run)
def upstream(ctx: StepContext) -> Config:
    return Config(
        input_path=StepRef.hardcoded("raw/data"),
        output_path=ctx.output,
        lr=versioned(0.1),
    )


UPSTREAM: ExecutorStep[Config] = upstream()


@step(name="typing/downstream-{lr}", fn=run)
def downstream(ctx: StepContext, lr: float) -> Config:
    data = ctx.require(UPSTREAM)
    ok_ref: Dep[str] = data / "train"
    ok_out: Output[str] = ctx.output_subpath("ckpt")
    ok_nb: StepRef = ctx.require_nonblocking(UPSTREAM / "checkpoints")
    del ok_ref, ok_out, ok_nb
    return Config(input_path=data / "train", output_path=ctx.output, lr=versioned(lr))


OK_STEP: ExecutorStep[Config] = downstream(lr=0.01)
OK_STEP_REF: StepRef = OK_STEP.ref
OK_SUB: StepRef = OK_STEP / "sub"
OK_VERSIONED: Versioned[int] = versioned(3)

# Option C (seed 004): no context; the config holds the build-time values directly.
OK_OPTION_C: ExecutorStep[Config] = ExecutorStep(
    name="typing/option-c",
    fn=run,
    config=Config(input_path=UPSTREAM / "train", output_path=this_output(), lr=versioned(0.1)),
)
OK_HARDCODED: StepRef = Dep.hardcoded("raw") / "train"
OK_THIS_OUTPUT: Output[str] = this_output("ckpt")


@dataclass(frozen=True)
class ResolvedConfig:
    input_path: str
    output_path: str
    lr: float
    batch_size: int = 32


@resolved
def run_resolved(config: ResolvedConfig) -> None: ...


@executor_step(name="typing/sugar-{lr}", fn=run_resolved)
@dataclass(frozen=True)
class SugarStep:
    input_path: Dep[str]
    lr: Versioned[float]
    output_path: Output[str] = this_output()


# The step's config type is the decorated class, kept as `SugarStep.config_class`.
OK_SUGAR = SugarStep(input_path=UPSTREAM.ref, lr=versioned(0.1))
OK_SUGAR_CONFIG: Dep[str] = OK_SUGAR.config.input_path
run_resolved(ResolvedConfig(input_path="/in", output_path="/out", lr=0.1))

# --- must be rejected -------------------------------------------------------------------------

# A reference is not a path: no str where a StepRef is.
BAD_REF_AS_STR: str = UPSTREAM.ref  # pyright: ignore[reportAssignmentType]
# A path is not a reference.
BAD_STR_AS_DEP: Dep[str] = "gs://bucket/data"  # pyright: ignore[reportAssignmentType]
BAD_STR_AS_OUTPUT: Output[str] = "/tmp/out"  # pyright: ignore[reportAssignmentType]
# A versioned value is not its payload, and the reverse.
BAD_VERSIONED_AS_INT: int = versioned(3)  # pyright: ignore[reportAssignmentType]
BAD_INT_AS_VERSIONED: Versioned[int] = 3  # pyright: ignore[reportAssignmentType]
BAD_VERSIONED_TYPE: Versioned[str] = versioned(3)  # pyright: ignore[reportAssignmentType]
# Config fields keep the two phases apart.
BAD_CONFIG = Config(
    input_path="raw/data",  # pyright: ignore[reportArgumentType]
    output_path=UPSTREAM.ref,
    lr=0.1,  # pyright: ignore[reportArgumentType]
)
# Placeholder arguments are typed from the step body's signature.
BAD_ARG = downstream(lr="fast")  # pyright: ignore[reportArgumentType]
# A ref has no string methods.
BAD_METHOD = UPSTREAM.ref.upper()  # pyright: ignore[reportAttributeAccessIssue]
# Option C keeps the phases apart too: this step's output is not a dependency.
BAD_THIS_OUTPUT_AS_DEP: Dep[str] = this_output()  # pyright: ignore[reportAssignmentType]
# The config built by hand through @executor_step's class is typed.
BAD_SUGAR_FIELD = SugarStep.config_class(input_path="raw", lr=versioned(0.1))  # pyright: ignore[reportArgumentType]
# The step's config keeps the build phase: not a str.
BAD_SUGAR_PHASE: str = OK_SUGAR.config.input_path  # pyright: ignore[reportAssignmentType]
# @resolved keeps the signature: a build-phase config is not the resolved one.
run_resolved(OK_STEP.config)  # pyright: ignore[reportArgumentType]
