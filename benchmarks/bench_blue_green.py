"""Blue/green release benchmark on a sandbox of its own; every figure is a ratio to a baseline.

1. switch time: new color healthy -> every answer through nginx from the new version,
   against the raw mechanism (a container started by hand plus NginxResource.apply);
2. requests sent and failed under full load across one release, against the same load at rest;
3. wall time of backend_release against benchmarks/baseline_release.sh.

Run: .venv/bin/python benchmarks/bench_blue_green.py [--releases N]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import docker
import httpx

from release_pipeline.assets import deployment_key
from release_pipeline.definitions import defs
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.nginx import Backend, NginxResource, UpstreamState
from sandbox import Stack

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
RESULTS_JSON = RESULTS_DIR / "blue_green.json"
LOG_FILE = RESULTS_DIR / "blue_green.log"
BASELINE_SCRIPT = HERE / "baseline_release.sh"
LOADGEN = HERE / "loadgen.py"

JOB = "backend_release"
SERVICE = "backend"
PORT = 3001
HEALTH_PATH = "/health"
PING_PATH = "/api/v1/ping"
ENV_LABEL = "release_pipeline.environment"
HEALTHY_MESSAGE = "is healthy with version"
HEALTHY_SOURCE = f'timestamp of the run\'s log entry "{HEALTHY_MESSAGE}"'
# The same health wait for the pipeline and the script (the tests' fast settings).
HEALTH_RETRIES = 10
HEALTH_INTERVAL_SECONDS = 0.5
SCALE_DOWN_DELAY_SECONDS = 0  # the script stops the old color at once too
# The post-deploy bake, kept short: it runs after the switch, outside what is measured.
FAST_VERIFY = {"bake_seconds": 1, "interval_seconds": 0.5, "scrape_wait_seconds": 0}

DEFAULT_RELEASES = 3
REQUEST_TIMEOUT_SECONDS = 2.0
POLL_MAX_SECONDS = 600.0
HEALTH_POLL_SECONDS = 0.05
SETTLE_SECONDS = 1.0  # baseline switch: this long of new-version answers only
SETTLE_MIN_ANSWERS = 5
SWITCH_TIMEOUT_SECONDS = 30.0
SCRIPT_TIMEOUT_SECONDS = 600
CALIBRATION_WORKERS = (4, 8, 16, 32, 64)
CALIBRATION_SECONDS = 5.0
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
    with tempfile.TemporaryDirectory(prefix="bench-blue-green-") as state_dir:
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
    """Sends what a release prints (npm, docker, dagster) to the log file."""
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
    return nginx_resource().lb_url(SERVICE) + path


def nginx_resource() -> NginxResource:
    env = os.environ
    return NginxResource(
        nginx_bin=env["NGINX_BIN"],
        prefix=env["NGINX_PREFIX"],
        conf=env["NGINX_CONF"],
        upstream_dir=env["NGINX_UPSTREAM_DIR"],
        lb_urls=env["LB_URLS"],
    )


def docker_resource() -> DockerResource:
    env = os.environ
    return DockerResource(
        base_url=env["DOCKER_HOST"],
        environment=env["RELEASE_ENVIRONMENT"],
        base_image=env["RELEASE_BASE_IMAGE"],
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


# --- the two ways to release ---------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """One successful backend_release run and what it says about itself."""

    seconds: float
    healthy_at: float  # wall clock of the "is healthy with version" log entry
    switch_seconds: float  # the pipeline's own figure, from the Deployment metadata


def release_config(version: str) -> dict:
    health = {"health_retries": HEALTH_RETRIES, "health_interval_seconds": HEALTH_INTERVAL_SECONDS}
    return {
        "ops": {
            "checkout": {"config": {"git_ref": "main", "version": version}},
            "deploy_blue_green": {"config": health},
            "verify_release": {"config": FAST_VERIFY},
            "scale_down_previous": {
                "config": {"scale_down_delay_seconds": SCALE_DOWN_DELAY_SECONDS}
            },
        }
    }


def run_release(version: str) -> Release:
    """Runs backend_release in process, as the tests do, and times it."""
    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def(JOB)
    with logged(f"{JOB} {version}"):
        started = time.monotonic()
        result = job.execute_in_process(
            run_config=release_config(version), instance=instance, raise_on_error=False
        )
        seconds = time.monotonic() - started
    if not result.success:
        raise BenchmarkError(f"{JOB} {version} failed: {failure_message(result)}")
    healthy_at = healthy_timestamp(instance, result.run_id)
    return Release(seconds, healthy_at, reported_switch_seconds(result))


def failure_message(result) -> str:
    messages = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        user = data.user_failure_data
        messages.append(user.description if user and user.description else str(data.error))
    return " | ".join(messages) or f"see {LOG_FILE}"


def healthy_timestamp(instance: dg.DagsterInstance, run_id: str) -> float:
    for entry in instance.all_logs(run_id):
        if HEALTHY_MESSAGE in (entry.user_message or ""):
            return entry.timestamp
    raise BenchmarkError(f'run {run_id} logged no "{HEALTHY_MESSAGE}"')


def reported_switch_seconds(result) -> float:
    for event in result.get_asset_materialization_events():
        if event.asset_key == deployment_key(SERVICE):
            return float(event.materialization.metadata["switch_seconds"].value)
    raise BenchmarkError("the run recorded no deployment")


def run_script(version: str) -> float:
    """Runs baseline_release.sh and returns its wall time."""
    env = {
        **os.environ,
        "HEALTH_RETRIES": str(HEALTH_RETRIES),
        "HEALTH_INTERVAL_SECONDS": str(HEALTH_INTERVAL_SECONDS),
    }
    command = ["bash", str(BASELINE_SCRIPT), version]
    with LOG_FILE.open("a") as log:
        print(f"\n===== {BASELINE_SCRIPT.name} {version} =====", file=log, flush=True)
        started = time.monotonic()
        done = subprocess.run(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, timeout=SCRIPT_TIMEOUT_SECONDS
        )
        seconds = time.monotonic() - started
    if done.returncode != 0:
        raise BenchmarkError(f"{BASELINE_SCRIPT.name} {version} exited {done.returncode}")
    return seconds


# --- figure 1: switch time -----------------------------------------------------------


class VersionPoller:
    """Asks the load balancer's /health from a thread as fast as it can.

    Keeps one (send time, version) pair per request; version is None for an
    error or a non-200 answer.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.answers: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> VersionPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=REQUEST_TIMEOUT_SECONDS * 2)

    def _loop(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)  # a new connection per request
        deadline = time.monotonic() + POLL_MAX_SECONDS
        with httpx.Client(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                sent = time.time()
                self.answers.append((sent, answered_version(client, self.url)))


def answered_version(client: httpx.Client, url: str) -> str | None:
    try:
        response = client.get(url)
        return response.json().get("version") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None


def switched_at(answers: list[tuple[float, str | None]], version: str) -> float:
    """Send time of the first answer after which every answer came from ``version``."""
    others = [index for index, (_, seen) in enumerate(answers) if seen != version]
    first_new = others[-1] + 1 if others else 0
    if first_new >= len(answers):
        raise BenchmarkError(f"the load balancer never settled on version {version}")
    return answers[first_new][0]


def poll_interval_ms(answers: list[tuple[float, str | None]]) -> float:
    """Mean time between two answers of the poller: the resolution of the switch time."""
    if len(answers) < 2:
        return float("nan")
    return 1000 * (answers[-1][0] - answers[0][0]) / (len(answers) - 1)


def pipeline_switch(version: str) -> dict[str, float]:
    """One release under the poller: healthy (run log) -> all answers new (poller)."""
    with VersionPoller(lb_url(HEALTH_PATH)) as poller:
        release = run_release(version)
    return {
        "seconds": switched_at(poller.answers, version) - release.healthy_at,
        "reported_switch_seconds": release.switch_seconds,
        "poll_interval_ms": poll_interval_ms(poller.answers),
    }


def start_by_hand(version: str):
    """A container of the released image, started with the docker SDK, labelled for cleanup."""
    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"])
    environment = os.environ["RELEASE_ENVIRONMENT"]
    container = client.containers.run(
        f"{os.environ['REGISTRY_URL']}/backend-api:latest",
        name=f"{SERVICE}-bench-{environment}",
        detach=True,
        labels={ENV_LABEL: environment},
        environment={"APP_VERSION": version, "APP_COLOR": "bench"},
        ports={f"{PORT}/tcp": ("127.0.0.1", None)},
    )
    container.reload()
    host_port = container.attrs["NetworkSettings"]["Ports"][f"{PORT}/tcp"][0]["HostPort"]
    return container, f"127.0.0.1:{host_port}"


def wait_healthy(address: str, version: str) -> float:
    """Wall clock of the first healthy answer of ``version`` from the container itself."""
    deadline = time.monotonic() + SWITCH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            url = f"http://{address}{HEALTH_PATH}"
            body = httpx.get(url, timeout=REQUEST_TIMEOUT_SECONDS).json()
            if (body.get("status"), body.get("version")) == ("ok", version):
                return time.time()
        time.sleep(HEALTH_POLL_SECONDS)
    raise BenchmarkError(f"the hand-started container never became healthy with {version}")


def wait_settled(poller: VersionPoller, version: str) -> None:
    """Waits until the poller's answers of the last SETTLE_SECONDS are all ``version``."""
    deadline = time.monotonic() + SWITCH_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        since = time.time() - SETTLE_SECONDS
        recent = [seen for sent, seen in list(poller.answers) if sent >= since]
        if len(recent) >= SETTLE_MIN_ANSWERS and set(recent) == {version}:
            return
        time.sleep(HEALTH_POLL_SECONDS)
    raise BenchmarkError(f"the load balancer did not settle on {version}")


def restore(nginx: NginxResource, before: UpstreamState) -> None:
    """Points the upstream back at the pipeline's live color, with its header."""
    runtime = docker_resource()
    color = before.get("active")
    live = runtime.find(runtime.container_name(SERVICE, color), PORT) if color else None
    nginx.apply(SERVICE, [Backend(live.address)] if live else [], before.facts)


def mechanism_switch(version: str) -> dict[str, float]:
    """The raw mechanism: healthy container by hand -> NginxResource.apply -> all answers new."""
    nginx = nginx_resource()
    before = nginx.read_state(SERVICE)
    container, address = start_by_hand(version)
    try:
        with VersionPoller(lb_url(HEALTH_PATH)) as poller:
            healthy_at = wait_healthy(address, version)
            nginx.apply(SERVICE, [Backend(address)], {"active": "bench", "version": version})
            wait_settled(poller, version)
    finally:
        restore(nginx, before)
        container.remove(force=True)
    return {
        "seconds": switched_at(poller.answers, version) - healthy_at,
        "poll_interval_ms": poll_interval_ms(poller.answers),
    }


def switch_figure(runs: int) -> dict:
    ours, raw = [], []
    for run in range(1, runs + 1):
        ours.append(pipeline_switch(next_version("switch")))
        raw.append(mechanism_switch(next_version("raw")))
        seconds = ours[-1]["seconds"], raw[-1]["seconds"]
        progress(f"switch {run}/{runs}: ours {seconds[0]:.3f} s, raw mechanism {seconds[1]:.3f} s")
    ours_median = median([sample["seconds"] for sample in ours])
    raw_median = median([sample["seconds"] for sample in raw])
    return {
        "healthy_from": HEALTHY_SOURCE,
        "ours_median_s": ours_median,
        "baseline_median_s": raw_median,
        "ratio": ours_median / raw_median,
        "reported_switch_seconds_median": median([s["reported_switch_seconds"] for s in ours]),
        "ours": ours,
        "baseline": raw,
    }


# --- figure 2: requests during a release ---------------------------------------------


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
    def rate(self) -> float:
        """Requests answered 200 per second."""
        return (self.sent - self.failed) / self.seconds


def start_load(workers: int, seconds: float = LOAD_MAX_SECONDS) -> subprocess.Popen:
    command = [sys.executable, str(LOADGEN), lb_url(PING_PATH), "--workers", str(workers)]
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


def calibrate() -> tuple[int, dict[int, dict[str, float]]]:
    """The number of workers with the highest rate at rest (without failures, if any has none)."""
    loads = {workers: measure_load(workers, CALIBRATION_SECONDS) for workers in CALIBRATION_WORKERS}
    clean = {workers: load.rate for workers, load in loads.items() if load.failed == 0}
    rates = clean or {workers: load.rate for workers, load in loads.items()}
    best = max(rates, key=rates.get)
    trials = {w: {"rate": round(load.rate, 1), "failed": load.failed} for w, load in loads.items()}
    return best, trials


def load_during_release(workers: int, version: str) -> Load:
    process = start_load(workers)
    try:
        run_release(version)
    finally:
        during = finish_load(process, LOAD_STOP_TIMEOUT_SECONDS)
    return during


def listen_overflows() -> int:
    """TCP listen-queue overflows so far in the live backend container's network namespace.

    busybox ``nc -ll`` listens with a backlog of 1; each overflow drops a handshake,
    which the connecting side retries after 1 s, then 3 s, 7 s...
    """
    runtime = docker_resource()
    color = nginx_resource().read_state(SERVICE).get("active")
    container = runtime.client().containers.get(runtime.container_name(SERVICE, color))
    netstat = container.exec_run(["cat", "/proc/net/netstat"]).output.decode()
    names, values = [line.split() for line in netstat.splitlines() if line.startswith("TcpExt:")]
    return int(dict(zip(names, values, strict=True))["ListenOverflows"])


def load_tool() -> str:
    wrk = shutil.which("wrk")
    found = f"wrk is at {wrk} but not used" if wrk else "wrk is not installed"
    return f"{LOADGEN.name} (asyncio + httpx, a new connection per request; {found})"


def traffic_figure() -> dict:
    workers, calibration = calibrate()
    progress(f"load: {workers} workers (at rest, by workers: {calibration})")
    during = load_during_release(workers, next_version("load"))
    new_color_overflows = listen_overflows()  # a new container: counted from its start
    rest = measure_load(workers, during.seconds)
    rest_overflows = listen_overflows() - new_color_overflows
    return {
        "tool": load_tool(),
        "workers": workers,
        "calibration_by_workers": calibration,
        "release": {**asdict(during), "rate": during.rate},
        "rest": {**asdict(rest), "rate": rest.rate},
        "ratio": during.rate / rest.rate,
        "listen_overflows": {"new_color": new_color_overflows, "rest": rest_overflows},
    }


# --- figure 3: wall time -------------------------------------------------------------


def wall_time_figure(runs: int) -> dict:
    ours, script = [], []
    for run in range(1, runs + 1):
        ours.append(run_release(next_version("ours")).seconds)
        script.append(run_script(next_version("sh")))
        progress(f"wall time {run}/{runs}: ours {ours[-1]:.1f} s, script {script[-1]:.1f} s")
    return {
        "ours_median_s": median(ours),
        "script_median_s": median(script),
        "ratio": median(ours) / median(script),
        "ours_s": ours,
        "script_s": script,
    }


# --- report --------------------------------------------------------------------------


def report(results: dict) -> str:
    switch, traffic, wall = results["switch"], results["traffic"], results["wall_time"]
    rest, during = traffic["rest"], traffic["release"]
    rows = [
        ("figure", "ours", "baseline", "ours/baseline"),
        ("1 switch time, median", f"{switch['ours_median_s']:.3f} s",
         f"{switch['baseline_median_s']:.3f} s", f"{switch['ratio']:.2f}"),
        ("2 requests sent", str(during["sent"]), str(rest["sent"]), ""),
        ("  requests failed", str(during["failed"]), str(rest["failed"]), ""),
        ("  rate (200/s)", f"{during['rate']:.1f}", f"{rest['rate']:.1f}",
         f"{traffic['ratio']:.2f}"),
        ("3 release wall time, median", f"{wall['ours_median_s']:.1f} s",
         f"{wall['script_median_s']:.1f} s", f"{wall['ratio']:.2f}"),
    ]  # fmt: skip
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    return "\n".join([*lines, "", *notes(results)])


def notes(results: dict) -> list[str]:
    switch, traffic = results["switch"], results["traffic"]
    during, rest, overflows = traffic["release"], traffic["rest"], traffic["listen_overflows"]
    calibration = traffic["calibration_by_workers"]
    errors = during["errors"] or "none"
    return [
        f"{results['date']}, {results['cores']} cores, {results['releases']} releases per median;"
        f" 1 min load average {results['load_average_1m_start']:.1f} at the start,"
        f" {results['load_average_1m_end']:.1f} at the end.",
        f"1: healthy = {switch['healthy_from']}; end = poller through nginx.",
        "   baseline = container by hand + NginxResource.apply. The pipeline's own",
        f"   switch_seconds (after smoke checks, to its 5-answer check): median"
        f" {switch['reported_switch_seconds_median']:.3f} s.",
        f"2: {traffic['tool']}, {traffic['workers']} workers, {during['seconds']:.1f} s"
        " each; baseline = the same load at rest.",
        f"   calibration, {CALIBRATION_SECONDS:.0f} s at rest, 200/s (failed) by workers: "
        + ", ".join(f"{w}: {t['rate']} ({t['failed']})" for w, t in calibration.items()),
        f"   failures during the release: {errors}; at rest: {rest['errors'] or 'none'}.",
        f"   latency p50/p99/max: release {latency(during)}, rest {latency(rest)};"
        f" answers >= 1 s: {during['over_1s']} / {rest['over_1s']}.",
        "   listen-queue overflows in the backend container (busybox nc, backlog 1):"
        f" rest {overflows['rest']}, new color during the release {overflows['new_color']}.",
        "3: baseline = benchmarks/baseline_release.sh, same steps back to back.",
    ]


def latency(load: dict) -> str:
    return f"{load['p50_ms']:.0f}/{load['p99_ms']:.0f}/{load['max_ms']:.0f} ms"


def run_benchmarks(releases: int) -> dict:
    progress("warm-up: one release by the pipeline, one by the script (not timed)")
    run_release(next_version("warmup"))
    run_script(next_version("warmup-sh"))
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "releases": releases,
    }
    results["wall_time"] = wall_time_figure(releases)
    results["switch"] = switch_figure(releases)
    results["traffic"] = traffic_figure()
    results["load_average_1m_end"] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--releases", type=int, default=DEFAULT_RELEASES, help="runs per median")
    args = parser.parse_args()
    if args.releases < 1:
        parser.error("--releases must be at least 1")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    LOG_FILE.write_text("")
    progress(f"logs of every release: {LOG_FILE}")
    load_before = os.getloadavg()[0]  # other work on the machine makes the figures noisy
    with sandbox():
        results = {"load_average_1m_start": load_before, **run_benchmarks(args.releases)}
    print(report(results))
    RESULTS_JSON.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {RESULTS_JSON}")


if __name__ == "__main__":
    main()
