"""Rolling update ops: deploy and roll back, under the service's deploy lock."""

import dagster as dg
from pydantic import Field

from release_pipeline.errors import DeploymentFailed
from release_pipeline.guards import check_release
from release_pipeline.resources.deploy_lock import DeployLockResource
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.registry import RegistryResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import Image, StrategyOverrides, release_step, service_of
from release_pipeline.steps.deploy import (
    container_deployer,
    nothing_to_roll_back,
    promote_latest,
    record_deployment,
)
from release_pipeline.strategies import rolling
from release_pipeline.strategies.deployment import Deployment


class RollingConfig(StrategyOverrides):
    """Per-run overrides of the catalog's rolling parameters (tests shorten waits)."""

    drain_seconds: float | None = Field(default=None, description="Wait after taking one out.")
    health_retries: int | None = Field(default=None, description="Health checks per instance.")
    health_interval_seconds: float | None = Field(default=None, description="Between checks.")
    verify_timeout_seconds: float | None = Field(default=None, description="Final verification.")
    verify_interval_seconds: float | None = Field(default=None, description="Between tries.")


@dg.op(description="Replaces the service's instances one at a time behind nginx.")
@release_step
def deploy_rolling(
    context: dg.OpExecutionContext,
    config: RollingConfig,
    image: Image,
    docker_engine: DockerResource,
    nginx: NginxResource,
    probe: HttpProbeResource,
    deploy_lock: DeployLockResource,
    registry: RegistryResource,
    git: GitResource,
) -> Deployment:
    service = service_of(context)
    release = rolling.RollingRelease(
        service=service,
        image=image.reference,
        version=image.source.version,
        commit=image.source.commit,
        env={**service.env, **read_secrets(service.secrets)},
        params=config.resolve(service),
    )
    with deploy_lock.hold(service.name, context.run_id, context.log):
        verdict = check_release(context, image.source, git, nginx, "traffic")
        deployment = rolling.deploy(
            container_deployer(context, docker_engine, nginx, probe), release
        )
        promote_latest(context, service, image, registry)
    record_deployment(
        context, service, deployment, deployment.commit, "release", docker_engine, "rolling",
        extra={"instances": release.params.instances, "seconds_per_instance": round(
            deployment.switch_seconds / release.params.instances, 2), **verdict.overrides()},
    )  # fmt: skip
    return deployment


@dg.op(description="Rolls every instance back to the image that served before.")
@release_step
def rollback_rolling(
    context: dg.OpExecutionContext,
    config: RollingConfig,
    docker_engine: DockerResource,
    nginx: NginxResource,
    probe: HttpProbeResource,
    deploy_lock: DeployLockResource,
    registry: RegistryResource,
) -> Deployment:
    service = service_of(context)
    with deploy_lock.hold(service.name, context.run_id, context.log):
        state = nginx.read_state(service.name)
        image, version = state.get("previous_image"), state.get("previous_version")
        if not image or not version:
            raise DeploymentFailed(nothing_to_roll_back(service.name, state))
        digest = image.rsplit("@", 1)[-1]
        release = rolling.RollingRelease(
            service=service,
            image=registry.pull(service.image.name, digest),
            version=version,
            commit=state.get("previous_commit") or "none",
            env={**service.env, **read_secrets(service.secrets)},
            params=config.resolve(service),
            rollback_of=state.get("version"),
        )
        deployment = rolling.deploy(
            container_deployer(context, docker_engine, nginx, probe), release
        )
    record_deployment(
        context, service, deployment, deployment.commit, "rollback", docker_engine, "rolling"
    )
    return deployment
