"""The blue/green strategy itself, against the sandbox's Docker engine and nginx."""

import contextlib
import logging

import pytest

from release_pipeline.catalog import default_catalog
from release_pipeline.errors import DeploymentFailed
from release_pipeline.secrets import read_secrets
from release_pipeline.strategies import blue_green
from release_pipeline.strategies.deployment import Deployer
from release_pipeline_tests.support import (
    live_health,
    release_config,
    run_job,
    sandbox_resources,
)

pytestmark = pytest.mark.sandbox
log = logging.getLogger("test_blue_green")


@pytest.fixture(scope="module")
def live_backend(sandbox_env):
    """A backend that serves; releases one if the sandbox has none yet."""
    health = {}
    with contextlib.suppress(ValueError):
        health = live_health(sandbox_env)
    if health.get("status") != "ok":
        assert run_job("backend_release", release_config("bg-1")).success
        health = live_health(sandbox_env)
    return health


def deployer(env) -> Deployer:
    resources = sandbox_resources(env)
    return Deployer(resources["docker_engine"], resources["nginx"], resources["probe"], log)


def release_of_live_image(env, deployer, **container_env) -> blue_green.Release:
    service = default_catalog().service("backend")
    state = deployer.lb.read_state("backend")
    return blue_green.Release(
        service=service,
        image=state.get("image"),
        version="bg-next",
        commit=state.get("commit"),
        env={**service.env, **read_secrets(service.secrets), **container_env},
        params=service.strategy.model_copy(
            update={"health_retries": 3, "health_interval_seconds": 0.2}
        ),
    )


def test_a_color_that_never_gets_healthy_is_removed_and_traffic_never_moves(
    sandbox_env, live_backend
):
    bg = deployer(sandbox_env)
    preview = blue_green.other_color(live_backend["color"])
    upstream_before = bg.lb.read_state("backend")

    with pytest.raises(DeploymentFailed) as refused:
        blue_green.deploy(bg, release_of_live_image(sandbox_env, bg, HEALTH_STATUS="degraded"))

    assert f"backend {preview}" in str(refused.value)
    assert '"status":"degraded"' in str(refused.value), "the last health answer is missing"
    assert bg.runtime.find(bg.runtime.container_name("backend", preview), 3001) is None
    assert bg.lb.read_state("backend") == upstream_before
    assert live_health(sandbox_env)["version"] == live_backend["version"]


def test_a_color_that_fails_smoke_directly_never_gets_traffic(sandbox_env, live_backend):
    bg = deployer(sandbox_env)
    upstream_before = bg.lb.read_state("backend")

    with pytest.raises(DeploymentFailed, match="before any traffic moved"):
        blue_green.deploy(bg, release_of_live_image(sandbox_env, bg, FAIL_RATE="100"))

    assert bg.lb.read_state("backend") == upstream_before
    assert live_health(sandbox_env)["version"] == live_backend["version"]


def test_scale_down_spares_a_color_that_is_live(sandbox_env, live_backend):
    bg = deployer(sandbox_env)
    service = default_catalog().service("backend")

    assert blue_green.scale_down(bg, service, live_backend["color"]) is False
    assert live_health(sandbox_env)["version"] == live_backend["version"]


def test_a_failure_after_the_switch_sends_traffic_back_and_removes_the_new_color(
    sandbox_env, live_backend
):
    bg = deployer(sandbox_env)
    preview = blue_green.other_color(live_backend["color"])
    upstream_before = bg.lb.read_state("backend")

    # Healthy when asked directly, broken behind nginx: the switch cannot be confirmed.
    with pytest.raises(DeploymentFailed, match="did not take the traffic") as refused:
        blue_green.deploy(bg, release_of_live_image(sandbox_env, bg, FAIL_BEHIND_PROXY="/health"))

    assert f"went back to {live_backend['color']}" in str(refused.value)
    assert bg.lb.read_state("backend") == upstream_before
    assert live_health(sandbox_env)["version"] == live_backend["version"]
    assert bg.runtime.find(bg.runtime.container_name("backend", preview), 3001) is None
