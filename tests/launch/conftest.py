"""Fixtures for launch tests: ``ray_cluster`` (a real local Ray cluster, once per session)."""

from ray_cluster import ray_cluster  # noqa: F401
