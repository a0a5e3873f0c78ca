"""data_service_release (rolling update) and its rollback against the sandbox's servers."""

from pathlib import Path

import docker
import httpx
import pytest

from release_pipeline.assets import deployment_key
from release_pipeline_tests.support import (
    Traffic,
    commit_to_branch,
    failure_message,
    lb_url,
    materialization,
    rolling_config,
    run_job,
)

pytestmark = pytest.mark.sandbox


def instances(env) -> dict[str, str]:
    """instance name -> version of the data service containers of this sandbox."""
    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    labels = [
        "release_pipeline.service=data_service",
        f"release_pipeline.environment={env['RELEASE_ENVIRONMENT']}",
    ]
    found = client.containers.list(filters={"label": labels})
    return {c.labels["release_pipeline.color"]: c.labels["release_pipeline.version"] for c in found}


def upstream(env) -> str:
    return (Path(env["NGINX_UPSTREAM_DIR"]) / "data_service.conf").read_text()


@pytest.fixture(scope="module")
def first_rollout(sandbox_env):
    result = run_job("data_service_release", rolling_config("1.0.0"))
    assert result.success, failure_message(result)
    return result


def test_first_release_starts_every_instance_and_verifies_sync(sandbox_env, first_rollout):
    deployment = materialization(first_rollout, deployment_key("data_service"))

    assert instances(sandbox_env) == {f"instance-{i}": "1.0.0" for i in range(3)}
    assert deployment["strategy"] == "rolling" and deployment["version"] == "1.0.0"
    status = httpx.get(lb_url(sandbox_env, "data_service") + "/sync/status").json()
    assert status["status"] == "ok"


def test_rolling_update_replaces_every_instance_without_a_failed_request(
    sandbox_env, first_rollout
):
    before = upstream(sandbox_env)

    with Traffic(lb_url(sandbox_env, "data_service") + "/health") as traffic:
        result = run_job("data_service_release", rolling_config("2.0.0"))

    assert result.success, failure_message(result)
    assert instances(sandbox_env) == {f"instance-{i}": "2.0.0" for i in range(3)}
    assert traffic.sent > 50 and traffic.failed == 0, traffic.errors[:5]
    # Instances keep their addresses, so only the header's facts change.
    assert before.splitlines()[1:] == upstream(sandbox_env).splitlines()[1:]


def test_a_failed_sync_fails_the_run_and_restores_every_instance(sandbox_env, first_rollout):
    live = set(instances(sandbox_env).values())
    before = upstream(sandbox_env)
    branch = commit_to_branch(
        sandbox_env, "sync-fails", {"apps/data-service/config/runtime.env": "SYNC_STATUS=failed\n"}
    )

    with Traffic(lb_url(sandbox_env, "data_service") + "/health") as traffic:
        result = run_job(
            "data_service_release",
            rolling_config("3.0.0", git_ref=branch, verify_timeout_seconds=2),
        )

    message = failure_message(result)
    assert not result.success
    assert "failed verification" in message and "failed" in message and "restored" in message
    assert set(instances(sandbox_env).values()) == live
    assert upstream(sandbox_env) == before
    assert traffic.failed == 0, traffic.errors[:5]


def test_rollback_returns_every_instance_to_the_previous_version(sandbox_env, first_rollout):
    live = set(instances(sandbox_env).values())
    assert live == {"2.0.0"}, "the tests above leave 2.0.0 live"

    with Traffic(lb_url(sandbox_env, "data_service") + "/health") as traffic:
        result = run_job(
            "data_service_rollback",
            {
                "ops": {
                    "rollback_rolling": {
                        "config": rolling_config("x")["ops"]["deploy_rolling"]["config"]
                    }
                }
            },
        )

    assert result.success, failure_message(result)
    assert set(instances(sandbox_env).values()) == {"1.0.0"}
    assert traffic.failed == 0, traffic.errors[:5]
