"""The lock object of a ``gs://`` step, read and written with generation preconditions.

Taking the lease is a conditional create (``if_generation_match=0``) or, over a stale lease, a
compare-and-swap on the generation just read; renewing and releasing are compare-and-swaps too,
as Marin's ``GcsLease`` does. A lost race is an HTTP 412 (``PreconditionFailed``), never a
second winner. google-cloud-storage retries conditional requests on transient errors; when a
retried write finds the precondition failed, the object is read back and the write counts as
landed only if it holds exactly the record this worker wrote.

Example:
    >>> store = GcsLeaseStore("bucket/p/step-abc123/.executor_status.lock")  # doctest: +SKIP
    >>> lease, generation = store.read()  # doctest: +SKIP
    >>> store.write(Lease("me", time.time()), generation)  # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from marin_dagster.core.gcs import GcsSettings, current_gcs_settings, split_gcs_path
from marin_dagster.core.lease_record import Lease

__all__ = ["GcsLeaseStore"]


class GcsLeaseStore:
    """One lock object in a bucket; the client comes from :class:`GcsSettings`."""

    def __init__(self, lock_path: str, settings: GcsSettings | None = None) -> None:
        self.bucket_name, self.name = split_gcs_path(lock_path)
        self.settings = settings or current_gcs_settings()

    def _blob(self) -> Any:
        return self.settings.client().bucket(self.bucket_name).blob(self.name)

    def read(self) -> tuple[Lease | None, int]:
        """The lease (``None`` if absent or unreadable) and the object's generation (0: absent)."""
        from google.api_core.exceptions import NotFound

        blob = self._blob()
        try:
            data = blob.download_as_bytes()
        except NotFound:
            return None, 0
        return Lease.from_bytes(data), int(blob.generation or 0)

    def write(self, lease: Lease, generation: int) -> int | None:
        """Write ``lease`` if the object is still at ``generation`` (0: absent).

        Returns the new generation, or ``None`` when another writer got there first.
        """
        from google.api_core.exceptions import NotFound, PreconditionFailed

        blob = self._blob()
        try:
            blob.upload_from_string(
                lease.to_bytes(), content_type="application/json", if_generation_match=generation
            )
        except (PreconditionFailed, NotFound):
            current, now_at = self.read()  # a retried request may have landed the first time
            return now_at if current == lease else None
        return int(blob.generation)

    def delete(self, generation: int) -> None:
        """Delete the object if it is still at ``generation``; absent or changed: no-op."""
        from google.api_core.exceptions import NotFound, PreconditionFailed

        try:
            self._blob().delete(if_generation_match=generation)
        except (NotFound, PreconditionFailed):
            pass
