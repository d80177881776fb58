"""A Marin experiment script, unchanged but for the import: steps and ``executor_main``.

Run it as Marin users do: ``python tests/pipelines/marin_script.py --prefix /tmp/out``.
``MARIN_TEST_SCRIPT_FAIL=1`` makes ``eval/score`` raise.
"""

import os
import sys
from dataclasses import dataclass
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from marin_dagster import ExecutorStep, executor_main, this_output_path, versioned
from pipelines._common import log_call


@dataclass(frozen=True)
class Config:
    label: str
    param: Any
    output_path: Any
    inputs: Any = ()


def work(config: Config) -> None:
    log_call(config.label)
    if config.label == "eval/score" and os.environ.get("MARIN_TEST_SCRIPT_FAIL"):
        raise RuntimeError("score file is empty")


raw = ExecutorStep(
    name="data/raw", fn=work, config=Config("data/raw", versioned("v1"), this_output_path())
)
score = ExecutorStep(
    name="eval/score",
    fn=work,
    config=Config("eval/score", versioned("s"), this_output_path(), inputs=[raw]),
)

if __name__ == "__main__":
    executor_main(steps=[score], description="A tiny Marin experiment")
