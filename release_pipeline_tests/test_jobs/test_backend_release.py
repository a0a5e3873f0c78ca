"""backend_release and backend_rollback against the real sandbox servers.

The tests run in file order and build on each other's live state, as
releases do: blue first, then green, then rollbacks and refused releases.
"""

import json
import os
import subprocess
import sys
import time

import dagster as dg
import docker
import httpx
import pytest

from release_pipeline.assets import deployment_key, image_key
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.strategies.blue_green import other_color
from release_pipeline_tests.support import (
    Traffic,
    commit_to_branch,
    failure_message,
    lb_url,
    live_health,
    nginx_settings,
    release_config,
    rollback_config,
    run_job,
)
from sandbox import slack_messages

pytestmark = pytest.mark.sandbox


def materialization(result, key: dg.AssetKey) -> dict:
    events = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    assert events, f"no materialization of {key.to_user_string()}"
    metadata = events[-1].materialization.metadata
    return {name: value.value for name, value in metadata.items()}


def registry_digest(env: dict, tag: str) -> str:
    response = httpx.head(
        f"http://{env['REGISTRY_URL']}/v2/backend-api/manifests/{tag}",
        auth=(env["REGISTRY_USERNAME"], env["REGISTRY_PASSWORD"]),
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    return response.headers["Docker-Content-Digest"]


def backend_containers(env: dict) -> dict[str, str]:
    """color -> version of the backend containers running in this sandbox."""
    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    labels = [
        "release_pipeline.service=backend",
        f"release_pipeline.environment={env['RELEASE_ENVIRONMENT']}",
    ]
    return {
        c.labels["release_pipeline.color"]: c.labels.get("release_pipeline.version", "")
        for c in client.containers.list(filters={"label": labels})
    }


@pytest.fixture(scope="module")
def first_release(sandbox_env):
    """Releases 1.0.0; returns the run and the color it went live on."""
    live = NginxResource(**nginx_settings(sandbox_env))
    color = other_color(live.read_state("backend").get("active"))
    result = run_job("backend_release", release_config("1.0.0"))
    assert result.success, failure_message(result)
    return result, color


def test_first_release_goes_live_with_assets_and_slack(sandbox_env, first_release):
    result, color = first_release
    health = live_health(sandbox_env)
    image = materialization(result, image_key("backend"))
    deployment = materialization(result, deployment_key("backend"))

    assert (health["version"], health["color"], health["status"]) == ("1.0.0", color, "ok")
    assert image["digest"] == registry_digest(sandbox_env, "1.0.0")
    assert image["digest"] == registry_digest(sandbox_env, "latest")
    assert image["scan"] == "not scanned"
    assert deployment["active"] == color and deployment["version"] == "1.0.0"
    assert any("backend released 1.0.0" in m["text"] for m in slack_messages(sandbox_env))


def test_second_release_switches_color_without_a_failed_request(sandbox_env, first_release):
    color = other_color(first_release[1])

    with Traffic(lb_url(sandbox_env) + "/api/v1/ping") as traffic:
        result = run_job("backend_release", release_config("2.0.0"))

    assert result.success, failure_message(result)
    health = live_health(sandbox_env)
    assert (health["version"], health["color"]) == ("2.0.0", color)
    assert traffic.sent > 50 and traffic.failed == 0, traffic.errors[:5]
    assert backend_containers(sandbox_env) == {color: "2.0.0"}, "the old color is still up"


def test_rollback_of_a_cold_color_redeploys_the_previous_image_from_the_registry(
    sandbox_env, first_release
):
    client = docker.DockerClient(base_url=sandbox_env["DOCKER_HOST"])
    repository = f"{sandbox_env['REGISTRY_URL']}/backend-api"
    client.images.remove(f"{repository}:1.0.0", force=True)

    with Traffic(lb_url(sandbox_env) + "/api/v1/ping") as traffic:
        result = run_job("backend_rollback", rollback_config())

    assert result.success, failure_message(result)
    assert live_health(sandbox_env)["version"] == "1.0.0"
    assert materialization(result, deployment_key("backend"))["reason"] == "rollback (redeploy)"
    assert traffic.failed == 0, traffic.errors[:5]


def test_rollback_while_the_old_color_is_warm_flips_traffic_back(sandbox_env, tmp_path):
    # The release runs as Jenkins runs it, `dagster job execute` with the
    # sandbox's PostgreSQL-backed instance, and keeps the old color warm.
    config = tmp_path / "release.yaml"
    config.write_text(json.dumps(release_config("3.0.0", scale_down_delay=25)))
    release = subprocess.Popen(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "release_pipeline.definitions"]
        + ["-j", "backend_release", "-c", str(config), "--tags", '{"jenkins/build": "3"}'],
        env=os.environ.copy(),
        # Dagster's CLI lets a .env file in its working directory override the
        # environment; the demo's sandbox may have left one in the repository.
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for_live_version(sandbox_env, "3.0.0", release)
        with Traffic(lb_url(sandbox_env) + "/api/v1/ping") as traffic:
            result = run_job("backend_rollback", rollback_config())
        output, _ = release.communicate(timeout=120)
    finally:
        release.kill()

    assert result.success, failure_message(result)
    assert materialization(result, deployment_key("backend"))["reason"] == "rollback (flip)"
    assert live_health(sandbox_env)["version"] == "1.0.0"
    assert traffic.failed == 0, traffic.errors[:5]
    assert release.returncode == 0, output[-3000:]
    assert "it is live again" in output
    assert "1.0.0" in backend_containers(sandbox_env).values()
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs(
            dg.RunsFilter(job_name="backend_release", tags={"jenkins/build": "3"})
        )
    assert [run.status for run in runs] == [dg.DagsterRunStatus.SUCCESS]


def test_a_second_rollback_is_refused_and_keeps_the_live_version(sandbox_env):
    live = live_health(sandbox_env)

    result = run_job("backend_rollback", rollback_config())

    assert [e.step_key for e in result.get_step_failure_events()] == ["rollback_blue_green"]
    assert "already rolled back" in failure_message(result)
    assert live_health(sandbox_env)["version"] == live["version"]


def test_a_secret_echoed_by_the_service_is_redacted_everywhere(sandbox_env, first_release):
    secret = sandbox_env["DATABASE_URL"]
    branch = commit_to_branch(
        sandbox_env,
        "echoes-secret",
        {"apps/backend/config/runtime.env": 'HEALTH_STATUS="db-down:$DATABASE_URL"\n'},
    )

    result = run_job("backend_release", release_config("8.0.0", git_ref=branch))

    assert not result.success
    assert "db-down:***" in failure_message(result)
    assert secret not in "\n".join(str(event) for event in result.all_events)
    assert secret not in json.dumps(slack_messages(sandbox_env))


def _wait_for_live_version(env, version, process, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()[-3000:]
        try:
            if live_health(env).get("version") == version:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"version {version} never went live")


def test_an_image_unhealthy_from_the_start_is_stopped_before_push(sandbox_env, first_release):
    before = live_health(sandbox_env)
    branch = commit_to_branch(
        sandbox_env, "unhealthy", {"apps/backend/config/runtime.env": "HEALTH_STATUS=degraded\n"}
    )

    result = run_job("backend_release", release_config("4.0.0", git_ref=branch))

    assert [e.step_key for e in result.get_step_failure_events()] == ["integration_test"]
    assert "degraded" in failure_message(result)
    assert live_health(sandbox_env)["version"] == before["version"]
    assert any("FAILED at integration_test" in m["text"] for m in slack_messages(sandbox_env))
    tags = httpx.get(
        f"http://{sandbox_env['REGISTRY_URL']}/v2/backend-api/tags/list",
        auth=(sandbox_env["REGISTRY_USERNAME"], sandbox_env["REGISTRY_PASSWORD"]),
    ).json()["tags"]
    assert "4.0.0" not in tags


def test_a_smoke_failure_through_nginx_switches_back_to_the_old_color(sandbox_env, first_release):
    before = live_health(sandbox_env)
    branch = commit_to_branch(
        sandbox_env,
        "broken-behind-proxy",
        {"apps/backend/config/runtime.env": "FAIL_BEHIND_PROXY=/health/detailed\n"},
    )

    with Traffic(lb_url(sandbox_env) + "/api/v1/ping") as traffic:
        result = run_job("backend_release", release_config("5.0.0", git_ref=branch))

    message = failure_message(result)
    assert not result.success
    assert "through the load balancer" in message and f"went back to {before['color']}" in message
    assert live_health(sandbox_env) | {"uptime": 0} == before | {"uptime": 0}
    assert traffic.failed == 0, traffic.errors[:5]


def test_a_wrong_registry_password_fails_at_push_and_leaks_nowhere(
    sandbox_env, first_release, monkeypatch
):
    before = live_health(sandbox_env)
    wrong = "wrong-Pa55word-that-must-not-leak"
    monkeypatch.setenv("REGISTRY_PASSWORD", wrong)

    result = run_job("backend_release", release_config("6.0.0"))

    failed_steps = [event.step_key for event in result.get_step_failure_events()]
    assert failed_steps == ["push_image"]
    assert "Login to registry" in failure_message(result)
    assert live_health(sandbox_env)["version"] == before["version"]
    logged = "\n".join(str(event) for event in result.all_events)
    assert wrong not in logged
    assert wrong not in json.dumps(slack_messages(sandbox_env))


@pytest.mark.parametrize("version", ["../1", "-1", "1 2", "x" * 129, "none"])
def test_a_bad_version_fails_before_anything_is_built(sandbox_env, version):
    result = run_job("backend_release", release_config(version))

    assert [e.step_key for e in result.get_step_failure_events()] == ["checkout"]
    assert "is not a valid image tag" in failure_message(result)
    assert not [e for e in result.all_events if e.step_key == "build_image"]


def test_a_missing_dockerfile_fails_before_anything_is_built(sandbox_env):
    branch = commit_to_branch(sandbox_env, "no-dockerfile", {"apps/backend/Dockerfile": None})

    result = run_job("backend_release", release_config("7.0.0", git_ref=branch))

    assert [e.step_key for e in result.get_step_failure_events()] == ["checkout"]
    assert "apps/backend/Dockerfile does not exist" in failure_message(result)


def test_an_unknown_service_job_is_refused_by_the_command_line(sandbox_env, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "job", "execute", "-m", "release_pipeline.definitions"]
        + ["-j", "billing_release"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert "billing_release" in result.stdout + result.stderr
