"""Google Cloud Storage settings for ``gs://`` prefixes: one project and credentials for both
the lease (google-cloud-storage) and the status/info files (gcsfs through fsspec).

Settings are explicit values, never a process-wide mutation. The code that runs steps picks
them up from :func:`use_gcs` (a context variable, so one thread or run can point at another
project than its neighbour); without it, :meth:`GcsSettings.from_env` follows the libraries'
own conventions: application-default credentials (``GOOGLE_APPLICATION_CREDENTIALS``, gcloud,
the metadata server), ``GOOGLE_CLOUD_PROJECT``, and ``STORAGE_EMULATOR_HOST`` for an emulator
(anonymous credentials, as google-cloud-storage does).

``token`` takes gcsfs's forms: ``None`` (application-default), ``"anon"``, ``"google_default"``,
a path to a service-account JSON key, or the key's parsed JSON (a mapping). ``credentials``
(a ``google.auth`` credentials object) wins over ``token``.

Example:
    >>> settings = GcsSettings(project="my-project", token="/secrets/sa.json")
    >>> settings.storage_options()
    {'project': 'my-project', 'token': '/secrets/sa.json'}
    >>> with use_gcs(settings):
    ...     current_gcs_settings() is settings
    True
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from marin_dagster.core.scoped import context_value

__all__ = [
    "GcsSettings",
    "current_gcs_settings",
    "emulator_host",
    "is_gcs_url",
    "split_gcs_path",
    "use_gcs",
]

_CURRENT: contextvars.ContextVar[GcsSettings | None] = contextvars.ContextVar(
    "marin_gcs_settings", default=None
)
_CLIENTS: dict[tuple[int, str], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def emulator_host() -> str | None:
    """``$STORAGE_EMULATOR_HOST`` when set (both google-cloud-storage and gcsfs honour it)."""
    return os.environ.get("STORAGE_EMULATOR_HOST") or None


def is_gcs_url(path: str) -> bool:
    """True for ``gs://`` and ``gcs://`` URLs."""
    return path.startswith(("gs://", "gcs://"))


def split_gcs_path(path: str) -> tuple[str, str]:
    """``bucket/a/b`` or ``gs://bucket/a/b`` → ``("bucket", "a/b")``.

    Example:
        >>> split_gcs_path("gs://b/p/step-abc123/.executor_status.lock")
        ('b', 'p/step-abc123/.executor_status.lock')
    """
    for scheme in ("gs://", "gcs://"):
        path = path.removeprefix(scheme)
    bucket, _, name = path.lstrip("/").partition("/")
    if not bucket or not name:
        raise ValueError(f"not a GCS object path: {path!r}")
    return bucket, name


@dataclasses.dataclass(frozen=True)
class GcsSettings:
    """Project and credentials for ``gs://`` prefixes (see the module docstring)."""

    project: str | None = None
    token: str | Mapping[str, Any] | None = None
    credentials: Any = None

    @classmethod
    def from_env(cls) -> GcsSettings:
        """Application-default credentials and ``$GOOGLE_CLOUD_PROJECT`` (if set)."""
        return cls(project=os.environ.get("GOOGLE_CLOUD_PROJECT") or None)

    def _effective_token(self) -> str | Mapping[str, Any] | None:
        if self.token is None and self.credentials is None and emulator_host():
            return "anon"
        return self.token

    def storage_options(self) -> dict[str, Any]:
        """Keyword arguments for ``gcsfs.GCSFileSystem`` (via ``fsspec.url_to_fs``)."""
        options: dict[str, Any] = {}
        if self.project is not None:
            options["project"] = self.project
        token = self.credentials if self.credentials is not None else self._effective_token()
        if token is not None:
            options["token"] = dict(token) if isinstance(token, Mapping) else token
        return options

    def client(self) -> Any:
        """A ``google.cloud.storage.Client`` for these settings (cached per process)."""
        key = (os.getpid(), self._cache_key())
        with _CLIENTS_LOCK:
            client = _CLIENTS.get(key)
            if client is None:
                client = _CLIENTS[key] = self._make_client()
            return client

    def _cache_key(self) -> str:
        token = self.token
        text = json.dumps(dict(token), sort_keys=True) if isinstance(token, Mapping) else token
        return json.dumps([self.project, text, id(self.credentials), emulator_host()])

    def _make_client(self) -> Any:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        credentials = self.credentials
        token = self._effective_token()
        if credentials is None and token == "anon":
            return storage.Client(
                project=self.project or "<none>", credentials=AnonymousCredentials()
            )
        if credentials is None and token not in (None, "google_default", "cloud"):
            from google.oauth2 import service_account

            if isinstance(token, Mapping):
                credentials = service_account.Credentials.from_service_account_info(dict(token))
            elif isinstance(token, str):
                credentials = service_account.Credentials.from_service_account_file(token)
        return storage.Client(project=self.project, credentials=credentials)


def current_gcs_settings() -> GcsSettings:
    """The settings set by the innermost :func:`use_gcs`, else :meth:`GcsSettings.from_env`."""
    settings = _CURRENT.get()
    return settings if settings is not None else GcsSettings.from_env()


@contextlib.contextmanager
def use_gcs(settings: GcsSettings) -> Iterator[GcsSettings]:
    """Use ``settings`` for ``gs://`` status files and leases inside the block."""
    with context_value(_CURRENT, settings):
        yield settings
