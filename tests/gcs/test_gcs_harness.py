"""The harness itself: a missing emulator fails in CI and skips elsewhere, naming the fix."""

from __future__ import annotations

import gcs_emulator
import pytest


def test_missing_emulator_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gcs_emulator, "missing_requirement", lambda: "gcsfs is not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"pip install -e '\.\[dev\]'"):
        gcs_emulator.require_emulator()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"gcsfs is not installed.*\[dev\]"):
        gcs_emulator.require_emulator()


def test_the_emulator_binary_ships_in_the_dev_extra() -> None:
    path = gcs_emulator.require_emulator()  # fails in CI, skips elsewhere, when missing
    assert path.is_file() and path.stat().st_mode & 0o111  # executable
    assert gcs_emulator.missing_requirement() is None
