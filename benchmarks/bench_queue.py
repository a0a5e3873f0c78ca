"""Run queue benchmark: releases launched through the webserver against `dagster job execute`.

On a sandbox of its own, with dagster-webserver and dagster-daemon running as processes against
the repository's dagster.yaml (PostgreSQL, the queued run coordinator, S3 compute logs):

1. launch -> first step: from the GraphQL submission to the STEP_START of `checkout`, against
   the same span for a `dagster job execute` process started by hand (what Jenkins runs);
2. wall time of a release: from the submission to RUN_SUCCESS, against the same span for
   `dagster job execute`.

Every figure is a ratio to the `dagster job execute` baseline measured in the same run.

Run: .venv/bin/python benchmarks/bench_queue.py [--releases N]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from release_pipeline_tests.support import release_config
from release_pipeline_tests.test_deployment.services import DagsterServices
from sandbox import Stack

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_JSON = RESULTS_DIR / "queue.json"
LOG_FILE = RESULTS_DIR / "queue.log"

JOB = "backend_release"
FIRST_STEP = "checkout"
RUN_TAG = "bench/id"
DEFAULT_RELEASES = 3
RELEASE_TIMEOUT_SECONDS = 600
# The phases of a queued launch, in the order the event log records them. The daemon records
# no RUN_DEQUEUED in this Dagster version: RUN_STARTING is the moment it took the run.
QUEUE_PHASES = (
    ("enqueued", dg.DagsterEventType.RUN_ENQUEUED),
    ("starting", dg.DagsterEventType.RUN_STARTING),
    ("started", dg.DagsterEventType.RUN_START),
)


class BenchmarkError(RuntimeError):
    """A release of the benchmark did not do what it measures."""


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.__stderr__, flush=True)


@contextlib.contextmanager
def sandbox() -> Iterator[Path]:
    """A sandbox of our own; its variables are in os.environ while it runs."""
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as state_dir:
        stack = Stack(Path(state_dir))
        try:
            progress(f"starting a sandbox in {state_dir}")
            os.environ.update(stack.start())
            yield Path(state_dir)
        finally:
            progress("stopping the sandbox")
            stack.stop()


@contextlib.contextmanager
def dagster_services(work_dir: Path) -> Iterator[DagsterServices]:
    services = DagsterServices(work_dir, dict(os.environ))
    try:
        progress("starting dagster-webserver and dagster-daemon")
        yield services.start()
    finally:
        progress("stopping dagster-webserver and dagster-daemon")
        services.stop()


_counter = itertools.count(1)
_stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def next_version(kind: str) -> str:
    return f"{_stamp}.{next(_counter)}-{kind}"


def event_times(run_id: str) -> dict[str, float]:
    """Wall clock of each run event that the figures use."""
    times: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None:
                continue
            for name, event_type in QUEUE_PHASES:
                if event.event_type == event_type:
                    times.setdefault(name, entry.timestamp)
            if event.is_step_start and event.step_key == FIRST_STEP:
                times["first_step"] = entry.timestamp
            if event.event_type == dg.DagsterEventType.RUN_SUCCESS:
                times["success"] = entry.timestamp
    if "first_step" not in times or "success" not in times:
        raise BenchmarkError(f"run {run_id} did not succeed; see the UI or {LOG_FILE}")
    return times


def through_queue(services: DagsterServices) -> dict[str, float]:
    """One release submitted through the webserver; its spans from the submission."""
    version = next_version("queue")
    launched = time.time()
    run_id = services.submit(JOB, release_config(version))
    services.wait_for_status(run_id, {dg.DagsterRunStatus.SUCCESS}, RELEASE_TIMEOUT_SECONDS)
    times = event_times(run_id)
    spans = {name: times[name] - launched for name, _ in QUEUE_PHASES if name in times}
    return {
        **{f"to_{name}_seconds": value for name, value in spans.items()},
        "to_first_step_seconds": times["first_step"] - launched,
        "wall_seconds": times["success"] - launched,
    }


def by_job_execute(work_dir: Path) -> dict[str, float]:
    """One release by `dagster job execute` (Jenkins' agent stage); its spans from the spawn."""
    version, bench_id = next_version("execute"), str(uuid.uuid4())
    config = work_dir / "release.json"
    config.write_text(json.dumps(release_config(version)))
    command = [
        str(Path(sys.executable).parent / "dagster"),
        *("job", "execute", "-m", "release_pipeline.definitions", "-j", JOB),
        *("-c", str(config), "--tags", json.dumps({RUN_TAG: bench_id})),
    ]
    with LOG_FILE.open("a") as log:
        print(f"\n===== dagster job execute {version} =====", file=log, flush=True)
        launched = time.time()
        # The working directory holds no .env for Dagster's command line to load.
        subprocess.run(
            command,
            cwd=work_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=RELEASE_TIMEOUT_SECONDS,
            check=True,
        )
        exited = time.time()
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(dg.RunsFilter(tags={RUN_TAG: bench_id}))
    times = event_times(run.run_id)
    return {
        "to_first_step_seconds": times["first_step"] - launched,
        "wall_seconds": times["success"] - launched,
        "to_exit_seconds": exited - launched,
    }


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(sample[key] for sample in samples) for key in samples[0]}


