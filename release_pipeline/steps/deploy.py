"""Blue/green deploy, scale-down and rollback ops, each under the service's deploy lock."""

import time
from dataclasses import asdict

import dagster as dg
from pydantic import Field

from release_pipeline.assets import deployment_key
from release_pipeline.catalog import BlueGreen, Service
from release_pipeline.errors import DeploymentFailed
from release_pipeline.resources.deploy_lock import DeployLockResource
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.registry import RegistryResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import Image, release_step, service_of
from release_pipeline.strategies import blue_green
from release_pipeline.strategies.deployment import Deployment


class _Overrides(dg.Config):
    def resolve(self, service: Service) -> BlueGreen:
        """The catalog's blue/green parameters with this run's overrides applied."""
        overrides = {key: value for key, value in self.model_dump().items() if value is not None}
        return service.strategy.model_copy(update=overrides)


class HealthConfig(_Overrides):
    """Per-run overrides of the catalog's health wait (tests shorten it)."""

    health_retries: int | None = Field(default=None, description="Health checks before giving up.")
    health_interval_seconds: float | None = Field(default=None, description="Between checks.")


class ScaleDownConfig(_Overrides):
    scale_down_delay_seconds: float | None = Field(
        default=None, description="How long the old color stays warm after the switch."
    )


def _deployer(context, docker_engine, nginx, probe) -> blue_green.Deployer:
    return blue_green.Deployer(runtime=docker_engine, lb=nginx, probe=probe, log=context.log)


@dg.op(description="Deploys the pushed image blue/green behind nginx.")
@release_step
def deploy_blue_green(
    context: dg.OpExecutionContext,
    config: HealthConfig,
    image: Image,
    docker_engine: DockerResource,
    nginx: NginxResource,
    probe: HttpProbeResource,
    deploy_lock: DeployLockResource,
) -> Deployment:
    service = service_of(context)
    release = blue_green.Release(
        service=service,
        image=image.reference,
        version=image.source.version,
        commit=image.source.commit,
        env={**service.env, **read_secrets(service.secrets)},
        params=config.resolve(service),
    )
    with deploy_lock.hold(service.name, context.run_id, context.log):
        deployment = blue_green.deploy(_deployer(context, docker_engine, nginx, probe), release)
    record_deployment(context, service, deployment, image.source.commit, "release", docker_engine)
    return deployment


@dg.op(description="Keeps the old color warm for the scale-down delay, then stops it.")
@release_step
def scale_down_previous(
    context: dg.OpExecutionContext,
    config: ScaleDownConfig,
    deployment: Deployment,
    docker_engine: DockerResource,
    nginx: NginxResource,
    probe: HttpProbeResource,
    deploy_lock: DeployLockResource,
) -> Deployment:
    service = service_of(context)
    if deployment.previous is None:
        return deployment
    delay = config.resolve(service).scale_down_delay_seconds
    context.log.info(f"Keeping {service.name} {deployment.previous} warm for {delay:.0f} s.")
    time.sleep(delay)
    try:
        with deploy_lock.hold(service.name, context.run_id, context.log):
            blue_green.scale_down(
                _deployer(context, docker_engine, nginx, probe), service, deployment.previous
            )
    except Exception as exc:  # noqa: BLE001 - a cleanup failure warns, it never rolls back
        context.log.warning(f"Scale-down of {service.name} {deployment.previous} failed: {exc}")
    return deployment


@dg.op(description="Flips back to the warm previous color, else redeploys the previous image.")
@release_step
def rollback_blue_green(
    context: dg.OpExecutionContext,
    config: HealthConfig,
    docker_engine: DockerResource,
    registry: RegistryResource,
    nginx: NginxResource,
    probe: HttpProbeResource,
    deploy_lock: DeployLockResource,
) -> Deployment:
    service = service_of(context)
    deployer = _deployer(context, docker_engine, nginx, probe)
    with deploy_lock.hold(service.name, context.run_id, context.log):
        deployment = blue_green.flip_to_warm_previous(deployer, service, config.resolve(service))
        how = "flip"
        if deployment is None:
            deployment = _redeploy_previous(context, deployer, service, registry, config)
            how = "redeploy"
    record_deployment(context, service, deployment, "", f"rollback ({how})", docker_engine)
    return deployment


def _redeploy_previous(context, deployer, service, registry, config) -> Deployment:
    state = deployer.lb.read_state(service.name)
    image, version = state.get("previous_image"), state.get("previous_version")
    if not image or not version:
        raise DeploymentFailed(
            f"{service.name} has no previous version recorded in its load balancer config;"
            " there is nothing to roll back to."
        )
    context.log.info(f"Previous {service.name} color is cold; redeploying {image}.")
    digest = image.rsplit("@", 1)[1] if "@" in image else image.rsplit(":", 1)[1]
    reference = registry.pull(service.image.name, digest)
    release = blue_green.Release(
        service=service,
        image=reference,
        version=version,
        commit=state.get("previous_commit") or "none",
        env={**service.env, **read_secrets(service.secrets)},
        params=config.resolve(service),
    )
    return blue_green.deploy(deployer, release)


def record_deployment(
    context: dg.OpExecutionContext,
    service: Service,
    deployment: Deployment,
    commit: str,
    reason: str,
    docker_engine: DockerResource | None,
    strategy: str = "blue_green",
    extra: dict | None = None,
) -> None:
    """Records the service's deployment asset: what serves now, what served before, why."""
    facts = {key: value for key, value in asdict(deployment).items() if value is not None}
    environment = docker_engine.environment if docker_engine else "production"
    context.log_event(
        dg.AssetMaterialization(
            asset_key=deployment_key(service.name),
            description=f"{service.name} {reason}: {deployment.active} serves {deployment.version}",
            metadata={
                **facts,
                "strategy": strategy,
                "reason": reason,
                "commit": commit or "unchanged",
                "switch_seconds": round(deployment.switch_seconds, 3),
                "environment": environment,
                **(extra or {}),
            },
        )
    )
    context.add_output_metadata({"active": deployment.active, "version": deployment.version})
