"""docker-compose.yml, deploy/dagster.yaml and the Dockerfile of the Dagster deployment.

No image can be pulled on these machines, so the deployment is never brought up: the compose
file is checked by Debian's ``docker-compose config`` and the assertions below, the
deployment's dagster.yaml by loading it as a Dagster instance against the sandbox, and the
Dockerfile by reading it (the sandbox's base image is busybox, with no Python to build on).
test_docker_run_launcher.py runs a release through the deployment's run launcher.
"""

import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import docker.models.containers
import pytest
import yaml
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_docker import DockerRunLauncher

from release_pipeline.secrets import known_secret_names
from release_pipeline_tests.test_deployment.test_jenkins import env_var_names

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY_INSTANCE = REPO / "deploy" / "dagster.yaml"
DEPLOY_WORKSPACE = REPO / "deploy" / "workspace.yaml"
DOCKERFILE = REPO / "Dockerfile"
DOCKER_SOCKET = "/var/run/docker.sock:/var/run/docker.sock"
SERVICES = {"postgres", "code_server", "webserver", "daemon"}
# `${NAME:?message}` outside comments: what docker-compose refuses to start without.
REQUIRED_VARIABLE = re.compile(r"^[^#\n]*?\$\{(\w+):\?", re.MULTILINE)


def required_variables() -> list[str]:
    text = COMPOSE_FILE.read_text()
    names = []
    for line in text.splitlines():
        names += REQUIRED_VARIABLE.findall(line)
    return sorted(set(names))


def compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing; scripts/setup installs Debian's docker-compose")
    # An empty env file: the compose file's own folder may hold the sandbox's .env.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    command = ["docker-compose", "-f", str(COMPOSE_FILE), "--env-file", str(empty), "config"]
    return subprocess.run(
        command, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def compose(tmp_path_factory) -> dict:
    env = {name: f"value-of-{name}" for name in required_variables()}
    result = compose_config(tmp_path_factory.mktemp("compose"), env)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.fixture(scope="module")
def launcher_config() -> dict:
    return yaml.safe_load(DEPLOY_INSTANCE.read_text())["run_launcher"]["config"]


def code_location_variables() -> set[str]:
    """Every variable the code location reads through EnvVar, and every secret it knows."""
    from release_pipeline.definitions import defs

    names = set().union(*(env_var_names(resource) for resource in defs.resources.values()))
    return names | set(known_secret_names())


def test_compose_runs_postgres_the_code_server_the_webserver_and_the_daemon(compose):
    assert set(compose["services"]) == SERVICES
    assert all(svc["network_mode"] == "host" for svc in compose["services"].values())


def test_compose_refuses_to_start_without_a_secret(tmp_path):
    env = {name: "x" for name in required_variables() if name != "REGISTRY_PASSWORD"}

    result = compose_config(tmp_path, env)

    assert result.returncode != 0
    assert "set REGISTRY_PASSWORD" in result.stderr


def test_compose_file_holds_no_secret_value():
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["x-release-env"]

    for name in known_secret_names():
        assert raw[name] == f"${{{name}:?set {name}}}", name


def test_the_daemon_and_the_webserver_reach_the_docker_socket(compose):
    for name in ("daemon", "webserver"):
        assert any(v.startswith(DOCKER_SOCKET) for v in compose["services"][name]["volumes"])


def test_the_code_server_names_its_own_image_for_the_runs(compose):
    code_server = compose["services"]["code_server"]

    assert code_server["environment"]["DAGSTER_CURRENT_IMAGE"] == code_server["image"]
    assert {compose["services"][name]["image"] for name in SERVICES - {"postgres"}} == {
        code_server["image"]
    }
    assert code_server["build"]["args"]["BASE_IMAGE"]


def test_the_daemon_has_every_variable_the_run_launcher_hands_to_a_run(compose, launcher_config):
    daemon_env = compose["services"]["daemon"]["environment"]

    assert set(launcher_config["env_vars"]) <= set(daemon_env)


def test_a_run_container_gets_every_variable_the_code_location_reads(launcher_config):
    assert code_location_variables() <= set(launcher_config["env_vars"])


def test_a_run_container_shares_the_hosts_docker_network_and_processes(launcher_config):
    kwargs = launcher_config["container_kwargs"]

    assert DOCKER_SOCKET in kwargs["volumes"]
    assert (kwargs["network_mode"], kwargs["pid_mode"]) == ("host", "host")
    # The Docker SDK's own translation of create() arguments: a bad key raises TypeError.
    docker.models.containers._create_container_args(
        {**kwargs, "image": "release-pipeline", "version": "1.41"}
    )


def test_the_deployment_instance_is_the_repositorys_plus_the_docker_run_launcher():
    deployed = yaml.safe_load(DEPLOY_INSTANCE.read_text())
    repository = yaml.safe_load((REPO / "dagster.yaml").read_text())

    assert deployed.pop("run_launcher")["class"] == "DockerRunLauncher"
    assert deployed == repository
    assert repository["telemetry"] == {"enabled": False}
    assert "run_launcher" not in repository


@pytest.mark.sandbox
def test_the_deployment_instance_loads_with_postgres_s3_logs_and_the_docker_launcher(
    sandbox_env, tmp_path
):
    shutil.copy(DEPLOY_INSTANCE, tmp_path / "dagster.yaml")

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_launcher, DockerRunLauncher)
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert instance.get_runs(limit=1) is not None  # the sandbox's PostgreSQL answers


def test_the_workspace_of_the_deployment_loads_the_code_server(compose):
    workspace = yaml.safe_load(DEPLOY_WORKSPACE.read_text())["load_from"][0]["grpc_server"]
    command = compose["services"]["code_server"]["command"]

    assert str(workspace["port"]) == command[command.index("--port") + 1]
    assert workspace["location_name"] == command[command.index("--location-name") + 1]


def test_the_dockerfile_builds_on_a_base_image_argument_and_installs_the_deployment():
    text = DOCKERFILE.read_text()
    instructions = [line for line in text.splitlines() if line and not line.startswith("#")]

    assert instructions[0].startswith("ARG BASE_IMAGE=python:3.11")
    assert instructions[1] == "FROM ${BASE_IMAGE}"
    assert "RUN pip install --no-cache-dir ." in instructions
    assert "COPY deploy/dagster.yaml /opt/dagster/dagster_home/dagster.yaml" in instructions
    assert "ENV DAGSTER_HOME=/opt/dagster/dagster_home" in instructions
    assert "COPY deploy/workspace.yaml /opt/dagster/workspace.yaml" in instructions
    for tool in ("git", "nginx-light", "nodejs", "npm", "postgresql-client"):
        assert re.search(rf"\b{tool}\b", text), tool


def test_the_docker_build_context_holds_only_what_the_dockerfile_copies():
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    kept = {line[1:].rstrip("/") for line in ignored if line.startswith("!")}
    copied = re.findall(r"^COPY (\S+)", DOCKERFILE.read_text(), re.MULTILINE)

    assert "*" in ignored
    assert kept == {"Dockerfile", "pyproject.toml", "release_pipeline", "deploy"}
    assert {source.split("/")[0] for source in copied} <= kept
