"""End to end: a real ``dagster-webserver`` on ``pipelines.counting``, driven like the UI.

A subprocess webserver (127.0.0.1, free port, fresh ``DAGSTER_HOME`` with
``DefaultRunCoordinator`` so runs launch without a daemon) is checked over ``/graphql``
(lineage, code versions, staleness), runs are launched through ``DagsterGraphQLClient`` as
the UI's "Materialize" does, and a headless chromium renders the asset pages.

Every wait is bounded. Every process started here runs in its own session, and its whole
process group is killed: webservers by a fixture finalizer, chromium before ``render`` returns.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import dagster
import pytest
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient
from engines import engine_missing
from pipelines import counting
from pipelines._common import CALL_LOG_ENV, read_calls

from marin_dagster import compute_output_path

pytestmark = [
    pytest.mark.timeout(300),
    # dagster_graphql's client calls a deprecated gql signature (not this project's code).
    pytest.mark.filterwarnings("ignore:Using variable_values:DeprecationWarning"),
]

TESTS_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS_DIR.parent
MODULE = "pipelines.counting"
LOCATION = MODULE  # `-m pipelines.counting` names the code location after the module
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 120
BROWSER_TIMEOUT_S = 90
STOP_TIMEOUT_S = 15

DAGSTER_YAML = """\
run_coordinator:
  module: dagster.core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""

# The counting DAG, written out independently of the library (the test's oracle).
EXPECTED_DEPS: dict[str, set[str]] = {
    "data/raw": set(),
    "prep/clean": {"data/raw"},
    "prep/other": {"data/raw"},
    "train/model": {"prep/clean"},
    "eval/score": {"train/model", "prep/other"},
}
EXPECTED_DEPENDED_BY: dict[str, set[str]] = {
    name: {child for child, parents in EXPECTED_DEPS.items() if name in parents}
    for name in EXPECTED_DEPS
}

LOCATION_QUERY = """
{
  workspaceOrError {
    __typename
    ... on PythonError { message }
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on PythonError { message stack }
          ... on RepositoryLocation { repositories { name jobs { name } } }
        }
      }
    }
  }
}
"""

ASSETS_QUERY = """
{
  assetNodes {
    assetKey { path }
    groupName
    dependencyKeys { path }
    dependedByKeys { path }
    kinds
    opVersion
    staleStatus
    staleCauses { key { path } reason category dependency { path } }
    metadataEntries {
      label
      ... on TextMetadataEntry { text }
      ... on PathMetadataEntry { path }
    }
    assetMaterializations(limit: 1) {
      runId
      metadataEntries {
        label
        ... on PathMetadataEntry { path }
        ... on BoolMetadataEntry { boolValue }
        ... on TextMetadataEntry { text }
      }
    }
  }
}
"""


# ---------------------------------------------------------------------------------------------
# Processes


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a member we may not signal: still alive
        return True
    return True


