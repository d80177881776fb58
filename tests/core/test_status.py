"""Status / info files: round trips on local disk and memory://, legacy parsing, I/O economy."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest

from marin_dagster.core.lease_record import tag_worker_id
from marin_dagster.core.status import (
    INFO_FILE,
    LOCK_FILE,
    STATUS_FILE,
    Lease,
    StepStatus,
    parse_status,
    read_info,
    read_status,
    resolve,
    write_info,
    write_status,
)

pytestmark = pytest.mark.usefixtures("memory_fs")


@pytest.fixture(params=["local", "memory"])
def root(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "local":
        return str(tmp_path)
    return f"memory://status-{uuid.uuid4().hex[:8]}"


def _cat(url: str) -> bytes:
    fs, path = fsspec.core.url_to_fs(url)
    return fs.cat_file(path)


def _put(url: str, data: str) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    fs.pipe_file(path, data.encode())


@pytest.mark.parametrize(
    "status", [StepStatus.SUCCESS, StepStatus.FAILED, StepStatus.DEP_FAILED, StepStatus.RUNNING]
)
def test_status_round_trip_writes_a_bare_token(root: str, status: StepStatus) -> None:
    step = f"{root}/a/b/step-abc123"  # parent directories do not exist yet
    write_status(step, status)
    assert read_status(step) is status
    assert _cat(f"{step}/{STATUS_FILE}") == status.value.encode()  # what Marin writes and reads


def test_status_overwrite_and_plain_string(root: str) -> None:
    step = f"{root}/step-000001"
    write_status(step, "RUNNING")
    write_status(step, "SUCCESS")
    assert read_status(step) is StepStatus.SUCCESS


def test_absent_status_is_none(root: str) -> None:
    assert read_status(f"{root}/never/written-000000") is None
    write_info(f"{root}/only-info-000000", {"name": "x"})
    assert read_status(f"{root}/only-info-000000") is None


def test_local_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    step = tmp_path / "step-abc123"
    for status in ("RUNNING", "FAILED", "SUCCESS"):
        write_status(str(step), status)
    assert sorted(os.listdir(step)) == [STATUS_FILE]
    assert (step / STATUS_FILE).read_text() == "SUCCESS"


def test_write_status_rejects_legacy_and_bogus_tokens(root: str) -> None:
    with pytest.raises(ValueError, match="WAITING"):
        write_status(f"{root}/s-1", StepStatus.WAITING)
    with pytest.raises(ValueError):
        write_status(f"{root}/s-1", "DONE")
    assert read_status(f"{root}/s-1") is None


def _jl(*events: dict[str, Any]) -> str:
    return "".join(json.dumps(e) + "\n" for e in events)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SUCCESS", StepStatus.SUCCESS),
        ("  FAILED \n\n", StepStatus.FAILED),
        ("DEP_FAILED\n", StepStatus.DEP_FAILED),
        ("bogus", StepStatus.UNKNOWN),
        ("", None),
        ("\n  \n", None),
        (_jl({"date": "2024-01-01", "status": "WAITING", "message": ""}), StepStatus.WAITING),
        (
            _jl(
                {"date": "d1", "status": "WAITING", "message": "", "ray_task_id": "r"},
                {"date": "d2", "status": "RUNNING", "message": "", "ray_task_id": "r"},
                {"date": "d3", "status": "SUCCESS", "message": "", "ray_task_id": "r"},
            ),
            StepStatus.SUCCESS,
        ),
        (_jl({"status": "RUNNING"}, {"status": "CANCELLED"}), StepStatus.CANCELLED),
        # a truncated last line: the last *parsable* status wins
        (_jl({"status": "RUNNING"}, {"status": "FAILED"}) + '{"status": "SUC', StepStatus.FAILED),
        # events without a string status are skipped
        (_jl({"status": "FAILED"}, {"status": 3}, {"message": "x"}), StepStatus.FAILED),
        # no parsable status at all: the last line is the status
        ("garbage\nRUNNING\n", StepStatus.RUNNING),
        ('{"status": 3}\n', StepStatus.UNKNOWN),
    ],
)
def test_parse_status_modern_and_legacy(text: str, expected: StepStatus | None) -> None:
    assert parse_status(text) == expected


def test_read_status_reads_a_legacy_file(root: str) -> None:
    step = f"{root}/legacy-abc123"
    _put(f"{step}/{STATUS_FILE}", _jl({"status": "RUNNING"}, {"status": "DEP_FAILED"}))
    assert read_status(step) is StepStatus.DEP_FAILED


def test_pre_resolved_fs_path_is_accepted(root: str) -> None:
    fs_path = resolve(f"{root}/pre-abc123")
    assert resolve(fs_path) is fs_path
    write_status(fs_path, StepStatus.FAILED)
    assert read_status(f"{root}/pre-abc123") is StepStatus.FAILED
    assert read_status(fs_path) is StepStatus.FAILED


def test_read_status_is_one_read_and_never_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    fs, path = resolve("memory://econ/step-abc123")
    write_status((fs, path), StepStatus.SUCCESS)
    calls: list[str] = []
    real_cat_file = fs.cat_file

    def counting_cat_file(p: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(p)
        return real_cat_file(p, *args, **kwargs)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("read_status must not probe or list")

    monkeypatch.setattr(fs, "cat_file", counting_cat_file)
    for name in ("ls", "exists", "info", "isdir", "isfile", "find", "glob"):
        monkeypatch.setattr(fs, name, forbidden)
    assert read_status((fs, path)) is StepStatus.SUCCESS
    assert read_status((fs, "/econ/missing-000000")) is None
    assert calls == [f"{path}/{STATUS_FILE}", f"/econ/missing-000000/{STATUS_FILE}"]


def test_info_round_trip_indent_2(root: str) -> None:
    step = f"{root}/x/info-abc123"
    info = {"name": "x/info", "version": {"config": {"a": 1}}, "dependencies": []}
    write_info(step, info)
    assert read_info(step) == info
    text = _cat(f"{step}/{INFO_FILE}").decode()
    assert text == json.dumps(info, indent=2)


def test_info_default_encoder_and_errors(root: str) -> None:
    step = f"{root}/enc-abc123"
    with pytest.raises(TypeError):
        write_info(step, {"path": Path("/a/b")})
    write_info(step, {"path": Path("/a/b")}, default=str)
    assert read_info(step) == {"path": "/a/b"}
    assert read_info(f"{root}/nothing-000000") is None
    _put(f"{root}/list-abc123/{INFO_FILE}", "[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        read_info(f"{root}/list-abc123")


def test_lease_record_format_and_staleness() -> None:
    lease = Lease("host-1-2", 1000.0)
    assert json.loads(lease.to_bytes()) == {"worker_id": "host-1-2", "timestamp": 1000.0}
    assert Lease.from_bytes(lease.to_bytes()) == lease
    assert Lease.from_bytes(b'{"worker_id": "m", "timestamp": 5}') == Lease("m", 5.0)
    assert Lease.from_bytes(None) is None
    assert Lease.from_bytes(b"") is None
    assert Lease.from_bytes(b"{not json") is None
    assert Lease.from_bytes(b'{"worker_id": "m"}') is None
    assert not lease.is_stale(now=1090.0, timeout=90.0)
    assert lease.is_stale(now=1090.5, timeout=90.0)
    # a lock without recorded settings was written by Marin: judged with at least its 90 s
    assert not lease.is_stale(now=1001.0, timeout=0.5)
    short = Lease(tag_worker_id("host-1-2", 0.1, 0.5), 1000.0)
    assert short.holder == "host-1-2" and short.timeout == 0.5
    assert short.is_stale(now=1001.0, timeout=0.5)
    assert LOCK_FILE == f"{STATUS_FILE}.lock"