def measure(releases: int, work_dir: Path, services: DagsterServices) -> dict:
    progress("warm-up: one release each way, untimed")
    through_queue(services)
    by_job_execute(work_dir)
    queued, executed = [], []
    for index in range(releases):
        progress(f"release {index + 1}/{releases} through the queue")
        queued.append(through_queue(services))
        progress(f"release {index + 1}/{releases} by dagster job execute")
        executed.append(by_job_execute(work_dir))
    return {"queue": queued, "execute": executed}


def report(samples: dict, releases: int) -> dict:
    queue, execute = medians(samples["queue"]), medians(samples["execute"])
    figures = {
        "launch_to_first_step": {
            "queue_seconds": queue["to_first_step_seconds"],
            "execute_seconds": execute["to_first_step_seconds"],
            "ratio": queue["to_first_step_seconds"] / execute["to_first_step_seconds"],
        },
        "release_wall_time": {
            "queue_seconds": queue["wall_seconds"],
            "execute_seconds": execute["wall_seconds"],
            "ratio": queue["wall_seconds"] / execute["wall_seconds"],
        },
    }
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "releases": releases,
        "load_average": os.getloadavg(),
        "figures": figures,
        "queue_phases_median_seconds": {k: v for k, v in queue.items() if k.startswith("to_")},
        "execute_to_exit_median_seconds": execute["to_exit_seconds"],
        "samples": samples,
    }


def print_table(result: dict) -> None:
    rows = [
        ("1 launch -> first step, median", result["figures"]["launch_to_first_step"]),
        ("2 release wall time, median", result["figures"]["release_wall_time"]),
    ]
    print(f"\n{'figure':<34} {'queue':>9} {'execute':>9} {'queue/execute':>14}")
    for label, figure in rows:
        print(
            f"{label:<34} {figure['queue_seconds']:>8.2f}s {figure['execute_seconds']:>8.2f}s"
            f" {figure['ratio']:>14.2f}"
        )
    phases = result["queue_phases_median_seconds"]
    print("\nqueued launch, median seconds from the submission:")
    print("  " + ", ".join(f"{key[3:-8]} {value:.2f}" for key, value in phases.items()))
    exited = result["execute_to_exit_median_seconds"]
    print(f"dagster job execute exited {exited:.2f} s after it was spawned")
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in result['load_average'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=DEFAULT_RELEASES)
    args = parser.parse_args()
    RESULTS_DIR.mkdir(exist_ok=True)
    LOG_FILE.write_text("")

    with sandbox() as state_dir, dagster_services(state_dir / "dagster-services") as services:
        work_dir = state_dir / "execute"
        work_dir.mkdir()
        samples = measure(args.releases, work_dir, services)

    result = report(samples, args.releases)
    RESULTS_JSON.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwritten to {RESULTS_JSON}; release output in {LOG_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
