"""A release run in a container started by deploy/dagster.yaml's DockerRunLauncher.

The compose deployment's image cannot be built here (no base image can be pulled), so the
run container is the sandbox's busybox image with the host's /usr, Python and this checkout
mounted read-only in place of the image's contents. Everything else is the deployment's
launcher config: the variables it hands over, the Docker socket, the host's network and
process namespaces. The run builds, pushes and switches nginx on the host from inside it.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import docker
import pytest
import yaml

from release_pipeline_tests.support import live_health, release_config

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
DEPLOY_INSTANCE = REPO / "deploy" / "dagster.yaml"
DOCKER_SOCKET = "/var/run/docker.sock"
VERSION = "container.1"
RUN_TIMEOUT_SECONDS = 300
# What the image would hold: the host's programs and libraries, its Python, this checkout.
HOST_RUNTIME = [
    "/usr:/usr:ro",
    "/usr/bin:/bin:ro",
    "/usr/sbin:/sbin:ro",
    "/usr/lib:/lib:ro",
    "/usr/lib64:/lib64:ro",
    "/etc/passwd:/etc/passwd:ro",
    "/etc/group:/etc/group:ro",
    f"{sys.base_prefix}:{sys.base_prefix}:ro",
    f"{REPO}:{REPO}:ro",
]
# Settings the sandbox has that production leaves to their defaults.
SANDBOX_VARIABLES = ["SITES_DIR", "FRONTEND_PUBLISHER"]
PRODUCTION_ONLY = {
    "CLOUDFLARE_ACCOUNT_ID": "",
    "RELEASE_REQUIRE_SCAN": "false",
    "DAGSTER_WEBSERVER_URL": "http://127.0.0.1:3000",
}


def container_instance(env: dict[str, str], home: Path) -> None:
    """deploy/dagster.yaml in ``home``, launching at once and mounting the sandbox's paths.

    The queue is left out: `dagster job launch` then hands the run to the launcher itself,
    so no second daemon shares the sandbox's storage with the tests' own.
    """
    instance = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    del instance["concurrency"]
    instance["run_coordinator"] = {
        "module": "dagster._core.run_coordinator",
        "class": "DefaultRunCoordinator",
    }
    launcher = instance["run_launcher"]["config"]
    launcher["image"] = env["RELEASE_BASE_IMAGE"]
    launcher["env_vars"] += [*SANDBOX_VARIABLES, f"PATH={Path(sys.executable).parent}:/bin"]
    launcher["env_vars"].append("HOME=/tmp")
    kwargs = launcher["container_kwargs"]
    sandbox_dir = Path(env["DAGSTER_HOME"]).parent
    volumes = [v for v in kwargs["volumes"] if v.startswith(f"{DOCKER_SOCKET}:")]
    engine_socket = env["DOCKER_HOST"].removeprefix("unix://")
    if engine_socket != DOCKER_SOCKET:
        volumes.append(f"{engine_socket}:{engine_socket}")
    # The sandbox keeps nginx, its work dir and its git repository under one directory.
    kwargs["volumes"] = [*volumes, f"{sandbox_dir}:{sandbox_dir}", f"{home}:{home}", *HOST_RUNTIME]
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))


def test_a_release_runs_in_a_container_of_the_docker_run_launcher(sandbox_env, tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    container_instance(sandbox_env, home)
    config = tmp_path / "release.json"
    config.write_text(json.dumps(release_config(VERSION)))
    run_id = str(uuid.uuid4())
    env = {**os.environ, **PRODUCTION_ONLY, "DAGSTER_HOME": str(home)}

    launch = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "job", "launch"]
        + ["-m", "release_pipeline.definitions", "-j", "backend_release"]
        + ["-c", str(config), "--run-id", run_id],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert launch.returncode == 0, launch.stderr[-3000:]
    run = _wait_for_end(home, run_id)

    assert run.status == dg.DagsterRunStatus.SUCCESS, _failure(home, run_id)
    assert run.tags["dagster/image"] == sandbox_env["RELEASE_BASE_IMAGE"]
    assert run.tags["docker/container_id"]
    assert live_health(sandbox_env)["version"] == VERSION
    assert not _containers_of(sandbox_env, run_id), "auto_remove left the run's container"


def _wait_for_end(home: Path, run_id: str) -> dg.DagsterRun:
    finished = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while time.monotonic() < deadline:
            run = instance.get_run_by_id(run_id)
            if run.status in finished:
                return run
            time.sleep(1)
    raise AssertionError(f"run {run_id} did not end in {RUN_TIMEOUT_SECONDS} s")


def _failure(home: Path, run_id: str) -> str:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return "\n".join((entry.user_message or "")[:500] for entry in instance.all_logs(run_id))


def _containers_of(env: dict[str, str], run_id: str) -> list:
    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    deadline = time.monotonic() + 10
    while True:
        found = client.containers.list(all=True, filters={"label": f"dagster/run_id={run_id}"})
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
