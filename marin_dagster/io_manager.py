"""An IO manager that passes versioned output **paths** between assets, never pickles.

A step asset's output is its directory under the prefix (``{prefix}/{name}-{hash}``). A plain
``@asset`` downstream of a step, with ``ins={"tokens": AssetIn(key=...)}``, receives that path
as a ``str``; the path comes from the upstream's definition metadata, so it works when the
upstream was materialized in an earlier run. An asset that returns a ``str`` through this IO
manager records it as its path (a relative one is placed under the prefix).

Example:
    >>> @dg.asset(ins={"tokens": dg.AssetIn(key=["tokenize", "fineweb"])})
    ... def token_count(tokens: str) -> None:
    ...     ...
"""

from typing import Any

import dagster as dg
from pydantic import Field

from marin_dagster import metadata_keys as keys
from marin_dagster.core.resolve import default_prefix, prefix_absolute

IO_MANAGER_KEY = "marin_io_manager"


class NoOutputPathError(LookupError):
    """An input's upstream asset has no recorded output path (it was never materialized)."""


def _metadata_path(metadata: Any) -> str | None:
    value = metadata.get(keys.OUTPUT_PATH) if metadata else None
    if value is None:
        return None
    return str(getattr(value, "path", value))


class MarinPathIOManager(dg.ConfigurableIOManager):
    """Hands downstream assets the upstream's output path (local path or fsspec URL)."""

    prefix: str = Field(
        default_factory=default_prefix,
        description="Root of all output paths: a local folder or a URL such as gs://bucket/p. "
        "Defaults to $MARIN_PREFIX, else ./marin_outputs.",
    )

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Record a returned path; refuse anything else (no pickles)."""
        if obj is None:
            return
        if not isinstance(obj, str):
            raise TypeError(
                f"asset {context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                f"{type(self).__name__} stores paths only: write your data under a path and "
                "return the path as a str"
            )
        context.add_output_metadata({keys.OUTPUT_PATH: dg.MetadataValue.path(self.absolute(obj))})

    def load_input(self, context: dg.InputContext) -> str:
        """The upstream asset's output path: from its definition, else its last materialization.

        Never a guessed path: an upstream with neither fails, naming the asset.
        """
        upstream = context.upstream_output
        path = _metadata_path(upstream.definition_metadata) if upstream is not None else None
        if path is None and context.has_asset_key:
            event = context.instance.get_latest_materialization_event(context.asset_key)
            materialization = event.asset_materialization if event is not None else None
            path = _metadata_path(materialization.metadata) if materialization else None
        if path is None:
            what = (
                f"asset {context.asset_key.to_user_string()!r}"
                if context.has_asset_key
                else f"input {context.name!r}"
            )
            raise NoOutputPathError(
                f"no output path is known for {what}: it is not a Marin step and no "
                f"materialization of it recorded {keys.OUTPUT_PATH!r}; materialize it first "
                "(returning its path as a str), or read a step's output instead. "
                f"{type(self).__name__} never guesses an unversioned path."
            )
        return path

    def absolute(self, path: str) -> str:
        """``path`` made absolute under the prefix when it is relative."""
        return prefix_absolute(self.prefix, path)
