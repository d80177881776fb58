"""Refresh ``docs/lineage.png``: the example's asset lineage, every group expanded, in the UI.

Runs the example once (``dg launch --job all_steps``, so the assets show as materialized),
serves it with ``dagster-webserver`` on loopback, and lets headless chromium screenshot the
global lineage page. Everything lives in a temporary ``$DAGSTER_HOME`` and prefix.

Example::

    python scripts/lineage_screenshot.py            # writes docs/lineage.png
    python scripts/lineage_screenshot.py --no-run   # lineage only, nothing materialized
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GROUPS = ("data", "tokenize", "train", "eval")
START_TIMEOUT_S = 120


def lineage_url(base: str) -> str:
    """The global lineage page with every example group expanded (the UI's own query)."""
    expanded = ",".join(f"global@global:{group}" for group in GROUPS)
    return f"{base}/asset-groups?expanded={expanded}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"dagster-webserver exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"dagster-webserver did not answer within {START_TIMEOUT_S}s")


def _dismiss_welcome_dialog(base: str) -> None:
    """Record in the instance that its welcome dialog was seen (the UI's own mutation)."""
    body = json.dumps({"query": "mutation { setNuxSeen }"}).encode()
    request = urllib.request.Request(
        f"{base}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def screenshot(out: Path, *, run_first: bool) -> None:
    """Write the lineage screenshot to ``out``."""
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("chromium is not on PATH: sudo apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "dagster.yaml", home)
        env = {**os.environ, "DAGSTER_HOME": str(home), "MARIN_PREFIX": f"{tmp}/prefix"}
        if run_first:
            dg = Path(sys.executable).with_name("dg")
            subprocess.run([str(dg), "launch", "--job", "all_steps"], env=env, cwd=REPO, check=True)
        port = _free_port()
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "dagster_webserver", "-m", "definitions"),
                *("-h", "127.0.0.1", "-p", str(port)),
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_until_serving(base, server)
            _dismiss_welcome_dialog(base)
            subprocess.run(
                [
                    *(chromium, "--headless", "--no-sandbox", "--disable-gpu"),
                    *("--hide-scrollbars", f"--user-data-dir={tmp}/chromium"),
                    *("--window-size=1600,1000", "--virtual-time-budget=20000"),
                    *(f"--screenshot={out}", lineage_url(base)),
                ],
                check=True,
                capture_output=True,
                timeout=180,
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "lineage.png")
    parser.add_argument("--no-run", action="store_true", help="do not materialize first")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    screenshot(args.out.resolve(), run_first=not args.no_run)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
