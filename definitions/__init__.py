"""The example Dagster code location: ``defs`` holds the example pipeline as assets.

``dagster dev`` (via ``workspace.yaml``) shows its lineage; ``dagster job execute -m definitions
-j all_steps`` materialises every step. Outputs go under ``$MARIN_PREFIX`` or ``./marin_outputs``.

Example:
    >>> sorted(job.name for job in defs.jobs)[:1]  # doctest: +SKIP
    ['all_steps']
"""

from definitions.pipeline import STEPS
from marin_dagster import build_definitions

defs = build_definitions(STEPS)
