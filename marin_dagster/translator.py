"""Step → ``AssetSpec``: a pure translator with one override hook.

``MarinTranslator.get_asset_spec(data)`` receives a typed, frozen :class:`MarinStepData` and
returns the spec; customise by subclassing and calling ``super()``:

Example:
    >>> class OwnedTranslator(MarinTranslator):
    ...     def get_asset_spec(self, data: MarinStepData) -> dg.AssetSpec:
    ...         return super().get_asset_spec(data).replace_attributes(owners=["team:llm"])
"""

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import dagster as dg

from marin_dagster import metadata_keys as keys
from marin_dagster.core.describe import ConfigRow
from marin_dagster.core.graph import AnyStep
from marin_dagster.core.resources import ResourceConfig

_INVALID_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")
_INVALID_TAG_CHARS = re.compile(r"[^A-Za-z0-9_.\-]")


def sanitize_name(text: str) -> str:
    """A Dagster-valid name (op, group, job) from arbitrary text.

    Example:
        >>> sanitize_name("lr-sweep.v2")
        'lr_sweep_v2'
    """
    cleaned = _INVALID_NAME_CHARS.sub("_", text)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"


def _tag_value(text: str) -> str:
    return _INVALID_TAG_CHARS.sub("_", text)[:63]


@dataclasses.dataclass(frozen=True)
class MarinStepData:
    """Everything the translator may use to describe one step.

    Attributes:
        step: the (canonical) step.
        key: the default asset key (the step name split on ``/``, or disambiguated).
        version: the 6-hex hash (Dagster's ``code_version``).
        version_dict: Marin's version dict, its values as Marin's encoder writes them (JSON-safe).
        version_str: the version dict as hashed (``md5(version_str)[:6] == version``).
        output_path: the versioned output path under the prefix.
        deps: keys of the assets this step waits for (blocking references).
        nonblocking_deps: keys of lineage-only nodes for non-blocking references.
        config_lines: a readable ``field = value`` summary of the config.
        config_rows: the same summary as rows (rendered as a table on the asset page).
    """

    step: AnyStep
    key: dg.AssetKey
    version: str
    version_dict: Mapping[str, Any]
    version_str: str
    output_path: str
    deps: Sequence[dg.AssetKey]
    nonblocking_deps: Sequence[dg.AssetKey]
    config_lines: Sequence[str]
    config_rows: Sequence[ConfigRow] = ()

    @property
    def resources(self) -> ResourceConfig | None:
        """The step's requested resources (``None``: runs wherever its run runs)."""
        return self.step.resources


_CONFIG_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("field", "string"),
        dg.TableColumn("value", "string"),
        dg.TableColumn("note", "string", description="versioned, non-blocking or hardcoded"),
    ]
)


def config_table(rows: Sequence[ConfigRow]) -> dg.TableMetadataValue:
    """The config summary as a table, one row per leaf field.

    Example:
        >>> config_table([ConfigRow("lr", "0.1", "versioned")]).records[0].data["note"]
        'versioned'
    """
    records = [dg.TableRecord(row._asdict()) for row in rows]
    return dg.MetadataValue.table(records, schema=_CONFIG_SCHEMA)


def console_url(path: str) -> str | None:
    """A browser link to ``path``: ``gs://`` → the Cloud Console; ``None`` for other paths.

    A local path stays path metadata: browsers refuse ``file://`` links from an ``http://``
    page, so a link would look clickable and do nothing.

    Example:
        >>> console_url("gs://bucket/marin/train-abc123")
        'https://console.cloud.google.com/storage/browser/bucket/marin/train-abc123'
        >>> console_url("/data/marin/train-abc123") is None
        True
    """
    if not path.startswith("gs://"):
        return None
    return f"https://console.cloud.google.com/storage/browser/{quote(path[len('gs://') :])}"


class MarinTranslator:
    """Builds the ``AssetSpec`` of a step. Override :meth:`get_asset_spec` to customise."""

    def get_asset_spec(self, data: MarinStepData) -> dg.AssetSpec:
        """The spec: key, deps, group, code version, description, metadata, kinds and tags."""
        step = data.step
        resources = data.resources
        device = resources.device_kind if resources is not None else "cpu"
        tags = {keys.DEVICE_TAG: device, keys.NODE_TAG: "step"}
        if resources is not None and resources.device_type:
            tags[keys.DEVICE_TYPE_TAG] = _tag_value(resources.device_type)
        metadata: dict[str, Any] = {
            keys.STEP_NAME: step.name,
            keys.OUTPUT_PATH: dg.MetadataValue.path(data.output_path),
            keys.VERSION: data.version,
            keys.VERSION_DICT: dg.MetadataValue.json(dict(data.version_dict)),
        }
        url = console_url(data.output_path)
        if url is not None:
            metadata[keys.OUTPUT_URL] = dg.MetadataValue.url(url)
        if data.config_rows:
            metadata[keys.CONFIG_TABLE] = config_table(data.config_rows)
        if resources is not None:
            metadata[keys.RESOURCES_TAG] = resources.summary()
        if data.nonblocking_deps:
            metadata[keys.NONBLOCKING_DEPS] = [k.to_user_string() for k in data.nonblocking_deps]
        return dg.AssetSpec(
            key=data.key,
            deps=[*data.deps, *data.nonblocking_deps],
            group_name=sanitize_name(step.name.split("/")[0]),
            code_version=data.version,
            description=self.describe(data),
            metadata=metadata,
            kinds={keys.STEP_KIND, device},
            tags=tags,
        )

    def describe(self, data: MarinStepData) -> str:
        """The step's description and output path (the config is the ``marin/config_summary``
        table; a custom ``MarinStepData`` without rows gets it here as text)."""
        parts = [data.step.description] if data.step.description else []
        parts.append(f"Marin step `{data.step.name}` → `{data.output_path}`")
        if data.config_lines and not data.config_rows:
            parts.append("Config:\n\n" + "\n".join(f"    {line}" for line in data.config_lines))
        return "\n\n".join(parts)
