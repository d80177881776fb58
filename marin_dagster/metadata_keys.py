"""Names of the ``marin/…`` metadata keys and tags shared by the Dagster-side modules.

Example:
    >>> OUTPUT_PATH
    'marin/output_path'
"""

OUTPUT_PATH = "marin/output_path"
VERSION = "marin/version"
VERSION_DICT = "marin/version_dict"
STEP_NAME = "marin/step_name"
NONBLOCKING_DEPS = "marin/nonblocking_deps"
NONBLOCKING_VIEW_OF = "marin/nonblocking_view_of"
RESOLVED_CONFIG = "marin/config"
CACHE_HIT = "marin/cache_hit"
DURATION = "marin/duration_s"

RESOURCES_TAG = "marin/resources"
"""Op tag (JSON of ``ResourceConfig``) read by executors and step handlers."""
DEVICE_TAG = "marin/device"
DEVICE_TYPE_TAG = "marin/device_type"
STEP_KIND = "marin"
OUTPUT_PATH_TAG = "marin/output_path"
"""Op tag with the step's output path (the step handler records a dead worker's FAILED there)."""
RAN_ON = "marin/ran_on"
"""Materialization metadata: where the step's function ran, as its backend reported it."""
RUN_SETTINGS_KEY = "marin"
"""Resource key of the per-run settings (``MarinRunSettings``)."""
METRIC_PREFIX = "marin/metric/"
"""Materialization metadata: ``marin/metric/{name}``, the last value ``log_metrics`` gave."""
CONFIG_TABLE = "marin/config_summary"
"""Definition metadata: the config summary as a table (field, value, note)."""
OUTPUT_URL = "marin/output_url"
"""Definition metadata: a link to the output (``gs://`` → the Cloud Console browser)."""

# Event metadata (materializations, observations) never reuses a definition key: the UI merges
# both into one table, the newest event's value winning, which would show an old output path
# where the current definition's belongs.
MATERIALIZED_PATH = "marin/materialized_path"
"""Materialization metadata: the output path this materialization recorded."""
MATERIALIZED_VERSION = "marin/materialized_version"
"""Materialization metadata: the version hash of that output."""
EXECUTOR_INFO = "marin/executor_info"
"""Synced materialization metadata: the step's ``.executor_info`` as found on storage."""
SYNCED = "marin/synced_from_storage"
"""Event metadata: ``True`` when the sync recorded it (nothing ran)."""
STORAGE_STATUS = "marin/storage_status"
"""Observation metadata: the status found at the output path (``RUNNING``, ``FAILED``, ...)."""
OBSERVED_PATH = "marin/observed_path"
"""Observation metadata: the output path whose status was observed."""
LEASE_HOLDER = "marin/lease_holder"
LEASE_AGE = "marin/lease_age_s"
OUTPUT_CHECK = "output_status_success"
"""Name of each step's asset check: its output exists with ``SUCCESS`` status."""
VIEW_KIND = "view"
"""Kind of the non-blocking view nodes (lineage only; never a step)."""
NODE_TAG = "marin/node"
"""Tag telling steps (``step``) from non-blocking view nodes (``nonblocking_view``)."""
