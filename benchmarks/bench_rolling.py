"""Rolling update benchmark (data_service_release) on a sandbox of its own; ratios to a baseline.

Wall time per instance and requests failed under load during the rolling update, against
what the seed's Jenkins does (`docker-compose up -d --force-recreate data-service`): the same
containers recreated in place with the docker SDK, still in nginx, under the same load.

Run: .venv/bin/python benchmarks/bench_rolling.py [--releases N] [--drain-seconds S] [--workers W]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import docker
import httpx

from release_pipeline.assets import deployment_key
from release_pipeline.catalog import default_catalog
from sandbox import Stack

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_JSON = RESULTS_DIR / "rolling.json"
LOG_FILE = RESULTS_DIR / "rolling.log"
LOADGEN = HERE / "loadgen.py"

JOB = "data_service_release"
SERVICE = "data_service"
HEALTH_PATH = "/health"
LOAD_FROM_STEP = "push_image"  # the load starts when this step succeeds...
DEPLOY_STEP = "deploy_rolling"  # ...and stops when this one ends
REPLACED = re.compile(r"Replaced \S+ instance \d+ with version \S+ in ([\d.]+) s\.")
SERVICE_LABEL = "release_pipeline.service"
ENV_LABEL = "release_pipeline.environment"
VERSION_LABEL = "release_pipeline.version"
COLOR_LABEL = "release_pipeline.color"

# The post-deploy bake, kept short: it runs after the last instance, outside the load window.
FAST_VERIFY = {"bake_seconds": 1, "interval_seconds": 0.5, "scrape_wait_seconds": 0}
DEFAULT_RELEASES = 3
DEFAULT_WORKERS = 8
REQUEST_TIMEOUT_SECONDS = 2.0
HEALTHY_TIMEOUT_SECONDS = 60.0
HEALTH_POLL_SECONDS = 0.05
LB_SETTLE_SECONDS = 2.0  # baseline: this long of good answers through nginx ends its window
LOAD_MAX_SECONDS = 900.0
LOAD_STOP_TIMEOUT_SECONDS = 30.0


class BenchmarkError(RuntimeError):
    """A step of the benchmark did not do what it measures."""


# --- plumbing -------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.__stderr__, flush=True)


@contextlib.contextmanager
def sandbox() -> Iterator[dict[str, str]]:
    """A sandbox of our own in a temp dir; its variables are in os.environ while it runs."""
    with tempfile.TemporaryDirectory(prefix="bench-rolling-") as state_dir:
        stack = Stack(Path(state_dir))
        try:
            progress(f"starting a sandbox in {state_dir}")
            env = stack.start()
            os.environ.update(env)
            yield env
        finally:
            progress("stopping the sandbox")
            stack.stop()


@contextlib.contextmanager
def logged(title: str) -> Iterator[None]:
    """Sends what a release prints (pytest, docker, dagster) to the log file."""
    with (
        LOG_FILE.open("a") as log,
        contextlib.redirect_stdout(log),
        contextlib.redirect_stderr(log),
    ):
        print(f"\n===== {title} =====", flush=True)
        yield


_counter = itertools.count(1)
_stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def next_version(kind: str) -> str:
    """A version string no other release of this run uses."""
    return f"{_stamp}.{next(_counter)}-{kind}"


def lb_url(path: str) -> str:
    urls = dict(pair.split("=", 1) for pair in os.environ["LB_URLS"].split(","))
    return urls[SERVICE] + path


def docker_client() -> docker.DockerClient:
    return docker.DockerClient(base_url=os.environ["DOCKER_HOST"])


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- the load generator ---------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    sent: int
    failed: int
    seconds: float
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    over_1s: int

    @property
    def failure_rate(self) -> float:
        return self.failed / self.sent if self.sent else float("nan")


def load_record(load: Load) -> dict:
    """The load's counts for the JSON, with its failure rate and 200 answers per second."""
    served = (load.sent - load.failed) / load.seconds
    return {**asdict(load), "failure_rate": load.failure_rate, "served_per_second": served}


