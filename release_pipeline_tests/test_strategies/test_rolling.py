"""The rolling strategy itself, against the sandbox's Docker engine and nginx."""

import logging
from pathlib import Path

import pytest

from release_pipeline.catalog import default_catalog
from release_pipeline.errors import DeploymentFailed, DockerError
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.secrets import read_secrets
from release_pipeline.strategies import rolling
from release_pipeline.strategies.deployment import Deployer
from release_pipeline_tests.support import (
    Traffic,
    failure_message,
    lb_url,
    rolling_config,
    run_job,
    sandbox_resources,
)

pytestmark = pytest.mark.sandbox
log = logging.getLogger("test_rolling")


class SecondInstanceBroken(DockerResource):
    """The real engine, except that instance 1 of the new version answers unhealthy,
    as one bad host or volume would make it."""

    broken_version: str

    def run(self, image, *, name, port, labels, env, host_port=None, **limits):
        if name.startswith("data-service-1-") and env.get("APP_VERSION") == self.broken_version:
            env = {**env, "HEALTH_STATUS": "degraded"}
        return super().run(
            image, name=name, port=port, labels=labels, env=env, host_port=host_port, **limits
        )


class ThirdInstanceWontStart(DockerResource):
    """The real engine, except that starting instance 2 of the new version fails, as a
    port taken by a stray process would make it."""

    broken_version: str

    def run(self, image, *, name, port, labels, env, host_port=None, **limits):
        if name.startswith("data-service-2-") and env.get("APP_VERSION") == self.broken_version:
            self.remove(name)  # as the real run does before it starts the new one
            raise DockerError(f"Could not start container {name} from {image}: port is taken")
        return super().run(
            image, name=name, port=port, labels=labels, env=env, host_port=host_port, **limits
        )


@pytest.fixture(scope="module")
def live_data_service(sandbox_env):
    deployer = make_deployer(sandbox_env)
    if deployer.lb.read_state("data_service").get("active") != "rolling":
        result = run_job("data_service_release", rolling_config("roll-1"))
        assert result.success, failure_message(result)
    return deployer.lb.read_state("data_service")


def make_deployer(env, runtime: DockerResource | None = None) -> Deployer:
    resources = sandbox_resources(env)
    return Deployer(
        runtime or resources["docker_engine"], resources["nginx"], resources["probe"], log
    )


def test_an_instance_that_never_gets_healthy_restores_the_replaced_ones(
    sandbox_env, live_data_service
):
    engine = sandbox_resources(sandbox_env)["docker_engine"]
    broken = SecondInstanceBroken(**engine.model_dump(), broken_version="roll-bad")
    deployer = make_deployer(sandbox_env, broken)
    service = default_catalog().service("data_service")
    upstream_file = Path(sandbox_env["NGINX_UPSTREAM_DIR"]) / "data_service.conf"
    upstream_before = upstream_file.read_text()
    third_before = engine.find(engine.container_name("data_service", "2"), service.port)
    release = rolling.RollingRelease(
        service=service,
        image=live_data_service.get("image"),
        version="roll-bad",
        commit="test",
        env={**service.env, **read_secrets(service.secrets)},
        params=service.strategy.model_copy(
            update={"drain_seconds": 0.5, "health_retries": 3, "health_interval_seconds": 0.2}
        ),
    )

    url = lb_url(sandbox_env, "data_service") + "/health"
    with Traffic(url) as traffic, pytest.raises(DeploymentFailed) as refused:
        rolling.deploy(deployer, release)

    assert "instance 1" in str(refused.value) and "degraded" in str(refused.value)
    versions = {
        index: engine.find(engine.container_name("data_service", str(index)), service.port)
        for index in range(3)
    }
    live_version = live_data_service.get("version")
    assert {c.labels["release_pipeline.version"] for c in versions.values()} == {live_version}
    assert versions[2].id == third_before.id, "the third instance was touched"
    assert upstream_file.read_text() == upstream_before
    assert traffic.sent > 20 and traffic.failed == 0, traffic.errors[:5]


def test_an_engine_error_mid_rollout_restores_every_instance_and_the_upstream(
    sandbox_env, live_data_service
):
    engine = sandbox_resources(sandbox_env)["docker_engine"]
    broken = ThirdInstanceWontStart(**engine.model_dump(), broken_version="roll-stuck")
    deployer = make_deployer(sandbox_env, broken)
    service = default_catalog().service("data_service")
    upstream_file = Path(sandbox_env["NGINX_UPSTREAM_DIR"]) / "data_service.conf"
    upstream_before = upstream_file.read_text()
    release = rolling.RollingRelease(
        service=service,
        image=live_data_service.get("image"),
        version="roll-stuck",
        commit="test",
        env={**service.env, **read_secrets(service.secrets)},
        params=service.strategy.model_copy(
            update={"drain_seconds": 0.5, "health_retries": 10, "health_interval_seconds": 0.2}
        ),
    )

    url = lb_url(sandbox_env, "data_service") + "/health"
    with Traffic(url) as traffic, pytest.raises(DeploymentFailed) as refused:
        rolling.deploy(deployer, release)

    assert "port is taken" in str(refused.value) and "restored" in str(refused.value)
    instances = [
        engine.find(engine.container_name("data_service", str(index)), service.port)
        for index in range(3)
    ]
    assert all(instances), "an instance is missing after the restore"
    live_version = live_data_service.get("version")
    assert {c.labels["release_pipeline.version"] for c in instances} == {live_version}
    assert upstream_file.read_text() == upstream_before
    assert deployer.lb.read_state("data_service").get("version") == live_version
    assert traffic.sent > 20 and traffic.failed == 0, traffic.errors[:5]
