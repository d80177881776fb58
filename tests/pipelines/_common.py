"""Helpers shared by the fixture pipelines: the call log and fsspec output writing."""

import os

import fsspec

CALL_LOG_ENV = "MARIN_TEST_CALL_LOG"


def log_call(name: str) -> None:
    """Append ``name`` to the call log named by ``$MARIN_TEST_CALL_LOG`` (if set)."""
    path = os.environ.get(CALL_LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(name + "\n")


def read_calls(path: str | os.PathLike[str]) -> list[str]:
    """The step names logged so far (empty when the log does not exist)."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [line.strip() for line in f if line.strip()]


def write_output(output_path: str, text: str) -> None:
    """Write ``out.txt`` under ``output_path`` (local path or fsspec URL)."""
    fs, root = fsspec.core.url_to_fs(output_path)
    fs.makedirs(root, exist_ok=True)
    fs.pipe_file(f"{root}/out.txt", text.encode())


def read_output(output_path: str) -> str:
    """Read ``out.txt`` under ``output_path``."""
    fs, root = fsspec.core.url_to_fs(output_path)
    return fs.cat_file(f"{root}/out.txt").decode()
