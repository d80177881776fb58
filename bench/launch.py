"""Benchmark: launching steps, per backend, against in-process and Dagster's multiprocess executor.

(a) **Launch overhead**: a chain of 20 no-op steps (each waits for the one before, so steps
    never overlap and the time is launch latency), run with ``dagster.execute_job`` on a fresh
    temporary instance and prefix by: Dagster's ``in_process_executor``, Dagster's
    ``multiprocess_executor`` (default start method, ``spawn``), ``marin_executor`` with the
    local backend, and with the Ray backend (a local Ray cluster the script starts, when
    ``ray`` is installed). Goal: local ≤ 0.5 x multiprocess.
(b) **Concurrency**: 8 independent steps sleeping 1 s vs 8 independent no-op steps, both with
    ``marin_executor`` (local); concurrency = serial sum (8 s) ÷ extra wall time. Goal ≥ 4.

Usage: ``python bench/launch.py [--quick] [--repeat N] [--no-ray]``
"""

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import _launch_jobs as jobs
import dagster as dg
from _graphs import environment_line, markdown_table

LOCAL_TARGET = 0.5
CONCURRENCY_TARGET = 4.0


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Dagster's console log to /dev/null while timing (still formatted on every side)."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def run_once(job_fn: object, env: dict[str, str]) -> float:
    """Seconds for one run of ``job_fn``'s job on a fresh instance and prefix."""
    root = tempfile.mkdtemp(prefix="marin-bench-launch-")
    os.environ.update(env)
    os.environ["BENCH_PREFIX"] = os.path.join(root, "prefix")
    try:
        os.makedirs(os.path.join(root, "home"))
        with dg.instance_for_test(temp_dir=os.path.join(root, "home")) as instance, quiet():
            start = time.perf_counter()
            result = dg.execute_job(dg.reconstructable(job_fn), instance=instance)  # type: ignore[arg-type]
            elapsed = time.perf_counter() - start
        if not result.success:
            raise RuntimeError(f"{job_fn} failed")
        return elapsed
    finally:
        shutil.rmtree(root, ignore_errors=True)


def median_of(job_fn: object, env: dict[str, str], repeat: int) -> float:
    """Median over ``repeat`` runs, each in a fresh interpreter (Dagster caches job definitions
    per process; a fresh one also matches how a run starts). Only the run itself is timed."""
    name = getattr(job_fn, "__name__", str(job_fn))
    samples = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--measure", name],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        samples.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


@contextlib.contextmanager
def ray_cluster() -> Iterator[str | None]:
    """A local Ray head on loopback for the run, or ``None`` when ray is not installed."""
    if shutil.which("ray") is None:
        yield None
        return
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": os.pathsep.join(sys.path)}
    port = "6391"
    subprocess.run(
        ["ray", "start", "--head", f"--port={port}", "--num-cpus=4", "--node-ip-address=127.0.0.1",
         "--include-dashboard=false", "--disable-usage-stats"],
        env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    os.environ["RAY_AUTH_MODE"] = "disabled"
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run(["ray", "stop", "--force"], env=env, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="4 steps, 1 repetition")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray backend")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: time one job, print s
    args = parser.parse_args()
    if args.measure:
        print(run_once(getattr(jobs, args.measure), {}))
        return
    n = 4 if args.quick else 20
    repeat = 1 if args.quick else args.repeat
    chain = {"BENCH_STEPS": str(n), "BENCH_SHAPE": "chain", "BENCH_SLEEP_S": "0"}

    sides = {
        "in-process executor": jobs.in_process_job,
        "multiprocess executor (spawn)": jobs.multiprocess_job,
        "marin_executor, local backend": jobs.marin_local_job,
    }
    times = {name: median_of(fn, chain, repeat) for name, fn in sides.items()}
    if not args.no_ray:
        with ray_cluster() as address:
            if address is not None:
                times["marin_executor, Ray backend"] = median_of(
                    jobs.marin_ray_job, {**chain, "BENCH_RAY_ADDRESS": address}, repeat
                )
    multi = times["multiprocess executor (spawn)"]
    rows = [
        [name, f"{t:.2f} s", f"{1000 * t / n:.0f} ms", f"{t / multi:.2f}x"]
        for name, t in times.items()
    ]
    print(f"## Launch overhead: a chain of {n} no-op steps (median of {repeat})\n")
    print(markdown_table(["executor / backend", "run", "per step", "vs multiprocess"], rows))
    local_ratio = times["marin_executor, local backend"] / multi
    verdict = "met" if local_ratio <= LOCAL_TARGET else "MISSED"
    print(f"\nlocal / multiprocess = {local_ratio:.2f} (target ≤ {LOCAL_TARGET}: {verdict})\n")

    k, seconds = (4, 0.5) if args.quick else (8, 1.0)
    independent = {"BENCH_STEPS": str(k), "BENCH_SHAPE": "independent"}
    noop = median_of(jobs.marin_local_job, {**independent, "BENCH_SLEEP_S": "0"}, repeat)
    slept = median_of(jobs.marin_local_job, {**independent, "BENCH_SLEEP_S": str(seconds)}, repeat)
    concurrency = k * seconds / max(slept - noop, 1e-9)
    verdict = "met" if concurrency >= CONCURRENCY_TARGET else "MISSED"
    print(f"## Concurrency: {k} independent steps of {seconds:g} s, marin_executor (local)\n")
    print(
        markdown_table(
            ["no-op run", "sleeping run", "serial sum", "concurrency"],
            [[f"{noop:.2f} s", f"{slept:.2f} s", f"{k * seconds:.1f} s", f"{concurrency:.1f}"]],
        )
    )
    print(f"\nconcurrency {concurrency:.1f} (target ≥ {CONCURRENCY_TARGET:g}: {verdict})")
    print(f"\n{environment_line()}")


if __name__ == "__main__":
    main()
