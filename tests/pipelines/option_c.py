"""Seed 004's appendix pipeline in Option C: ``ExecutorStep`` directly and ``@executor_step``.

::

    download/fineweb ──> tokenize/fineweb ──> train/tiny-lr-0.001

The same pipeline with ``@step`` (:func:`tracer_steps`) gets the same output paths.
"""

from dataclasses import dataclass
from typing import Any

from marin_dagster import (
    Dep,
    ExecutorStep,
    Output,
    StepContext,
    Versioned,
    executor_step,
    resolved,
    step,
    this_output,
    versioned,
)
from pipelines._common import log_call, read_output, write_output


@dataclass(frozen=True)
class DownloadConfig:
    id: Versioned[str]
    output_path: Output[str]


@dataclass(frozen=True)
class TokenizeConfig:
    train_paths: list[Dep[str]]
    validation_paths: list[Dep[str]]
    cache_path: Output[str]
    tokenizer: Versioned[str]
    batch_size: int = 1000


@dataclass(frozen=True)
class ResolvedTokenizeConfig:
    train_paths: list[str]
    validation_paths: list[str]
    cache_path: str
    tokenizer: str
    batch_size: int = 1000


def download_hf(config: Any) -> None:
    log_call("download")
    write_output(config.output_path + "/train", "train-docs\n")
    write_output(config.output_path + "/val", "val-docs\n")


@resolved
def tokenize(config: ResolvedTokenizeConfig) -> None:
    log_call("tokenize")
    text = "".join(read_output(p) for p in [*config.train_paths, *config.validation_paths])
    write_output(config.cache_path, f"{config.tokenizer}:{text}")


def train(config: Any) -> None:
    log_call("train")
    write_output(config.output_path, read_output(config.tokens) + f"lr={config.lr}\n")


@executor_step(name="train/tiny-lr-{lr}", fn=train)
@dataclass(frozen=True)
class TrainStep:
    tokens: Dep[str]
    lr: Versioned[float]
    output_path: Output[str] = this_output()


def option_c_steps() -> dict[str, ExecutorStep[Any]]:
    """The pipeline written as seed 004 shows it."""
    download_step = ExecutorStep(
        name="download/fineweb",
        fn=download_hf,
        config=DownloadConfig(id=versioned("HuggingFaceFW/fineweb"), output_path=this_output()),
    )
    tokenize_step = ExecutorStep(
        name="tokenize/fineweb",
        fn=tokenize,
        config=TokenizeConfig(
            train_paths=[download_step / "train"],
            validation_paths=[download_step / "val"],
            cache_path=this_output(),
            tokenizer=versioned("meta-llama/Llama-3-8B"),
            batch_size=2000,
        ),
    )
    train_step = TrainStep(tokens=tokenize_step.ref, lr=versioned(0.001))
    return {"download": download_step, "tokenize": tokenize_step, "train": train_step}


def tracer_steps() -> dict[str, ExecutorStep[Any]]:
    """The same pipeline with the tracer (``@step``)."""

    @step(name="download/fineweb", fn=download_hf)
    def download_fineweb(ctx: StepContext) -> DownloadConfig:
        return DownloadConfig(id=versioned("HuggingFaceFW/fineweb"), output_path=ctx.output)

    @step(name="tokenize/fineweb", fn=tokenize)
    def tokenize_fineweb(ctx: StepContext, download: ExecutorStep[Any]) -> TokenizeConfig:
        data = ctx.require(download)
        return TokenizeConfig(
            train_paths=[data / "train"],
            validation_paths=[data / "val"],
            cache_path=ctx.output,
            tokenizer=versioned("meta-llama/Llama-3-8B"),
            batch_size=2000,
        )

    @step(name="train/tiny-lr-{lr}", fn=train)
    def train_tiny(ctx: StepContext, tokens: ExecutorStep[Any], lr: float) -> Any:
        return TrainStep.config_class(tokens=ctx.require(tokens), lr=versioned(lr))

    download = download_fineweb()
    tokenized = tokenize_fineweb(download)
    return {"download": download, "tokenize": tokenized, "train": train_tiny(tokenized, 0.001)}
