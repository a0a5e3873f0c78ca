"""dagster-webserver and dagster-daemon as processes on 127.0.0.1, as a deployment runs them.

They run with the caller's environment (the sandbox's DAGSTER_HOME, with the repository's
dagster.yaml, and its servers) from a directory of their own holding only a workspace.yaml:
Dagster's command line loads a .env from its working directory over the environment, and
the repository root may hold the demo's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient

LOCATION = "release_pipeline"
REPOSITORY = "__repository__"
WORKSPACE = f"""load_from:
  - python_module:
      module_name: release_pipeline.definitions
      location_name: {LOCATION}
"""
BIN = Path(sys.executable).parent
START_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 30.0
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
LOCATION_QUERY = """
query { workspaceOrError { ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } }
} } } }
"""
DAEMON_QUERY = """
query { instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }
"""
SENSOR_TICKS_QUERY = """
query ($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { ticks(limit: 1) { status } } }
  ... on PythonError { message }
} }
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class DagsterServices:
    """The webserver and the daemon, started in ``work_dir`` and stopped by their process group."""

    work_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> DagsterServices:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        (self.work_dir / "workspace.yaml").write_text(WORKSPACE)
        env = {**self.env, "DAGSTER_WEBSERVER_URL": self.url}
        webserver = ["dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1"]
        self._spawn("webserver", [*webserver, "-p", str(self.port)], env)
        self._spawn("daemon", ["dagster-daemon", "run", "-w", "workspace.yaml"], env)
        self._wait_ready()
        return self

    def stop(self) -> None:
        """SIGTERM each process group (its code servers and runs too), SIGKILL what stays."""
        for process in self.processes.values():
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=10)

    def client(self) -> DagsterGraphQLClient:
        return DagsterGraphQLClient("127.0.0.1", port_number=self.port)

    def submit(self, job: str, run_config: dict, tags: dict[str, str] | None = None) -> str:
        return self.client().submit_job_execution(
            job,
            repository_location_name=LOCATION,
            repository_name=REPOSITORY,
            run_config=run_config,
            tags=tags,
        )

    def wait_for_status(
        self, run_id: str, wanted: set[DagsterRunStatus], timeout: float = 300
    ) -> DagsterRunStatus:
        deadline = time.monotonic() + timeout
        client = self.client()
        while time.monotonic() < deadline:
            status = client.get_run_status(run_id)
            if status in wanted:
                return status
            if status in FINISHED:
                raise AssertionError(f"run {run_id} ended {status.value}\n{self.log_tails()}")
            time.sleep(0.5)
        raise AssertionError(f"run {run_id} never reached {wanted}\n{self.log_tails()}")

    def wait_for_sensor_tick(self, sensor: str, timeout: float = 60) -> None:
        """Waits until the daemon has ticked ``sensor`` once.

        A run-status sensor's first tick only places its cursor: it never sees a run that
        ended before that.
        """
        selector = {
            "repositoryLocationName": LOCATION,
            "repositoryName": REPOSITORY,
            "sensorName": sensor,
        }
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self._query(SENSOR_TICKS_QUERY, {"selector": selector})["sensorOrError"]
            if found["__typename"] != "Sensor":
                raise AssertionError(f"sensor {sensor} not found: {found}")
            if found["sensorState"]["ticks"]:
                return
            time.sleep(0.5)
        raise AssertionError(f"the daemon never ticked {sensor}\n{self.log_tails()}")

    def log_tails(self, lines: int = 30) -> str:
        tails = []
        for name in self.processes:
            text = (self.work_dir / f"{name}.log").read_text(errors="replace").splitlines()
            tails.append(f"--- last lines of {name}.log ---\n" + "\n".join(text[-lines:]))
        return "\n".join(tails)

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        with (self.work_dir / f"{name}.log").open("w") as log:
            self.processes[name] = subprocess.Popen(
                [str(BIN / command[0]), *command[1:]],
                cwd=self.work_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"dagster {name} exited early\n{self.log_tails()}")
            if self._location_loaded() and self._daemon_healthy():
                return
            time.sleep(1)
        raise RuntimeError(f"dagster services not ready in time\n{self.log_tails()}")

    def _query(self, query: str, variables: dict | None = None) -> dict:
        body = {"query": query, "variables": variables or {}}
        response = httpx.post(f"{self.url}/graphql", json=body, timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    def _location_loaded(self) -> bool:
        try:
            entries = self._query(LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
        except (httpx.HTTPError, KeyError, TypeError):
            return False
        entry = next((e for e in entries if e["name"] == LOCATION), None)
        if entry and entry["locationOrLoadError"]["__typename"] == "PythonError":
            raise RuntimeError(f"code location failed to load: {entry['locationOrLoadError']}")
        return bool(entry) and entry["loadStatus"] == "LOADED"

    def _daemon_healthy(self) -> bool:
        try:
            statuses = self._query(DAEMON_QUERY)["instance"]["daemonHealth"]["allDaemonStatuses"]
        except (httpx.HTTPError, KeyError, TypeError):
            return False
        return any(s["daemonType"] == "QUEUED_RUN_COORDINATOR" and s["healthy"] for s in statuses)


def _signal_group(process: subprocess.Popen, sig: signal.Signals) -> None:
    # start_new_session made each process the leader of its own group: its pid is the group id.
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
