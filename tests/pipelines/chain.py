"""A linear chain ``chain/link-0 -> chain/link-1 -> ...`` (group ``chain``).

Every link reads its upstream's ``out.txt`` and writes its own. A link built with
``require_file`` fails while that file is missing (the path is a plain config value, so it does
not enter the version): a test can make a step fail, then "fix" it by creating the file.
"""

import os
from dataclasses import dataclass
from typing import Any

from marin_dagster import ExecutorStep, StepContext, build_definitions, step, versioned
from pipelines._common import log_call, read_output, write_output

SALT_ENV = "MARIN_TEST_CHAIN_SALT"


@dataclass(frozen=True)
class LinkConfig:
    label: str
    upstream: Any  # Dep[str] while built, str (or None for the first link) when run
    salt: Any  # Versioned[str] while built, str when run
    output_path: Any  # Output[str] while built, str when run
    require_file: str | None = None


def run_link(config: LinkConfig) -> None:
    log_call(config.label)
    if config.require_file is not None and not os.path.exists(config.require_file):
        raise RuntimeError(f"{config.label}: required file {config.require_file} is missing")
    previous = read_output(config.upstream) if config.upstream is not None else ""
    write_output(config.output_path, previous + config.label + "\n")


@step(name="chain/link-{index}", fn=run_link)
def link_step(
    ctx: StepContext,
    index: int,
    upstream: ExecutorStep[Any] | None,
    salt: str,
    require_file: str | None = None,
) -> LinkConfig:
    return LinkConfig(
        label=ctx.name,
        upstream=ctx.require(upstream) if upstream is not None else None,
        salt=versioned(salt),
        output_path=ctx.output,
        require_file=require_file,
    )


def build_chain(
    length: int = 3,
    *,
    salt: str = "s0",
    require_file: str | None = None,
    failing_index: int | None = None,
) -> list[ExecutorStep[Any]]:
    """``length`` links; link ``failing_index`` fails while ``require_file`` is missing."""
    steps: list[ExecutorStep[Any]] = []
    upstream: ExecutorStep[Any] | None = None
    for i in range(length):
        required = require_file if i == failing_index else None
        upstream = link_step(i, upstream, salt, required)
        steps.append(upstream)
    return steps


STEPS = build_chain(3, salt=os.environ.get(SALT_ENV, "s0"))
defs = build_definitions(STEPS[-1:])
