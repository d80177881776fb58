"""Deep dependency chains: Dagster's job builder recurses once per chain link.

Building a job's graph walks dependencies recursively (``create_adjacency_lists``), in an
order that varies from run to run, so a chain of a thousand steps can exceed Python's default
recursion limit. Rather than raise the limit for the whole process, :func:`scope_job_builds`
raises it only while Dagster builds one of these Definitions' jobs (or a subset of one, as a
run of selected assets does), and restores it afterwards.

Example:
    >>> defs = scope_job_builds(my_defs, longest_chain=1500)  # doctest: +SKIP
    >>> job = defs.resolve_job_def("all_steps")  # raised during this call only  # doctest: +SKIP
"""

import dagster as dg

from marin_dagster._compat import JobBuild, wrap_job_builds
from marin_dagster.core.graph import StepGraph
from marin_dagster.core.scoped import recursion_headroom, stack_depth

# Dagster's job builder: about this many frames per asset in a chain.
FRAMES_PER_CHAIN_LINK = 8
# Frames Dagster needs besides the per-link recursion.
SPARE_FRAMES = 1000
# Chains shorter than this fit in the default limit: no scope needed.
SHORT_CHAIN = 50


def longest_chain(graph: StepGraph) -> int:
    """Assets on the longest dependency path Dagster will walk (view nodes count too)."""
    depth: dict[int, int] = {}
    for s in graph.steps:  # dependencies first
        through_blocking = (depth[id(d)] + 1 for d in graph.blocking_deps(s))
        through_views = (depth[id(d)] + 2 for d in graph.pseudo_deps(s))
        depth[id(s)] = max((*through_blocking, *through_views), default=1)
    return max(depth.values(), default=0)


def scope_job_builds(defs: dg.Definitions, *, longest_chain: int) -> dg.Definitions:
    """``defs``, whose job builds run with enough recursion headroom for ``longest_chain``."""
    if longest_chain < SHORT_CHAIN:
        return defs
    frames = longest_chain * FRAMES_PER_CHAIN_LINK + SPARE_FRAMES

    def with_headroom(build: JobBuild) -> dg.JobDefinition:
        with recursion_headroom(stack_depth() + frames):
            return build()

    if not wrap_job_builds(defs.get_repository_def(), with_headroom):
        raise RuntimeError(
            "this Dagster version keeps its job loaders elsewhere; marin_dagster cannot scope "
            f"the recursion limit that a {longest_chain}-step chain needs"
        )
    return defs
