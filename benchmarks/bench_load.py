"""Code location load benchmark: the real catalog and one of 200 services, in fresh processes.

Every sample is a new Python process that does what a Dagster code server does when the
webserver or the daemon (re)loads the location:

1. import the module that holds ``defs`` (Dagster itself is imported first and timed apart);
2. resolve the repository: every job, schedule, sensor and asset checked and bound;
3. build the repository snapshot the code server sends to the webserver.

Measured for the real catalog, for a generated catalog of 200 services (the real five plus
copies of the four deployable ones, through ``RELEASE_CATALOG``) and, as the baseline, for a
bare ``Definitions`` holding one job of one op. The end-to-end wall time of
``dagster definitions validate`` is measured the same way. Every figure is a median over
fresh processes, and a ratio to the baseline of the same run.

Run: .venv/bin/python benchmarks/bench_load.py [--processes N]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import yaml

from release_pipeline.catalog import CATALOG_PATH, load_catalog

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_JSON = HERE / "results" / "load.json"
DEFAULT_PROCESSES = 7
GENERATED_SERVICES = 200
REAL_MODULE = "release_pipeline.definitions"
BASELINE_MODULE = "bench_load_baseline"
BASELINE_SOURCE = '''"""A bare code location: one job of one op, no resources."""

import dagster as dg


@dg.op
def hello() -> None:
    pass


@dg.job
def one_job() -> None:
    hello()


defs = dg.Definitions(jobs=[one_job])
'''
# Runs in the child: times each phase with the process's own clock and prints them as JSON.
CHILD_SOURCE = """
import importlib, json, sys, time
started = time.perf_counter()
import dagster as dg
from dagster._core.remote_representation.external_data import RepositorySnap
dagster_imported = time.perf_counter()
module = importlib.import_module(sys.argv[1])
imported = time.perf_counter()
repository = module.defs.get_repository_def()
jobs = repository.get_all_jobs()
resolved = time.perf_counter()
RepositorySnap.from_def(repository)
snapshotted = time.perf_counter()
print(json.dumps({
    "import_dagster_seconds": dagster_imported - started,
    "import_module_seconds": imported - dagster_imported,
    "resolve_seconds": resolved - imported,
    "snapshot_seconds": snapshotted - resolved,
    "jobs": len(jobs),
    "schedules": len(repository.schedule_defs),
    "sensors": len(repository.sensor_defs),
    "assets": len(repository.assets_defs_by_key),
}))
"""
# What loading the code location itself costs, once Dagster is imported.
LOCATION_PHASES = ("import_module_seconds", "resolve_seconds", "snapshot_seconds")


class BenchmarkError(RuntimeError):
    """A code location the benchmark loads did not load."""


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def generate_catalog(path: Path, size: int) -> None:
    """The real catalog grown to ``size`` services with renamed copies of the deployable ones.

    The migrations service stays single: the code location has one target database.
    """
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    services = dict(raw["services"])
    templates = [
        (n, b) for n, b in raw["services"].items() if b["strategy"]["kind"] != "migrations"
    ]
    for index in range(size - len(services)):
        name, body = templates[index % len(templates)]
        copied = copy.deepcopy(body)
        if "name" in copied.get("schedule", {}):
            copied["schedule"]["name"] = f"{name}_{index:03d}_nightly"
        services[f"{name}_{index:03d}"] = copied
    raw["services"] = services
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def child_env(work_dir: Path, catalog: Path | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "RELEASE_CATALOG"}
    # The project's own modules are compiled once, by the warm-up, into a cache of this run:
    # the environment may forbid writing bytecode next to the sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work_dir / "pycache")
    env["PYTHONPATH"] = os.pathsep.join([str(work_dir), str(ROOT)])
    env["DAGSTER_HOME"] = str(work_dir / "dagster_home")
    if catalog is not None:
        env["RELEASE_CATALOG"] = str(catalog)
    return env


def load_once(module: str, env: dict[str, str], work_dir: Path) -> dict[str, float]:
    """One fresh process loading ``module``: its phases, and its wall time from the spawn."""
    spawned = time.perf_counter()
    output = run_checked([sys.executable, "-c", CHILD_SOURCE, module], env, work_dir)
    sample = json.loads(output.strip().splitlines()[-1])
    return {**sample, "process_seconds": time.perf_counter() - spawned}


def validate_once(module: str, env: dict[str, str], work_dir: Path) -> float:
    """Wall time of `dagster definitions validate` for ``module``, spawn to exit."""
    command = [str(Path(sys.executable).parent / "dagster"), "definitions", "validate"]
    spawned = time.perf_counter()
    run_checked([*command, "-m", module], env, work_dir)
    return time.perf_counter() - spawned


def run_checked(command: list[str], env: dict[str, str], work_dir: Path) -> str:
    """Runs a loading process; if it fails, its own error text is the benchmark's."""
    done = subprocess.run(command, env=env, cwd=work_dir, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        catalog = env.get("RELEASE_CATALOG", "the packaged catalog")
        raise BenchmarkError(f"loading {command[-1]} with {catalog} failed:\n{tail}")
    return done.stdout


def measure(processes: int, work_dir: Path) -> dict[str, list[dict[str, float]]]:
    """Samples per variant: the baseline, the real catalog and the generated one."""
    catalog = work_dir / f"catalog_{GENERATED_SERVICES}.yaml"
    generate_catalog(catalog, GENERATED_SERVICES)
    (work_dir / f"{BASELINE_MODULE}.py").write_text(BASELINE_SOURCE)
    (work_dir / "dagster_home").mkdir()
    variants = {
        "baseline": (BASELINE_MODULE, child_env(work_dir, None)),
        "real": (REAL_MODULE, child_env(work_dir, None)),
        f"generated_{GENERATED_SERVICES}": (REAL_MODULE, child_env(work_dir, catalog)),
    }
    progress("warm-up: one untimed load of each, which also compiles the bytecode")
    for module, env in variants.values():
        load_once(module, env, work_dir)

    samples: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    for index in range(processes):
        progress(f"round {index + 1}/{processes}")
        # Round-robin, so a burst of load from elsewhere hits every variant alike.
        for name, (module, env) in variants.items():
            sample = load_once(module, env, work_dir)
            sample["validate_seconds"] = validate_once(module, env, work_dir)
            samples[name].append(sample)
    return samples


def report(samples: dict[str, list[dict[str, float]]], processes: int) -> dict:
    for runs in samples.values():
        for sample in runs:
            sample["location_seconds"] = sum(sample[phase] for phase in LOCATION_PHASES)
    medians = {
        name: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        for name, runs in samples.items()
    }
    base, generated = medians["baseline"], f"generated_{GENERATED_SERVICES}"
    extra_services = GENERATED_SERVICES - len(load_catalog().services)
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "processes": processes,
        "load_average": os.getloadavg(),
        "medians": medians,
        "ratios_to_baseline": {
            name: {
                key: figures[key] / base[key]
                for key in ("process_seconds", "location_seconds", "validate_seconds")
            }
            for name, figures in medians.items()
        },
        "seconds_per_extra_service": (
            medians[generated]["location_seconds"] - medians["real"]["location_seconds"]
        )
        / extra_services,
        "samples": samples,
    }


