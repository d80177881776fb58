"""End to end on gs://: ``dagster job execute`` (a subprocess on a fresh ``DAGSTER_HOME``) with
``MARIN_PREFIX=gs://...`` against fake-gcs-server, then a rerun that is all cache hits."""

from __future__ import annotations

from pathlib import Path

import fsspec
from cli_runs import dagster_execute
from pipelines import counting
from pipelines._common import CALL_LOG_ENV, read_calls

from marin_dagster.core.status import STATUS_FILE


def statuses(prefix: str) -> dict[str, bytes]:
    """Every status object under ``prefix``, by step name (``{name}-{hash}`` minus the hash)."""
    fs, root = fsspec.core.url_to_fs(prefix, token="anon")
    fs.invalidate_cache()
    found = {}
    for path in fs.find(root):
        if path.endswith(f"/{STATUS_FILE}"):
            step_dir = path[len(root) + 1 : -len(STATUS_FILE) - 1]
            found[step_dir.rsplit("-", 1)[0]] = fs.cat_file(path)
    return found


def test_dagster_job_execute_on_gs_twice(
    gs_prefix: str, gcs_env: dict[str, str], subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    log = tmp_path / "calls.log"
    env = {**subprocess_env, **gcs_env, "MARIN_PREFIX": gs_prefix, CALL_LOG_ENV: str(log)}

    dagster_execute(env, module="pipelines.counting")
    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)
    first = statuses(gs_prefix)
    assert first == dict.fromkeys(counting.ALL_NAMES, b"SUCCESS")

    second = dagster_execute(env, module="pipelines.counting")
    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)  # no fn called again
    assert statuses(gs_prefix) == first
    output = second.stdout + second.stderr
    assert output.count("SUCCESS already recorded") == len(counting.ALL_NAMES)
