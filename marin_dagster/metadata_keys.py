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
