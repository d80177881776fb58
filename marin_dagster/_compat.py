"""Every import from ``dagster._core`` (private API) lives here, in one place to update.

Example:
    >>> UnresolvedAssetJobDefinition.__name__
    'UnresolvedAssetJobDefinition'
"""

from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

__all__ = ["UnresolvedAssetJobDefinition"]
