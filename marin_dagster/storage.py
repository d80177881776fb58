"""``MarinGcsResource``: the project and credentials of ``gs://`` prefixes, configured like
dagster-gcp's resources (it *is* a :class:`dagster_gcp.GCSResource`).

One configuration serves the lease (google-cloud-storage), the status and info files (gcsfs) and
your own assets (``get_client()``). Credentials, in order:

- ``gcp_credentials``: a base64-encoded service-account JSON key, as dagster-gcp's BigQuery
  resource takes it (usually ``dg.EnvVar("GCP_CREDENTIALS")``); decoded in memory, never
  written to a file or to ``GOOGLE_APPLICATION_CREDENTIALS``;
- ``token``: gcsfs's forms: a path to a key file, ``"anon"``, ``"google_default"``;
- neither: application-default credentials, or anonymous ones when ``STORAGE_EMULATOR_HOST``
  points at an emulator (as google-cloud-storage itself does).

Step assets pick it up from their IO manager: give ``build_definitions`` a
:class:`MarinGcsIOManager` (the path IO manager plus a ``gcs`` resource) under
``marin_io_manager``; the op then runs its step inside :meth:`MarinGcsResource.activate`
(``marin_dagster.assets`` looks for it without importing this module, which pulls in
dagster-gcp and google-cloud).

Example:
    >>> gcs = MarinGcsResource(project="my-project", gcp_credentials=dg.EnvVar("GCP_CREDENTIALS"))
    >>> defs = build_definitions(  # doctest: +SKIP
    ...     steps,
    ...     prefix="gs://bucket/marin",
    ...     resources={"marin_io_manager": MarinGcsIOManager(prefix="gs://bucket/marin", gcs=gcs)},
    ... )
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster_gcp import GCSResource
from pydantic import Field

from marin_dagster.core.gcs import GcsSettings, use_gcs
from marin_dagster.io_manager import MarinPathIOManager

__all__ = ["MarinGcsIOManager", "MarinGcsResource"]


class MarinGcsResource(GCSResource):
    """dagster-gcp's ``GCSResource`` plus credentials, shared with marin's status files."""

    gcp_credentials: str | None = Field(
        default=None,
        description="Base64-encoded service-account JSON key (`cat key.json | base64`). "
        "Unset: application-default credentials (anonymous against an emulator).",
    )
    token: str | None = Field(
        default=None,
        description="gcsfs-style token instead of gcp_credentials: a path to a service-account "
        "key file, 'anon' or 'google_default'.",
    )

    def settings(self) -> GcsSettings:
        """The core settings these fields describe (no I/O, no process state touched)."""
        if self.gcp_credentials and self.token:
            raise dg.DagsterInvalidConfigError(
                "MarinGcsResource: set gcp_credentials or token, not both", [], None
            )
        token: str | dict[str, Any] | None = self.token
        if self.gcp_credentials:
            try:
                token = json.loads(base64.b64decode(self.gcp_credentials, validate=True))
            except (binascii.Error, ValueError) as exc:
                raise ValueError(
                    "MarinGcsResource.gcp_credentials must be a base64-encoded service-account "
                    "JSON key (`cat key.json | base64`)"
                ) from exc
        return GcsSettings(project=self.project, token=token)

    def get_client(self) -> Any:
        """A ``google.cloud.storage.Client`` with this project and these credentials."""
        return self.settings().client()

    @contextlib.contextmanager
    def activate(self) -> Iterator[GcsSettings]:
        """Use these settings for marin's ``gs://`` leases and status files in the block."""
        with use_gcs(self.settings()) as settings:
            yield settings


class MarinGcsIOManager(MarinPathIOManager):
    """The path IO manager for a ``gs://`` prefix, carrying its GCS configuration."""

    gcs: MarinGcsResource = Field(
        default_factory=MarinGcsResource,
        description="Project and credentials for the prefix's bucket.",
    )