def start_load(workers: int, seconds: float = LOAD_MAX_SECONDS) -> subprocess.Popen:
    """loadgen.py against the LB's /health, a new connection per request; returns once ready."""
    command = [sys.executable, str(LOADGEN), lb_url(HEALTH_PATH), "--workers", str(workers)]
    process = subprocess.Popen(
        [*command, "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True
    )
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise BenchmarkError(f"{LOADGEN.name} did not start")
    return process


def finish_load(process: subprocess.Popen, timeout: float, stop: bool = True) -> Load:
    """Stops the load generator (SIGTERM to the process we started) and reads its counts."""
    if stop:
        process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return Load(**json.loads(output.strip().splitlines()[-1]))


def measure_load(workers: int, seconds: float) -> Load:
    process = start_load(workers, seconds)
    return finish_load(process, seconds + LOAD_STOP_TIMEOUT_SECONDS, stop=False)


class LoadDuringDeploy:
    """Run listener: the load runs from the end of push_image to the end of deploy_rolling.

    Dagster calls it with every event of the run, in the run's own thread, so the
    load is ready before deploy_rolling starts (its start-up is not in the step's time).
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.process: subprocess.Popen | None = None
        self.started = self.stopped = 0.0

    def __call__(self, entry: dg.EventLogEntry) -> None:
        event = entry.dagster_event
        if event is None or self.stopped:
            return
        if event.step_key == LOAD_FROM_STEP and event.is_step_success:
            self.process = start_load(self.workers)
            self.started = time.monotonic()
        elif event.step_key == DEPLOY_STEP and (event.is_step_success or event.is_step_failure):
            self.stop()

    def stop(self) -> None:
        if self.process is not None and not self.stopped:
            self.process.send_signal(signal.SIGTERM)
            self.stopped = time.monotonic()

    def discard(self) -> None:
        """Ends the load generator we started without reading it (the run failed)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(LOAD_STOP_TIMEOUT_SECONDS)

    def finish(self) -> tuple[Load, float]:
        """The load's counts and how long it ran; stops it if the run did not."""
        if self.process is None:
            raise BenchmarkError(f"the run never reached the end of {LOAD_FROM_STEP}")
        self.stop()
        return finish_load(self.process, LOAD_STOP_TIMEOUT_SECONDS, stop=False), (
            self.stopped - self.started
        )


# --- ours: data_service_release -------------------------------------------------------


@dataclass(frozen=True)
class Rollout:
    """One rolling update by the pipeline, under load."""

    step_seconds: float  # deploy_rolling, step start -> step success
    seconds_per_instance: float  # the deployment materialization's own figure
    replaced_seconds: list[float]  # per instance: new container started -> back in nginx
    load: Load
    load_seconds: float

    @property
    def step_seconds_per_instance(self) -> float:
        return self.step_seconds / instance_count()


def instance_count() -> int:
    return default_catalog().service(SERVICE).strategy.instances


def catalog_drain_seconds() -> float:
    return default_catalog().service(SERVICE).strategy.drain_seconds


def release_config(version: str, drain_seconds: float | None) -> dict:
    deploy = {} if drain_seconds is None else {"drain_seconds": drain_seconds}
    return {
        "ops": {
            "checkout": {"config": {"git_ref": "main", "version": version}},
            "deploy_rolling": {"config": deploy},
            "verify_release": {"config": FAST_VERIFY},
        }
    }


def run_release(version: str, drain_seconds: float | None, listener=None):
    """Runs data_service_release in process; returns the result and its instance."""
    from release_pipeline.definitions import defs  # after the sandbox's env is in os.environ

    instance, run_id = dg.DagsterInstance.ephemeral(), str(uuid.uuid4())
    if listener is not None:
        instance.add_event_listener(run_id, listener)
    with logged(f"{JOB} {version}"):
        result = defs.resolve_job_def(JOB).execute_in_process(
            run_config=release_config(version, drain_seconds),
            instance=instance,
            raise_on_error=False,
            run_id=run_id,
        )
    if not result.success:
        raise BenchmarkError(f"{JOB} {version} failed: {failure_message(result)}")
    return result, instance


def failure_message(result) -> str:
    messages = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        user = data.user_failure_data
        messages.append(user.description if user and user.description else str(data.error))
    return " | ".join(messages) or f"see {LOG_FILE}"


def step_seconds(instance: dg.DagsterInstance, run_id: str, step: str) -> float:
    """Step start -> step success, from the run's event log."""
    times = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event and event.step_key == step and (event.is_step_start or event.is_step_success):
            times[event.event_type_value] = entry.timestamp
    if len(times) != 2:
        raise BenchmarkError(f"run {run_id} has no start and success of {step}")
    return times["STEP_SUCCESS"] - times["STEP_START"]


def replaced_seconds(instance: dg.DagsterInstance, run_id: str) -> list[float]:
    """The per-instance times the strategy logs ("Replaced ... in X s.")."""
    found = (REPLACED.search(entry.user_message or "") for entry in instance.all_logs(run_id))
    return [float(match.group(1)) for match in found if match]


def reported_seconds_per_instance(result) -> float:
    for event in result.get_asset_materialization_events():
        if event.asset_key == deployment_key(SERVICE):
            return float(event.materialization.metadata["seconds_per_instance"].value)
    raise BenchmarkError("the run recorded no deployment")


def pipeline_rollout(version: str, drain_seconds: float | None, workers: int) -> Rollout:
    listener = LoadDuringDeploy(workers)
    try:
        result, instance = run_release(version, drain_seconds, listener)
    except BaseException:
        listener.discard()
        raise
    load, load_seconds = listener.finish()
    return Rollout(
        step_seconds=step_seconds(instance, result.run_id, DEPLOY_STEP),
        seconds_per_instance=reported_seconds_per_instance(result),
        replaced_seconds=replaced_seconds(instance, result.run_id),
        load=load,
        load_seconds=load_seconds,
    )


# --- baseline: docker-compose up -d --force-recreate, by hand -------------------------


@dataclass(frozen=True)
class InstanceSpec:
    """What a live instance was started with: recreated the same, only the version changes."""

    name: str
    image: str
    env: list[str]
    labels: dict[str, str]
    port: str  # "8001/tcp"
    host_port: int


def live_specs(client: docker.DockerClient, version: str) -> list[InstanceSpec]:
    """The pipeline's running instances of this sandbox, as specs of ``version``."""
    labels = [f"{SERVICE_LABEL}={SERVICE}", f"{ENV_LABEL}={os.environ['RELEASE_ENVIRONMENT']}"]
    found = client.containers.list(filters={"label": labels})
    found.sort(key=lambda container: container.labels[COLOR_LABEL])
    if len(found) != instance_count():
        raise BenchmarkError(f"expected {instance_count()} live instances, found {len(found)}")
    return [spec_of(container, version) for container in found]


def spec_of(container, version: str) -> InstanceSpec:
    config = container.attrs["Config"]
    port = f"{default_catalog().service(SERVICE).port}/tcp"
    bindings = container.attrs["NetworkSettings"]["Ports"][port]
    env = [item for item in config["Env"] if not item.startswith("APP_VERSION=")]
    return InstanceSpec(
        name=container.name,
        image=config["Image"],
        env=[*env, f"APP_VERSION={version}"],
        labels={**container.labels, VERSION_LABEL: version},
        port=port,
        host_port=int(bindings[0]["HostPort"]),
    )


def recreate(client: docker.DockerClient, spec: InstanceSpec) -> None:
    """What compose does to one container: gone, then a new one on the same host port."""
    client.containers.get(spec.name).remove(force=True)
    client.containers.run(
        spec.image,
        name=spec.name,
        detach=True,
        labels=spec.labels,
        environment=spec.env,
        ports={spec.port: ("127.0.0.1", spec.host_port)},
    )


def wait_all_healthy(specs: list[InstanceSpec], version: str) -> None:
    """Waits until every recreated container answers /health ok with ``version`` itself."""
    deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
    pending = {f"http://127.0.0.1:{spec.host_port}{HEALTH_PATH}" for spec in specs}
    while pending and time.monotonic() < deadline:
        pending = {url for url in pending if not healthy(url, version)}
        time.sleep(HEALTH_POLL_SECONDS)
    if pending:
        raise BenchmarkError(f"recreated instances never became healthy: {sorted(pending)}")


def healthy(url: str, version: str) -> bool:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        body = httpx.get(url, timeout=REQUEST_TIMEOUT_SECONDS).json()
        return (body.get("status"), body.get("version")) == ("ok", version)
    return False


def wait_lb_serves(version: str) -> None:
    """Waits until every answer through nginx for LB_SETTLE_SECONDS is 200 from ``version``.

    nginx marks a peer that refused a connection as failed for its fail_timeout (10 s by
    default), so the containers can be healthy while the load balancer still answers 502.
    """
    deadline = time.monotonic() + HEALTHY_TIMEOUT_SECONDS
    streak_since = None
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as client:
        while time.monotonic() < deadline:
            ok = answered_version(client, lb_url(HEALTH_PATH)) == version
            streak_since = (streak_since or time.monotonic()) if ok else None
            if streak_since and time.monotonic() - streak_since >= LB_SETTLE_SECONDS:
                return
            time.sleep(HEALTH_POLL_SECONDS)
    raise BenchmarkError(f"the load balancer did not settle on {version}")


def answered_version(client: httpx.Client, url: str) -> str | None:
    with contextlib.suppress(httpx.HTTPError, ValueError):
        response = client.get(url)
        return response.json().get("version") if response.status_code == 200 else None
    return None


def timed_recreate(client: docker.DockerClient, specs: list[InstanceSpec], version: str) -> dict:
    """Recreates every instance in turn; seconds to recreated, to healthy, to served by nginx."""
    started = time.monotonic()
    for spec in specs:
        recreate(client, spec)
    recreated = time.monotonic() - started
    wait_all_healthy(specs, version)
    healthy_seconds = time.monotonic() - started
    wait_lb_serves(version)
    return {
        "seconds_per_instance": recreated / len(specs),
        "until_healthy_seconds_per_instance": healthy_seconds / len(specs),
        "until_lb_serves_seconds": time.monotonic() - started,
    }


def recreate_by_hand(version: str, workers: int) -> dict:
    """Every instance recreated in turn with the docker SDK while nginx still sends to it.

    The load runs until the load balancer serves the new version again.
    """
    client = docker_client()
    specs = live_specs(client, version)
    process = start_load(workers)
    try:
        timings = timed_recreate(client, specs, version)
    finally:
        load = finish_load(process, LOAD_STOP_TIMEOUT_SECONDS)
    return {**timings, "load": load_record(load)}


# --- the figures ----------------------------------------------------------------------


def rollout_record(rollout: Rollout) -> dict:
    return {
        "step_seconds": rollout.step_seconds,
        "step_seconds_per_instance": rollout.step_seconds_per_instance,
        "seconds_per_instance": rollout.seconds_per_instance,
        "replaced_seconds": rollout.replaced_seconds,
        "load_seconds": rollout.load_seconds,
        "load": load_record(rollout.load),
    }


def measured_pairs(releases: int, drain_seconds: float | None, workers: int) -> dict:
    """N rolling updates by the pipeline, each followed by a recreate by hand and a control.

    The control is the same load at rest, for as long as the recreate's load ran.
    """
    ours, baseline, rest = [], [], []
    for run in range(1, releases + 1):
        ours.append(rollout_record(pipeline_rollout(next_version("roll"), drain_seconds, workers)))
        baseline.append(recreate_by_hand(next_version("recreate"), workers))
        rest.append({"load": load_record(measure_load(workers, baseline[-1]["load"]["seconds"]))})
        ours_load, base_load = ours[-1]["load"], baseline[-1]["load"]
        progress(
            f"{run}/{releases}: ours {ours[-1]['step_seconds_per_instance']:.2f} s/instance,"
            f" {ours_load['failed']}/{ours_load['sent']} failed; recreate"
            f" {baseline[-1]['seconds_per_instance']:.2f} s/instance,"
            f" {base_load['failed']}/{base_load['sent']} failed;"
            f" at rest {rest[-1]['load']['failed']}/{rest[-1]['load']['sent']} failed"
        )
    return {"ours": ours, "baseline": baseline, "rest": rest}


def totals(samples: list[dict]) -> dict:
    sent = sum(sample["load"]["sent"] for sample in samples)
    failed = sum(sample["load"]["failed"] for sample in samples)
    errors: dict[str, int] = {}
    for sample in samples:
        for name, count in sample["load"]["errors"].items():
            errors[name] = errors.get(name, 0) + count
    seconds = sum(sample["load"]["seconds"] for sample in samples)
    return {
        "sent": sent,
        "failed": failed,
        "failure_rate": failed / sent,
        "errors": errors,
        "seconds": seconds,
        "served_per_second": (sent - failed) / seconds,
    }


def summarize(pairs: dict) -> dict:
    ours, baseline = pairs["ours"], pairs["baseline"]
    ours_time = median([sample["step_seconds_per_instance"] for sample in ours])
    base_time = median([sample["seconds_per_instance"] for sample in baseline])
    replaced = [seconds for sample in ours for seconds in sample["replaced_seconds"]]
    return {
        "ours_seconds_per_instance_median": ours_time,
        "reported_seconds_per_instance_median": median(
            [sample["seconds_per_instance"] for sample in ours]
        ),
        "replaced_seconds_median": median(replaced),
        "baseline_seconds_per_instance_median": base_time,
        "baseline_until_healthy_per_instance_median": median(
            [sample["until_healthy_seconds_per_instance"] for sample in baseline]
        ),
        "baseline_until_lb_serves_median": median(
            [sample["until_lb_serves_seconds"] for sample in baseline]
        ),
        "time_ratio": ours_time / base_time,
        "ours_requests": totals(ours),
        "baseline_requests": totals(baseline),
        "rest_requests": totals(pairs["rest"]),
        "ours_load_seconds_median": median([sample["load_seconds"] for sample in ours]),
    }


def run_benchmarks(releases: int, drain_seconds: float | None, workers: int) -> dict:
    progress("warm-up: a first release starts the instances (not timed)")
    run_release(next_version("warmup"), drain_seconds)
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "releases": releases,
        "workers": workers,
        "drain_seconds": catalog_drain_seconds() if drain_seconds is None else drain_seconds,
        "instances": instance_count(),
    }
    results["runs"] = measured_pairs(releases, drain_seconds, workers)
    results["summary"] = summarize(results["runs"])
    results["load_average_1m_end"] = os.getloadavg()[0]
    return results


