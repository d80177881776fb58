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
K8S_CONFIG = "dagster-k8s/config"
"""Asset metadata (set by a translator) copied to the op tag the k8s backend merges last."""
