"""The Jenkinsfiles under jenkins/ and the exact shell commands their stages run.

Each stage is one ``sh '...'`` line calling jenkins/release.sh (``dagster job execute`` on
the agent) or jenkins/submit.sh (through the webserver and its run queue). The tests read
those lines out of the Jenkinsfiles and run them with bash against the sandbox.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from release_pipeline.catalog import default_catalog
from release_pipeline.definitions import defs
from release_pipeline.secrets import known_secret_names
from release_pipeline_tests.support import live_health

REPO = Path(__file__).resolve().parents[2]
JENKINS = REPO / "jenkins"
STAGE = re.compile(r"stage\('([^']+)'\).*?sh '([^']+)'", re.DOTALL)
CREDENTIAL = re.compile(r"^\s*(\w+)\s*=\s*credentials\('[\w-]+'\)", re.MULTILINE)
# Dagster's own storage and compute logs, read by every run on an agent.
INSTANCE_SECRETS = {"DAGSTER_PG_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
FAST_RELEASE = """
ops:
  deploy_blue_green: {config: {health_retries: 10, health_interval_seconds: 0.5}}
  verify_release: {config: {bake_seconds: 1, interval_seconds: 0.5, scrape_wait_seconds: 0}}
  scale_down_previous: {config: {scale_down_delay_seconds: 0}}
