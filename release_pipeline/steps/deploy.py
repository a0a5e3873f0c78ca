"""Blue/green deploy, scale-down and rollback ops, each under the service's deploy lock."""

import time
from dataclasses import asdict

import dagster as dg
from pydantic import Field

from release_pipeline.assets import deployment_key
from release_pipeline.catalog import Service, default_catalog
from release_pipeline.errors import DeploymentFailed, RegistryError
from release_pipeline.guards import check_release
from release_pipeline.resources.deploy_lock import DeployLockResource
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.registry import RegistryResource
from release_pipeline.resources.slack import SlackResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import Image, StrategyOverrides, release_step, service_of
from release_pipeline.steps.notify import run_url
from release_pipeline.strategies import blue_green
from release_pipeline.strategies.deployment import Deployer, Deployment
from release_pipeline.verification import Verdict


class HealthConfig(StrategyOverrides):
    """Per-run overrides of the catalog's health wait (tests shorten it)."""

    health_retries: int | None = Field(default=None, description="Health checks before giving up.")
    health_interval_seconds: float | None = Field(default=None, description="Between checks.")


class ScaleDownConfig(StrategyOverrides):
    scale_down_delay_seconds: float | None = Field(
        default=None, description="How long the old color stays warm after the switch."
    )
    scale_down_unverified: bool = Field(
        default=False,
        description=(
            "Stop the old color even when the post-deploy bake did not verify the release"
            " (some check not measured). Off: it stays warm for a quick rollback."
        ),
    )

    def resolve(self, service: Service):
        """The strategy with this run's delay; ``scale_down_unverified`` is not part of it."""
        delay = self.scale_down_delay_seconds
        return service.strategy_with({} if delay is None else {"scale_down_delay_seconds": delay})


def container_deployer(context, docker_engine, nginx, probe) -> Deployer:
    return Deployer(runtime=docker_engine, lb=nginx, probe=probe, log=context.log)


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
    registry: RegistryResource,
    git: GitResource,
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
        verdict = check_release(context, image.source, git, nginx, "traffic")
        deployment = blue_green.deploy(
            container_deployer(context, docker_engine, nginx, probe), release
        )
        promote_latest(context, service, image, registry)
    overrides = verdict.overrides()
    record_deployment(
        context, service, deployment, image.source.commit, "release", docker_engine, extra=overrides
    )
    return deployment


@dg.op(
    description="Keeps the old color warm for the scale-down delay, then stops it;"
    " an unverified release keeps it warm."
)
@release_step
def scale_down_previous(
    context: dg.OpExecutionContext,
    config: ScaleDownConfig,
    deployment: Deployment,
    docker_engine: DockerResource,
    nginx: NginxResource,
    probe: HttpProbeResource,
    deploy_lock: DeployLockResource,
    slack: SlackResource,
) -> Deployment:
    service = service_of(context)
    if deployment.previous is None:
        return deployment
    unverified = deployment.verification not in ("", Verdict.PASSED)
    if unverified and not config.scale_down_unverified:
        container = docker_engine.container_name(service.name, deployment.previous)
        text = (
            f":warning: {service.name}: kept the previous color {deployment.previous} warm,"
            f" since the post-deploy verification of {deployment.version} is"
            f" {deployment.verification} (not measured: {deployment.not_verified})."
            f" To go back, run {service.name}_rollback (a flip of the upstream). Once"
            f" {deployment.version} is known good, remove container {container}; the next"
            f" release replaces it anyway. {run_url(context.run_id)}"
        )
        context.log.warning(f"Skipped scale-down: {text}")
        slack.post(default_catalog().platform.slack_channel, text, context.log, color="warning")
        return deployment
    if unverified:
        context.log.warning(
            f"Scaling down {service.name} {deployment.previous} although the verification of"
            f" {deployment.version} is {deployment.verification}: the run's config sets"
            " scale_down_unverified."
        )
    delay = config.resolve(service).scale_down_delay_seconds
    context.log.info(f"Keeping {service.name} {deployment.previous} warm for {delay:.0f} s.")
    time.sleep(delay)
    try:
        with deploy_lock.hold(service.name, context.run_id, context.log):
            blue_green.scale_down(
                container_deployer(context, docker_engine, nginx, probe),
                service,
                deployment.previous,
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
    deployer = container_deployer(context, docker_engine, nginx, probe)
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
        raise DeploymentFailed(nothing_to_roll_back(service.name, state))
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
        rollback_of=state.get("version"),
    )
    return blue_green.deploy(deployer, release)


def promote_latest(context, service: Service, image: Image, registry: RegistryResource) -> None:
    """Moves the registry's `latest` to the image that just went live, and only then."""
    try:
        digest = registry.promote(service.image.name, image.source.version, "latest", context.log)
    except RegistryError as exc:
        # The release is live; a stale `latest` must not make the run say otherwise.
        context.log.warning(f"{service.image.name}:latest was not moved: {exc}")
        return
    context.log.info(f"Moved {service.image.name}:latest to {image.source.version} ({digest}).")


def nothing_to_roll_back(service: str, state) -> str:
    """Why a rollback has no target; a rollback never returns to the version it replaced."""
    after_rollback = state.get("rolled_back_from")
    if after_rollback:
        return (
            f"{service} was already rolled back from {after_rollback} to {state.get('version')};"
            " a second rollback would bring the replaced version back. Release a version to"
            " move forward."
        )
    return (
        f"{service} has no previous version recorded in its load balancer config;"
        " there is nothing to roll back to."
    )


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
    # The bake comes after this record; it is recorded as an observation of its own.
    after = {"verification", "not_verified"}
    facts = {
        key: value
        for key, value in asdict(deployment).items()
        if value is not None and key not in after
    }
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
