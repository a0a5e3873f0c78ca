"""Canary deploy and rollback ops, each under the service's deploy lock."""

import dagster as dg
from pydantic import Field, ValidationError

from release_pipeline.analysis import Overrides
from release_pipeline.assets import deployment_key
from release_pipeline.catalog import Canary, Service
from release_pipeline.errors import AnalysisFailed, DeploymentFailed, ReleaseInputError
from release_pipeline.guards import check_freeze, check_release
from release_pipeline.resources.deploy_lock import DeployLockResource
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.prometheus import PrometheusResource
from release_pipeline.resources.registry import RegistryResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import Image, release_step, service_of
from release_pipeline.steps.deploy import record_deployment
from release_pipeline.strategies import canary
from release_pipeline.strategies.deployment import Deployment

STRATEGY_FIELDS = ("steps", "health_retries", "health_interval_seconds", "scale_down_delay_seconds")
STOPPED_BY_FREEZE = "The canary was stopped: stable serves all traffic and the canary is gone."


class CanaryConfig(dg.Config):
    """Per-run overrides of the catalog's canary parameters (tests shorten waits)."""

    steps: list[int] | None = Field(default=None, description="Canary weights, e.g. [10, 50].")
    health_retries: int | None = Field(default=None, description="Health checks before giving up.")
    health_interval_seconds: float | None = Field(default=None, description="Between checks.")
    scale_down_delay_seconds: float | None = Field(
        default=None, description="How long the promoted canary keeps running without traffic."
    )
    analysis_interval_seconds: float | None = Field(
        default=None, description="Between measurements, for every metric."
    )
    analysis_count: int | None = Field(default=None, description="Measurements per step.")
    analysis_min_requests: float | None = Field(
        default=None, description="Requests a measurement needs to count as evidence."
    )

    def resolve(self, service: Service) -> tuple[Canary, Overrides]:
        """The catalog's canary parameters and analysis timing, with this run's overrides."""
        params = {
            key: value for key in STRATEGY_FIELDS if (value := getattr(self, key)) is not None
        }
        overrides = Overrides(
            self.analysis_interval_seconds, self.analysis_count, self.analysis_min_requests
        )
        try:
            canary_params = Canary.model_validate({**service.strategy.model_dump(), **params})
        except ValidationError as exc:
            problems = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in exc.errors())
            raise ReleaseInputError(f"deploy_canary config is not valid: {problems}") from None
        return canary_params, overrides


def _deployer(context, docker_engine, nginx, probe, prometheus) -> canary.Deployer:
    return canary.Deployer(docker_engine, nginx, probe, prometheus, context.log)


@dg.op(description="Deploys the pushed image as a canary beside stable, analysed at each weight.")
@release_step
def deploy_canary(
    context: dg.OpExecutionContext,
    config: CanaryConfig,
    image: Image,
    docker_engine: DockerResource,
    nginx: NginxResource,
    probe: HttpProbeResource,
    prometheus: PrometheusResource,
    deploy_lock: DeployLockResource,
    git: GitResource,
) -> Deployment:
    service = service_of(context)
    params, overrides = config.resolve(service)
    release = canary.Release(
        service=service,
        image=image.reference,
        version=image.source.version,
        commit=image.source.commit,
        env={**service.env, **read_secrets(service.secrets)},
        params=params,
        overrides=overrides,
        check_freeze=_freeze_check(context, service, image.source.version),
    )
    deployer = _deployer(context, docker_engine, nginx, probe, prometheus)
    with deploy_lock.hold(service.name, context.run_id, context.log):
        verdict = check_release(context, image.source, git, nginx, "traffic")
        try:
            rollout = canary.deploy(deployer, release)
        except AnalysisFailed as refused:
            _observe_refusal(context, service, release.version, refused)
            raise
    overrides = verdict.overrides()
    _record(context, service, rollout, image.source.commit, "release", docker_engine, overrides)
    return rollout.deployment


def _freeze_check(context, service: Service, version: str):
    """The freeze guard for each canary weight: an analysis may outlast a window's start."""

    def check(change: str) -> None:
        check_freeze(context, service, f"{change} for {version}", STOPPED_BY_FREEZE)

    return check


@dg.op(description="Puts the stable version that served before back, without analysis.")
@release_step
def rollback_canary(
    context: dg.OpExecutionContext,
    config: CanaryConfig,
    docker_engine: DockerResource,
    registry: RegistryResource,
    nginx: NginxResource,
    probe: HttpProbeResource,
    prometheus: PrometheusResource,
    deploy_lock: DeployLockResource,
) -> Deployment:
    service = service_of(context)
    params, overrides = config.resolve(service)
    deployer = _deployer(context, docker_engine, nginx, probe, prometheus)
    with deploy_lock.hold(service.name, context.run_id, context.log):
        state = nginx.read_state(service.name)
        image, version = state.get("previous_image"), state.get("previous_version")
        if not image or not version:
            raise DeploymentFailed(
                f"{service.name} has no previous version recorded in its load balancer config;"
                " there is nothing to roll back to."
            )
        digest = image.rsplit("@", 1)[1] if "@" in image else image.rsplit(":", 1)[1]
        context.log.info(f"Rolling {service.name} back to version {version} ({image}).")
        release = canary.Release(
            service=service,
            image=registry.pull(service.image.name, digest),
            version=version,
            commit=state.get("previous_commit") or "none",
            env={**service.env, **read_secrets(service.secrets)},
            params=params,
            overrides=overrides,
        )
        rollout = canary.rollback(deployer, release)
    _record(context, service, rollout, release.commit, "rollback", docker_engine)
    return rollout.deployment


def _record(
    context, service, rollout: canary.Rollout, commit, reason, docker_engine, extra=None
) -> None:
    facts = canary.rollout_metadata(
        rollout.steps, rollout.verdict, canary.weights(0), rollout.deployment.switch_seconds
    )
    facts.update(extra or {})
    record_deployment(
        context, service, rollout.deployment, commit, reason, docker_engine, "canary", facts
    )
    context.add_output_metadata({"verdict": rollout.verdict, "weights": facts["weights"]})


def _observe_refusal(context, service: Service, version: str, refused: AnalysisFailed) -> None:
    """The live deployment did not change, so the refusal is an observation, not a new version."""
    context.log_event(
        dg.AssetObservation(
            asset_key=deployment_key(service.name),
            description=f"{service.name} canary {version} refused: {refused.metadata['verdict']}",
            metadata={**refused.metadata, "canary_version": version},
        )
    )