# --- report ---------------------------------------------------------------------------


def report(results: dict) -> str:
    summary = results["summary"]
    rest = summary["rest_requests"]
    ours, base = summary["ours_requests"], summary["baseline_requests"]
    rows = [
        ("figure", "ours", "baseline", "ours/baseline"),
        ("wall time per instance, median", f"{summary['ours_seconds_per_instance_median']:.2f} s",
         f"{summary['baseline_seconds_per_instance_median']:.2f} s",
         f"{summary['time_ratio']:.2f}"),
        ("requests sent (all runs)", str(ours["sent"]), str(base["sent"]), ""),
        ("requests failed (all runs)", str(ours["failed"]), str(base["failed"]),
         failed_ratio(ours["failed"], base["failed"])),
        ("failure rate", f"{100 * ours['failure_rate']:.2f} %",
         f"{100 * base['failure_rate']:.2f} %", ""),
        ("200 answers/s / same load at rest", served_ratio(ours, rest),
         served_ratio(base, rest), ""),
    ]  # fmt: skip
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join([*lines, "", *notes(results)])


def served_ratio(side: dict, rest: dict) -> str:
    """200 answers per second during the updates, as a share of the same load at rest."""
    return f"{side['served_per_second'] / rest['served_per_second']:.2f}"


def failed_ratio(ours: int, baseline: int) -> str:
    return f"{ours / baseline:.2f}" if baseline else "n/a (baseline 0)"


