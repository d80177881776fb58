"""Guards for tests that need an optional engine: skip outside CI, fail on CI (CI=true)."""

from __future__ import annotations

import importlib.util
import os

import pytest


def require(module: str, extra: str) -> None:
    """Skip (fail on CI) when ``module`` is not importable; the reason names the install."""
    if importlib.util.find_spec(module) is None:
        message = f"{module} is not installed: pip install -e '.[{extra}]' (or '.[dev]')"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
