"""Backends that run a step's function (see :mod:`marin_dagster.core.backend`)."""