TABLE_COLUMNS = (
    ("import", "import_module_seconds"),
    ("resolve", "resolve_seconds"),
    ("snapshot", "snapshot_seconds"),
    ("load", "location_seconds"),
    ("process", "process_seconds"),
    ("validate", "validate_seconds"),
)


def print_table(result: dict) -> None:
    medians, ratios = result["medians"], result["ratios_to_baseline"]
    print(f"\nseconds, median of {result['processes']} fresh processes each")
    print(f"{'code location':<14} {'jobs':>5}" + "".join(f"{t:>9}" for t, _ in TABLE_COLUMNS))
    for name, figures in medians.items():
        cells = "".join(f"{figures[key]:>9.3f}" for _, key in TABLE_COLUMNS)
        print(f"{name:<14} {figures['jobs']:>5.0f}{cells}")
    print("\nratios to the baseline (load = import + resolve + snapshot)")
    print(f"{'code location':<14}" + "".join(f"{t:>10}" for t in ("load", "process", "validate")))
    for name, ratio in ratios.items():
        keys = ("location_seconds", "process_seconds", "validate_seconds")
        print(f"{name:<14}" + "".join(f"{ratio[key]:>10.2f}" for key in keys))
    print(f"\nimporting dagster itself: {medians['baseline']['import_dagster_seconds']:.3f} s")
    print(f"each service past the real ones adds {result['seconds_per_extra_service']:.4f} s")
    print(f"load average at the end: {', '.join(f'{v:.1f}' for v in result['load_average'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=DEFAULT_PROCESSES)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-load-") as work_dir:
        samples = measure(args.processes, Path(work_dir))

    result = report(samples, args.processes)
    RESULTS_JSON.parent.mkdir(exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(result, indent=2) + "\n")
    print_table(result)
    print(f"\nwritten to {RESULTS_JSON}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
