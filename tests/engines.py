"""Tests that need an engine (Ray, a GCS emulator, chromium) fail in CI and skip elsewhere."""

import importlib.util
import os

import pytest


def engine_missing(message: str) -> None:
    """FAIL when ``$CI`` is ``true`` (CI must run every tier), else skip with ``message``.

    ``message`` says what is missing and the command that installs it.

    Example:
        >>> engine_missing("chromium is not on PATH: apt-get install -y chromium")  # doctest: +SKIP
    """
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require(module: str, extra: str) -> None:
    """Skip (fail on CI) when ``module`` is not importable; the reason names the install.

    Example:
        >>> require("fray", "fray")  # doctest: +SKIP
    """
    if importlib.util.find_spec(module) is None:
        engine_missing(f"{module} is not installed: pip install -e '.[{extra}]' (or '.[dev]')")
