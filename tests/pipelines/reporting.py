"""A step that reports progress and metrics while it runs (``report_progress``, ``log_metrics``)."""

import time
from dataclasses import dataclass
from typing import Any

from marin_dagster import (
    StepContext,
    build_definitions,
    log_metrics,
    report_progress,
    step,
    versioned,
)


@dataclass(frozen=True)
class FitConfig:
    epochs: Any
    pause_s: float
    output_path: Any


def fit(config: FitConfig) -> None:
    for epoch in range(1, config.epochs + 1):
        time.sleep(config.pause_s)
        report_progress(epoch, config.epochs)
        log_metrics({"loss": 1.0 / epoch, "epoch": epoch})


@step(name="fit/model", fn=fit)
def fit_model(ctx: StepContext, epochs: int = 3, pause_s: float = 0.3) -> FitConfig:
    return FitConfig(versioned(epochs), pause_s, ctx.output)


STEP = fit_model()
defs = build_definitions([STEP])