def notes(results: dict) -> list[str]:
    summary = results["summary"]
    rest = summary["rest_requests"]
    ours, base = summary["ours_requests"], summary["baseline_requests"]
    return [
        f"{results['date']}, {results['cores']} cores, {results['releases']} rolling updates"
        f" of {results['instances']} instances, drain {results['drain_seconds']:g} s;"
        f" 1 min load average {results['load_average_1m_start']:.1f} at the start,"
        f" {results['load_average_1m_end']:.1f} at the end.",
        "ours: deploy_rolling step start -> success, / instances. The deployment's own"
        f" seconds_per_instance: median {summary['reported_seconds_per_instance_median']:.2f} s;"
        f" new container -> back in nginx (no drain): median"
        f" {summary['replaced_seconds_median']:.2f} s.",
        "baseline: docker SDK remove(force) + run, same name/image/env/labels/host port, one"
        " after the other, instances left in nginx; until all healthy:"
        f" {summary['baseline_until_healthy_per_instance_median']:.2f} s per instance; until"
        f" nginx serves again ({LB_SETTLE_SECONDS:g} s of 200s included):"
        f" {summary['baseline_until_lb_serves_median']:.1f} s in all.",
        f"load: {LOADGEN.name}, {results['workers']} workers, keepalive off, LB {HEALTH_PATH};"
        f" ours from the end of {LOAD_FROM_STEP} to the end of {DEPLOY_STEP}"
        f" (median {summary['ours_load_seconds_median']:.1f} s), baseline from before the"
        " first remove until nginx serves again.",
        f"failures: ours {ours['errors'] or 'none'}; baseline {base['errors'] or 'none'}."
        " A 502 comes back at once, so an outage inflates sent and failed; the 200/s row"
        " does not have that bias.",
        "control: after each pair, the same load at rest as long as the baseline's window"
        f" ({rest['seconds']:.1f} s in all): {rest['failed']} of"
        f" {rest['sent']} failed ({rest['errors'] or 'none'}),"
        f" {rest['served_per_second']:.1f} answers 200/s.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=DEFAULT_RELEASES, help="measured updates")
    parser.add_argument("--drain-seconds", type=float, help="default: the catalog's drain")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="load generator")
    args = parser.parse_args()
    if args.releases < 1 or args.workers < 1:
        parser.error("--releases and --workers must be at least 1")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    LOG_FILE.write_text("")
    progress(f"logs of every release: {LOG_FILE}")
    load_before = os.getloadavg()[0]  # other work on the machine makes the figures noisy
    with sandbox():
        results = run_benchmarks(args.releases, args.drain_seconds, args.workers)
    results = {"load_average_1m_start": load_before, **results}
    print(report(results))
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS_JSON}")


if __name__ == "__main__":
    main()