"""
STAGE_TIMEOUT_SECONDS = 300


def stages(jenkinsfile: Path) -> dict[str, str]:
    """Stage name -> the shell command the stage runs."""
    return dict(STAGE.findall(jenkinsfile.read_text()))


def jenkinsfiles() -> list[Path]:
    return sorted(JENKINS.glob("*/Jenkinsfile*"))


def stage_job(command: str) -> str:
    return command.split()[-1]


@pytest.mark.parametrize("service", sorted(default_catalog().services))
def test_every_service_has_both_jenkinsfiles(service):
    assert (JENKINS / service / "Jenkinsfile").is_file()
    assert (JENKINS / service / "Jenkinsfile.queued").is_file()


@pytest.mark.parametrize("jenkinsfile", jenkinsfiles(), ids=lambda p: str(p.relative_to(JENKINS)))
def test_every_stage_runs_an_existing_job_through_its_script(jenkinsfile):
    script = "submit.sh" if jenkinsfile.name.endswith(".queued") else "release.sh"

    commands = stages(jenkinsfile).values()

    assert commands
    for command in commands:
        assert command.startswith(f'"$RELEASE_PIPELINE_HOME/jenkins/{script}" '), command
        assert defs.resolve_job_def(stage_job(command)), command


@pytest.mark.parametrize(
    "jenkinsfile", sorted(JENKINS.glob("*/Jenkinsfile")), ids=lambda p: p.parent.name
)
def test_an_agent_stage_binds_every_secret_its_jobs_read(jenkinsfile):
    bound = set(CREDENTIAL.findall(jenkinsfile.read_text()))
    service = default_catalog().services[jenkinsfile.parent.name]

    for command in stages(jenkinsfile).values():
        needed = _secrets_read_by(stage_job(command)) | set(service.secrets) | INSTANCE_SECRETS
        assert needed <= bound, f"{stage_job(command)} also needs {sorted(needed - bound)}"


def test_a_queued_stage_holds_no_service_secret():
    for jenkinsfile in JENKINS.glob("*/Jenkinsfile.queued"):
        assert set(CREDENTIAL.findall(jenkinsfile.read_text())) == {"DAGSTER_API_TOKEN"}


@pytest.mark.sandbox
def test_the_agent_stage_releases_the_build_number_and_exits_0(sandbox_env, tmp_path):
    result = _run_stage("backend/Jenkinsfile", "Release backend", tmp_path, BUILD_NUMBER="201")

    assert result.returncode == 0, result.stdout[-3000:]
    assert live_health(sandbox_env)["version"] == "201"
    assert _runs_of_build("201") == [dg.DagsterRunStatus.SUCCESS]


@pytest.mark.sandbox
def test_the_agent_stage_exits_non_zero_when_the_release_fails(sandbox_env, tmp_path):
    live = live_health(sandbox_env)["version"]

    result = _run_stage(
        "backend/Jenkinsfile", "Release backend", tmp_path, BUILD_NUMBER="202", GIT_REF="no-such"
    )

    assert result.returncode != 0
    assert "resulted in failure" in result.stdout
    assert live_health(sandbox_env)["version"] == live
    assert _runs_of_build("202") == [dg.DagsterRunStatus.FAILURE]


@pytest.mark.sandbox
def test_the_queued_stage_waits_for_the_run_and_exits_0_on_success(
    sandbox_env, dagster_services, tmp_path
):
    result = _run_stage(
        "backend/Jenkinsfile.queued",
        "Release backend",
        tmp_path,
        BUILD_NUMBER="203",
        DAGSTER_WEBSERVER_URL=dagster_services.url,
    )

    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{dagster_services.url}/runs/" in result.stdout
    assert "ended SUCCESS" in result.stdout
    assert live_health(sandbox_env)["version"] == "203"
    assert _runs_of_build("203") == [dg.DagsterRunStatus.SUCCESS]


@pytest.mark.sandbox
def test_the_queued_stage_exits_1_when_the_run_fails(sandbox_env, dagster_services, tmp_path):
    result = _run_stage(
        "backend/Jenkinsfile.queued",
        "Release backend",
        tmp_path,
        BUILD_NUMBER="204",
        GIT_REF="no-such",
        DAGSTER_WEBSERVER_URL=dagster_services.url,
    )

    assert result.returncode == 1, result.stdout[-3000:]
    assert "ended FAILURE" in result.stdout
    assert _runs_of_build("204") == [dg.DagsterRunStatus.FAILURE]


def _run_stage(jenkinsfile: str, stage: str, tmp_path: Path, **build_env: str):
    """Runs a stage's shell command as Jenkins would: bash, in the build's workspace."""
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    # A checked-out repository may hold a .env; the scripts must not let Dagster read it.
    (workspace / ".env").write_text("DAGSTER_PG_PASSWORD=not-the-password\n")
    overrides = tmp_path / "fast.yaml"
    overrides.write_text(FAST_RELEASE)
    env = {
        **os.environ,
        "RELEASE_PIPELINE_HOME": str(REPO),
        "RELEASE_CONFIG_OVERRIDES": str(overrides),
        "RELEASE_POLL_SECONDS": "0.5",
        "GIT_REF": "main",
        **build_env,
    }
    return subprocess.run(
        ["bash", "-c", stages(JENKINS / jenkinsfile)[stage]],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=STAGE_TIMEOUT_SECONDS,
    )


def _runs_of_build(build: str) -> list[dg.DagsterRunStatus]:
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={"jenkins/build": build}))
    return [run.status for run in runs]


def _secrets_read_by(job_name: str) -> set[str]:
    """The secret variables that the resources of ``job_name`` read through EnvVar."""
    job = defs.resolve_job_def(job_name)
    keys = set()
    for node in job.graph.iterate_node_defs():
        keys |= set(getattr(node, "required_resource_keys", None) or ())
    for hook in job.hook_defs:
        keys |= set(hook.required_resource_keys)
    names = set()
    for key in keys:
        names |= env_var_names(defs.resources[key])
    return names & set(known_secret_names())


def env_var_names(value) -> set[str]:
    """Every EnvVar name inside a resource, its nested resources included."""
    if isinstance(value, dg.EnvVar) or hasattr(value, "env_var_name"):
        return {value.env_var_name}
    if isinstance(value, dg.ConfigurableResource):
        fields = value._get_non_default_public_field_values().values()
        return set().union(*(env_var_names(field) for field in fields))
    return set()


def _tags(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(REPO / ".venv/bin/python"), str(JENKINS / "run_config.py"), "tags"],
        env={"PATH": os.environ["PATH"], "BUILD_NUMBER": "42", **env},
        capture_output=True,
        text=True,
    )


def test_the_guard_parameters_become_the_guard_tags():
    assert json.loads(_tags({"RELEASE_FORCE": "false", "RELEASE_EMERGENCY": ""}).stdout) == {
        "jenkins/build": "42"
    }
    both = json.loads(_tags({"RELEASE_FORCE": "true", "RELEASE_EMERGENCY": "TRUE"}).stdout)
    assert both["release/force"] == "true" and both["release/emergency"] == "true"
    wrong = _tags({"RELEASE_EMERGENCY": "yes"})
    assert wrong.returncode != 0 and "RELEASE_EMERGENCY must be true or false" in wrong.stderr
    for jenkinsfile in JENKINS.glob("*/Jenkinsfile*"):
        if jenkinsfile.parent.name != "database":
            text = jenkinsfile.read_text()
            assert "name: 'RELEASE_FORCE'" in text and "name: 'RELEASE_EMERGENCY'" in text
