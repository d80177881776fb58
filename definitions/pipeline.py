"""The example pipeline: corpus → tokenize → learning-rate sweep → evaluation → learning curve.

A tiny word-level language model in numpy, sized to run on one CPU in well under a minute.
The train steps ask for a TPU slice and the evaluations for a GPU, so the Dagster UI shows mixed
hardware; on the embedded defaults every step runs locally whatever it requests.

Configs are generic in their *phase*: built with ``Dep[str]`` / ``Output[str]`` /
``Versioned[T]`` (what ``@step`` bodies return), received by the step function with plain
``str`` / ``T`` (what ``fn`` sees after resolution). Pyright checks both sides.

Example:
    >>> [s.name for s in SWEEP]
    ['train/lm-lr0.01', 'train/lm-lr0.03', 'train/lm-lr0.1']
"""

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import fsspec

from definitions import lm
from marin_dagster import (
    Dep,
    ExecutorStep,
    Output,
    ResourceConfig,
    StepContext,
    Versioned,
    log_metrics,
    step,
    versioned,
)

logger = logging.getLogger(__name__)

PathT = TypeVar("PathT", Dep[str], str)
"""A reference while the pipeline is built, a ``str`` path when the step runs."""
OutT = TypeVar("OutT", Output[str], str)
"""This step's own output: ``ctx.output`` while built, a ``str`` path when run."""
IntT = TypeVar("IntT", Versioned[int], int)
FloatT = TypeVar("FloatT", Versioned[float], float)

LEARNING_RATES = (0.01, 0.03, 0.1)
TRAIN_STEPS = int(os.environ.get("MARIN_EXAMPLE_TRAIN_STEPS", "300"))


@dataclass(frozen=True)
class CorpusConfig(Generic[OutT, IntT]):
    output_path: OutT
    seed: IntT
    n_train_docs: int = 400


@dataclass(frozen=True)
class TokenizeConfig(Generic[PathT, OutT, IntT]):
    train_paths: list[PathT]
    validation_paths: list[PathT]
    output_path: OutT
    vocab_size: IntT


@dataclass(frozen=True)
class TrainConfig(Generic[PathT, OutT, FloatT, IntT]):
    tokens_path: PathT
    output_path: OutT
    learning_rate: FloatT
    steps: IntT
    checkpoint_every: int = 100


@dataclass(frozen=True)
class EvalConfig(Generic[PathT, OutT]):
    model_path: PathT
    tokens_path: PathT
    output_path: OutT


@dataclass(frozen=True)
class CurveConfig(Generic[PathT, OutT]):
    checkpoints_path: PathT
    tokens_path: PathT
    final_evals: list[PathT]
    output_path: OutT


def make_corpus(config: CorpusConfig[str, int]) -> None:
    lm.generate_corpus(config.output_path, seed=config.seed, n_train_docs=config.n_train_docs)


def tokenize(config: TokenizeConfig[str, str, int]) -> None:
    lm.tokenize(
        config.train_paths,
        config.output_path,
        vocab_size=config.vocab_size,
        validation_paths=config.validation_paths,
    )


def train(config: TrainConfig[str, str, float, int]) -> None:
    lm.train(
        config.tokens_path,
        config.output_path,
        learning_rate=config.learning_rate,
        steps=config.steps,
        checkpoint_every=config.checkpoint_every,
    )


def evaluate(config: EvalConfig[str, str]) -> None:
    metrics = lm.evaluate(config.model_path, config.tokens_path, config.output_path)
    log_metrics({"perplexity": metrics["perplexity"]})  # plotted per learning rate in the UI


def learning_curve(config: CurveConfig[str, str]) -> None:
    """Evaluate every checkpoint written so far (the training may still be running)."""
    curve = []
    for number, checkpoint in lm.list_checkpoints(config.checkpoints_path):
        metrics = lm.evaluate(checkpoint, config.tokens_path, f"{config.output_path}/step-{number}")
        curve.append({"step": number, "perplexity": metrics["perplexity"]})
        logger.info("checkpoint %s: perplexity %.2f", number, metrics["perplexity"])
    out_fs, out_root = fsspec.core.url_to_fs(config.output_path)
    out_fs.makedirs(out_root, exist_ok=True)
    report = {"curve": curve, "final_evals": config.final_evals}
    out_fs.pipe_file(f"{out_root}/curve.json", json.dumps(report, indent=2).encode())


@step(name="data/corpus", fn=make_corpus, description="Synthetic English-like corpus.")
def corpus_step(ctx: StepContext) -> CorpusConfig[Output[str], Versioned[int]]:
    return CorpusConfig(output_path=ctx.output, seed=versioned(0))


@step(name="tokenize/corpus", fn=tokenize, description="Word-level tokenisation.")
def tokenize_step(
    ctx: StepContext, corpus: ExecutorStep[object]
) -> TokenizeConfig[Dep[str], Output[str], Versioned[int]]:
    text = ctx.require(corpus)
    return TokenizeConfig(
        train_paths=[text / "train"],
        validation_paths=[text / "validation"],
        output_path=ctx.output,
        vocab_size=versioned(256),
    )


@step(
    name="train/lm-lr{lr}",
    fn=train,
    description="Neural bigram LM, learning rate {lr}.",
    resources=ResourceConfig.with_tpu("v5e-8"),
)
def train_step(
    ctx: StepContext, tokens: ExecutorStep[object], lr: float
) -> TrainConfig[Dep[str], Output[str], Versioned[float], Versioned[int]]:
    return TrainConfig(
        tokens_path=ctx.require(tokens),
        output_path=ctx.output,
        learning_rate=versioned(lr),
        steps=versioned(TRAIN_STEPS),
    )


@step(
    name="eval/lm-lr{lr}",
    fn=evaluate,
    description="Validation perplexity of the final model.",
    resources=ResourceConfig.with_gpu("L4"),
)
def eval_step(
    ctx: StepContext, tokens: ExecutorStep[object], model: ExecutorStep[object], lr: float
) -> EvalConfig[Dep[str], Output[str]]:
    return EvalConfig(
        model_path=ctx.require(model) / "model",
        tokens_path=ctx.require(tokens),
        output_path=ctx.output,
    )


@step(name="eval/learning-curve", fn=learning_curve, description="Perplexity per checkpoint.")
def curve_step(
    ctx: StepContext,
    tokens: ExecutorStep[object],
    training: ExecutorStep[object],
    evals: Sequence[ExecutorStep[object]],
) -> CurveConfig[Dep[str], Output[str]]:
    return CurveConfig(
        # Non-blocking: read whatever checkpoints exist; do not wait for or force the training.
        checkpoints_path=ctx.require_nonblocking(training / "checkpoints"),
        tokens_path=ctx.require(tokens),
        final_evals=[ctx.require(e) for e in evals],
        output_path=ctx.output,
    )


CORPUS = corpus_step()
TOKENS = tokenize_step(CORPUS)
SWEEP = [train_step(TOKENS, lr) for lr in LEARNING_RATES]
EVALS = [eval_step(TOKENS, model, lr) for model, lr in zip(SWEEP, LEARNING_RATES, strict=True)]
CURVE = curve_step(TOKENS, SWEEP[1], EVALS)
STEPS: list[ExecutorStep[object]] = [*EVALS, CURVE]
