"""The example Dagster code location, a ``dg`` project: ``defs`` is what ``defs/`` declares.

``definitions/defs/pipeline/defs.yaml`` holds one ``MarinStepsComponent`` naming the steps of
``definitions/pipeline.py``; no other Python glue. ``dagster job execute -m definitions -j
all_steps`` and ``dg launch --job all_steps`` both materialise every step, and ``dagster dev``
(via ``workspace.yaml``) or ``dg dev`` show its lineage. Outputs go under ``$MARIN_PREFIX`` or
``./marin_outputs``.

Example:
    >>> sorted(job.name for job in defs.jobs)[:1]  # doctest: +SKIP
    ['all_steps']
"""

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