def _kill_group(proc: subprocess.Popen[Any], *, grace_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group led by ``proc`` (started with ``start_new_session``), then
    SIGKILL whatever is left after ``grace_s``."""
    pgid = proc.pid
    if proc.poll() is None:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
    # Children (code server, run workers, browser helpers) share the group; the group id
    # cannot be reused while any of them lives.
    deadline = time.monotonic() + 0.5  # the code server's own graceful stop is not needed
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _group_alive(pgid):
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if proc.poll() is None:
        proc.wait(timeout=grace_s)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Webserver:
    """A ``dagster-webserver`` subprocess on 127.0.0.1 and helpers to talk to it."""

    def __init__(self, env: Mapping[str, str], log_path: Path, module: str = MODULE) -> None:
        self.module = module
        self.env = dict(env)
        self.log_path = log_path
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return "<no webserver log>"

    def start(self) -> None:
        for _attempt in range(3):  # another process may grab the free port first
            self.port = _free_port()
            command = [
                *(sys.executable, "-m", "dagster_webserver"),  # the `dagster-webserver` script
                *("-m", self.module, "-h", "127.0.0.1", "-p", str(self.port)),
            ]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    command,
                    env=self.env,
                    cwd=TESTS_DIR,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            if self._wait_ready():
                return
            self.stop()
            if "address already in use" not in self.log_tail().lower():
                break
        pytest.fail(f"dagster-webserver did not start:\n{self.log_tail()}", pytrace=False)

    def _wait_ready(self) -> bool:
        """True once ``/server_info`` answers and the code location has loaded."""
        assert self.proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/server_info", timeout=5) as r:
                    info = json.load(r)
                entries = self.location_entries()
            except (OSError, ValueError):
                time.sleep(0.2)
                continue
            assert "dagster_webserver_version" in info, info
            loaded = [e for e in entries if e["loadStatus"] == "LOADED"]
            for entry in loaded:
                loc = entry["locationOrLoadError"]
                if loc["__typename"] == "PythonError":
                    pytest.fail(
                        f"code location {entry['name']} failed to load:\n"
                        f"{loc['message']}{''.join(loc.get('stack') or [])}",
                        pytrace=False,
                    )
            if loaded and len(loaded) == len(entries):
                return True
            time.sleep(0.2)
        return False

    def stop(self) -> None:
        if self.proc is not None:
            _kill_group(self.proc)

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                answer = json.load(r)
        except urllib.error.HTTPError as e:
            raise AssertionError(f"/graphql HTTP {e.code}: {e.read()[:2000]!r}") from e
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def location_entries(self) -> list[dict[str, Any]]:
        workspace = self.graphql(LOCATION_QUERY)["workspaceOrError"]
        assert workspace["__typename"] == "Workspace", workspace
        return workspace["locationEntries"]

    def asset_nodes(self) -> dict[str, dict[str, Any]]:
        """The asset nodes by step name (the key path joined with ``/``)."""
        nodes = self.graphql(ASSETS_QUERY)["assetNodes"]
        return {"/".join(n["assetKey"]["path"]): n for n in nodes}

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port, timeout=30)

    def launch_and_wait(self, job_name: str = "all_steps") -> str:
        """Submit ``job_name`` as the UI does and wait for SUCCESS; returns the run id."""
        client = self.client()
        run_id = client.submit_job_execution(job_name)
        terminal = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
        deadline = time.monotonic() + RUN_TIMEOUT_S
        status = client.get_run_status(run_id)
        while status not in terminal and time.monotonic() < deadline:
            time.sleep(0.25)
            status = client.get_run_status(run_id)
        assert status == DagsterRunStatus.SUCCESS, (
            f"run {run_id} of {job_name} ended {status} (timeout {RUN_TIMEOUT_S}s);"
            f" webserver log:\n{self.log_tail()}"
        )
        return run_id


def make_env(root: Path, **extra: str) -> dict[str, str]:
    """Fresh ``DAGSTER_HOME`` (DefaultRunCoordinator), prefix and call log under ``root``."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    env = dict(os.environ)
    for name in ("MARIN_PREFIX", CALL_LOG_ENV, counting.PARAM_ENV):
        env.pop(name, None)
    env["DAGSTER_HOME"] = str(home)
    paths = [str(TESTS_DIR), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env["MARIN_PREFIX"] = str(root / "prefix")
    env[CALL_LOG_ENV] = str(root / "calls.log")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webserver]:
    """One webserver for the read-mostly tests (default ``prep/clean`` param)."""
    root = tmp_path_factory.mktemp("webserver")
    server = Webserver(make_env(root), root / "webserver.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def start_webserver(tmp_path: Path) -> Iterator[Callable[..., Webserver]]:
    """Start webservers sharing one ``DAGSTER_HOME``/prefix/call log; all stopped at teardown."""
    started: list[Webserver] = []

    def start(**extra_env: str) -> Webserver:
        server = Webserver(make_env(tmp_path, **extra_env), tmp_path / "webserver.log")
        started.append(server)
        server.start()
        return server

    try:
        yield start
    finally:
        for server in started:
            server.stop()


# ---------------------------------------------------------------------------------------------
# Expectations computed from the same pipeline module


def expected_paths(prefix: str, clean_param: str = "a") -> dict[str, str]:
    """Each step's versioned output path (``{prefix}/{name}-{hash}``)."""
    steps = counting.build_steps(clean_param)
    return {name: compute_output_path(s, prefix=prefix) for name, s in steps.items()}


def hash_of(path: str) -> str:
    version = path.rsplit("-", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{6}", version), path
    return version


def entries(node_entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["label"]: e for e in node_entries}


def latest(node: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """The run id and metadata of the asset's latest materialization."""
    (materialization,) = node["assetMaterializations"]
    return materialization["runId"], entries(materialization["metadataEntries"])


def keys(paths: list[dict[str, list[str]]]) -> set[str]:
    return {"/".join(p["path"]) for p in paths}


# ---------------------------------------------------------------------------------------------
# Browser


class _DomText(HTMLParser):
    """Visible text chunks (outside script/style) and every ``title`` attribute."""

    def __init__(self) -> None:
        super().__init__()
        self._skip = 0
        self.texts: list[str] = []
        self.titles: set[str] = set()
        self.edges = 0  # lineage edges drawn (SVG paths stroked in the lineage-edge colour)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "path" and ("stroke", "var(--color-lineage-edge)") in attrs:
            self.edges += 1
        for name, value in attrs:
            if name == "title" and value:
                self.titles.add(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def parse_dom(html: str) -> _DomText:
    parser = _DomText()
    parser.feed(html)
    parser.close()
    return parser


def render(profile_root: Path, *urls: str) -> list[_DomText]:
    """Load each URL in its own headless chromium (all at once), let the app render, and
    return each final DOM's text."""
    chromium = shutil.which("chromium")
    if chromium is None:
        engine_missing(
            "chromium is not on PATH: the browser tests need it; install it with "
            "`sudo apt-get install -y chromium` (Debian/Ubuntu; .ci/run does this itself)"
        )
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, url in enumerate(urls):
            profile_dir = profile_root / f"chromium-{i}"
            profile_dir.mkdir(parents=True, exist_ok=True)
            command = [
                chromium,
                *("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic"),
                *("--no-first-run", "--disable-background-networking"),
                *("--disable-component-update", "--disable-sync"),
                f"--user-data-dir={profile_dir}",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url,
            ]
            procs.append(
                subprocess.Popen(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + BROWSER_TIMEOUT_S
        pages: list[_DomText] = []
        for url, proc in zip(urls, procs, strict=True):
            try:
                out, err = proc.communicate(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                pytest.fail(f"chromium did not finish {url} in {BROWSER_TIMEOUT_S}s", pytrace=False)
            problem = err.decode(errors="replace")
            assert proc.returncode == 0, f"chromium failed on {url}:\n{problem}"
            pages.append(parse_dom(out.decode(errors="replace")))
        return pages
    finally:
        for proc in procs:
            _kill_group(proc, grace_s=5)


# ---------------------------------------------------------------------------------------------
# Tests


def test_webserver_serves_counting_location(webserver: Webserver) -> None:
    with urllib.request.urlopen(f"{webserver.url}/server_info", timeout=10) as r:
        info = json.load(r)
    assert info["dagster_version"] == dagster.__version__
    (entry,) = webserver.location_entries()
    assert entry["name"] == LOCATION
    assert entry["loadStatus"] == "LOADED"
    (repo,) = entry["locationOrLoadError"]["repositories"]
    jobs = {j["name"] for j in repo["jobs"]}
    assert {"all_steps", "data_steps", "prep_steps", "train_steps", "eval_steps"} <= jobs


def test_lineage_over_graphql(webserver: Webserver) -> None:
    nodes = webserver.asset_nodes()
    assert set(nodes) == set(counting.ALL_NAMES)
    paths = expected_paths(webserver.env["MARIN_PREFIX"])
    for name, node in nodes.items():
        assert keys(node["dependencyKeys"]) == EXPECTED_DEPS[name], name
        assert keys(node["dependedByKeys"]) == EXPECTED_DEPENDED_BY[name], name
        assert node["groupName"] == name.split("/")[0], name
        assert "marin" in node["kinds"], (name, node["kinds"])
        version = hash_of(paths[name])
        assert node["opVersion"] == version, name
        metadata = entries(node["metadataEntries"])
        assert metadata["marin/version"]["text"] == version, name
        assert metadata["marin/step_name"]["text"] == name
        assert metadata["marin/output_path"]["path"] == paths[name], name
    # Five distinct versions: every step's hash covers its own config.
    assert len({n["opVersion"] for n in nodes.values()}) == len(nodes)


def test_launch_all_steps_like_the_ui(webserver: Webserver) -> None:
    log = webserver.env[CALL_LOG_ENV]
    assert read_calls(log) == []
    run_id = webserver.launch_and_wait("all_steps")

    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)
    paths = expected_paths(webserver.env["MARIN_PREFIX"])
    nodes = webserver.asset_nodes()
    for name, node in nodes.items():
        materialized_by, metadata = latest(node)
        assert materialized_by == run_id, name
        assert metadata["marin/materialized_path"]["path"] == paths[name], name
        assert metadata["marin/cache_hit"]["boolValue"] is False, name
        assert (Path(paths[name]) / ".executor_status").read_text().strip() == "SUCCESS"
        assert node["staleStatus"] == "FRESH", (name, node["staleCauses"])


def test_staleness_after_a_versioned_change(
    start_webserver: Callable[..., Webserver], tmp_path: Path
) -> None:
    """Why did this rerun? A changed versioned value shows as CODE staleness, then reruns."""
    before = start_webserver()
    prefix = before.env["MARIN_PREFIX"]
    log = before.env[CALL_LOG_ENV]
    old_paths = expected_paths(prefix)
    new_paths = expected_paths(prefix, "changed")
    changed = {n for n in counting.ALL_NAMES if old_paths[n] != new_paths[n]}
    assert changed == set(counting.AFFECTED_BY_PARAM)

    before.launch_and_wait("all_steps")
    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)
    assert {n["staleStatus"] for n in before.asset_nodes().values()} == {"FRESH"}
    before.stop()

    # Same instance, prefix and call log; the code now builds prep/clean with "changed".
    after = start_webserver(**{counting.PARAM_ENV: "changed"})
    nodes = after.asset_nodes()
    assert set(nodes) == set(counting.ALL_NAMES)
    for name, node in nodes.items():
        assert node["opVersion"] == hash_of(new_paths[name]), name
        if name in changed:
            assert node["staleStatus"] == "STALE", (name, node["staleStatus"])
            code_causes = [
                c
                for c in node["staleCauses"]
                if c["category"] == "CODE" and keys([c["key"]]) == {name}
            ]
            assert code_causes, (name, node["staleCauses"])
            assert all("code version" in c["reason"] for c in code_causes), code_causes
        else:
            assert node["staleStatus"] == "FRESH", (name, node["staleCauses"])
            assert node["staleCauses"] == [], name

    # Asset pages do not mislead: the definition carries the new path, version and resources,
    # and the latest (old) materialization shares no label with it, so the UI cannot show an
    # old value in place of a current one (it merges both, the event winning on a shared label).
    model = nodes["train/model"]
    definition = entries(model["metadataEntries"])
    assert definition["marin/output_path"]["path"] == new_paths["train/model"]
    assert definition["marin/version"]["text"] == hash_of(new_paths["train/model"])
    assert definition["marin/resources"]["text"] == counting.TRAIN_RESOURCES.summary()
    _, old_event = latest(model)
    assert old_event["marin/materialized_path"]["path"] == old_paths["train/model"]
    for name, node in nodes.items():
        assert set(entries(node["metadataEntries"])).isdisjoint(latest(node)[1]), name

    # The UI shows it too: the changed model is "Unsynced", the untouched branch is not; its
    # page shows the current output path, version and resources.
    stale_page, fresh_page = render(
        tmp_path / "browser", f"{after.url}/assets/train/model", f"{after.url}/assets/prep/other"
    )
    assert "Counting stage train/model." in stale_page.texts, stale_page.texts
    assert new_paths["train/model"] in stale_page.texts, stale_page.texts
    assert hash_of(new_paths["train/model"]) in stale_page.texts, stale_page.texts
    assert counting.TRAIN_RESOURCES.summary() in stale_page.texts, stale_page.texts
    assert any(t.startswith("Unsynced") for t in stale_page.texts), stale_page.texts
    assert "Counting stage prep/other." in fresh_page.texts, fresh_page.texts
    assert not any(t.startswith("Unsynced") for t in fresh_page.texts), fresh_page.texts

    calls_before = len(read_calls(log))
    run_id = after.launch_and_wait("all_steps")
    assert sorted(read_calls(log)[calls_before:]) == sorted(changed)

    nodes = after.asset_nodes()
    for name, node in nodes.items():
        assert node["staleStatus"] == "FRESH", (name, node["staleCauses"])
        materialized_by, metadata = latest(node)
        assert materialized_by == run_id, name
        assert metadata["marin/materialized_path"]["path"] == new_paths[name], name
        assert metadata["marin/cache_hit"]["boolValue"] is (name not in changed), name


def test_browser_renders_asset_and_lineage_pages(webserver: Webserver, tmp_path: Path) -> None:
    asset_url = f"{webserver.url}/assets/prep/clean"
    group_url = f"{webserver.url}/locations/{LOCATION}/asset-groups/prep"
    # The server sends an empty app shell: what follows is rendered by the app in the browser.
    with urllib.request.urlopen(asset_url, timeout=10) as r:
        shell = r.read().decode(errors="replace")
    assert "Counting stage prep/clean." not in shell

    asset, group, overview = render(tmp_path, asset_url, group_url, f"{webserver.url}/asset-groups")

    # The asset page of prep/clean: definition, versioned path and lineage neighbours.
    texts = asset.texts
    path = expected_paths(webserver.env["MARIN_PREFIX"])["prep/clean"]
    assert "Counting stage prep/clean." in texts, texts  # the step's description
    assert path in texts, texts  # marin/output_path (description and metadata)
    assert hash_of(path) in texts, texts  # marin/version
    assert {"prep", "clean"} <= set(texts), texts  # key parts / group
    assert "data / raw" in texts, texts  # upstream asset
    assert "train / model" in texts, texts  # downstream asset
    assert "marin" in texts, texts  # kind

    # The asset-group lineage page of "prep".
    assert {"prep", LOCATION} <= set(group.texts), group.texts
    assert {"clean", "other"} <= set(group.texts), group.texts  # the group's assets (nodes)
    # Neighbours outside the group are drawn as linked nodes labelled by their last key part.
    assert {"raw", "model", "score"} <= group.titles, group.titles

    # The global lineage page collapses assets into their groups (first name segment).
    assert {"data", "prep", "train", "eval"} <= set(overview.texts), overview.texts


def test_sync_turns_never_materialized_into_materialized(
    start_webserver: Callable[..., Webserver], tmp_path: Path
) -> None:
    """Outputs another instance wrote appear materialized after one ``sync_from_storage``."""
    other_home = tmp_path / "other_dagster_home"
    other_home.mkdir()
    server = start_webserver()
    env = {**server.env, "DAGSTER_HOME": str(other_home)}
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", MODULE, "-j", "all_steps"]
    done = subprocess.run(command, env=env, cwd=TESTS_DIR, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    log = server.env[CALL_LOG_ENV]
    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)
    paths = expected_paths(server.env["MARIN_PREFIX"])
    assert all(not n["assetMaterializations"] for n in server.asset_nodes().values())
    asset_url = f"{server.url}/assets/train/model"
    (before,) = render(tmp_path / "before", asset_url)
    assert "Never materialized" in before.texts, before.texts

    run_id = server.launch_and_wait("sync_from_storage")

    assert sorted(read_calls(log)) == sorted(counting.ALL_NAMES)  # no fn called
    for name, node in server.asset_nodes().items():
        materialized_by, metadata = latest(node)
        assert materialized_by == run_id, name
        assert metadata["marin/materialized_path"]["path"] == paths[name], name
        assert metadata["marin/synced_from_storage"]["boolValue"] is True, name
        assert node["staleStatus"] == "FRESH", (name, node["staleCauses"])
    (after,) = render(tmp_path / "after", asset_url)
    assert "Never materialized" not in after.texts, after.texts
    assert "Latest materialization" in after.texts, after.texts
    assert "marin/synced_from_storage" in after.texts, after.texts
    assert paths["train/model"] in after.texts, after.texts


def test_nonblocking_view_node_is_not_shown_as_a_step(tmp_path: Path) -> None:
    """The lineage-only view node: not materializable, kind ``view``, marked "Not a step".

    Dagster 1.13 prints "Latest materialization: Never materialized" on the own page of any
    external asset that has no observation function; its graph node has no status, and the
    group's "Materialize" counts steps only.
    """
    server = Webserver(make_env(tmp_path), tmp_path / "webserver.log", module="pipelines.lineage")
    try:
        server.start()
        nodes = server.graphql(
            "{ assetNodes { assetKey { path } isMaterializable isExecutable kinds } }"
        )["assetNodes"]
        by_name = {"/".join(n["assetKey"]["path"]): n for n in nodes}
        view = by_name["train/model.nonblocking"]
        assert (view["isMaterializable"], view["isExecutable"], view["kinds"]) == (
            False,
            False,
            ["view"],
        )
        assert by_name["train/model"]["isMaterializable"] is True
        view_page, group_page = render(
            tmp_path / "browser",
            f"{server.url}/assets/train/model.nonblocking",
            f"{server.url}/locations/pipelines.lineage/asset-groups/train",
        )
    finally:
        server.stop()
    assert "External Asset" in view_page.texts, view_page.texts
    assert any(t.startswith("Not a step") for t in view_page.texts), view_page.texts
    assert "marin/node: nonblocking_view" in view_page.texts, view_page.texts
    # Group "train" draws the step and its view; only the step can be materialized.
    assert {"model", "model.nonblocking"} <= set(group_page.texts), group_page.texts
    assert "Materialize (1)" in group_page.texts, group_page.texts


def _screenshot_script() -> Any:
    """``scripts/lineage_screenshot.py``, whose lineage URL the README's picture is taken at."""
    path = REPO_ROOT / "scripts" / "lineage_screenshot.py"
    spec = importlib.util.spec_from_file_location("lineage_screenshot", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_lineage_shows_every_step_and_edge_with_groups_expanded(tmp_path: Path) -> None:
    """The example's global lineage at the screenshot's URL: each asset and edge is drawn."""
    import definitions

    asset_graph = definitions.defs.resolve_asset_graph()
    all_keys = asset_graph.get_all_asset_keys()
    edges = sum(len(asset_graph.get(key).parent_keys) for key in all_keys)
    labels = Counter(key.path[-1] for key in all_keys)
    server = Webserver(make_env(tmp_path), tmp_path / "webserver.log", module="definitions")
    try:
        server.start()
        (page,) = render(tmp_path / "browser", _screenshot_script().lineage_url(server.url))
    finally:
        server.stop()
    assert {"data", "tokenize", "train", "eval"} <= set(page.texts), page.texts  # group boxes
    drawn = Counter(t for t in page.texts if t in labels or t.startswith("lm-lr"))
    # Long view-node labels are elided in the middle ("lm-lr….nonblocking"): count those apart.
    elided = [t for t in page.texts if "…" in t and t.endswith(".nonblocking")]
    views = [k for k in labels if k.endswith(".nonblocking")]
    assert len(elided) + sum(drawn[k] for k in views) == sum(labels[k] for k in views)
    for label, count in labels.items():
        if not label.endswith(".nonblocking"):
            assert drawn[label] == count, (label, page.texts)
    assert page.edges == edges
