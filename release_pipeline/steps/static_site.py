"""Static site ops: publish a build and move production to it; move it back on rollback."""

import dataclasses
from datetime import UTC, datetime

import dagster as dg

from release_pipeline.assets import site_key
from release_pipeline.catalog import Service
from release_pipeline.guards import COMMIT, check_release
from release_pipeline.resources.deploy_lock import DeployLockResource
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.static_hosting import StaticHostingResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import Source, release_step, service_of
from release_pipeline.strategies import static_site
from release_pipeline.strategies.deployment import Deployment

RECORDS_SEARCHED = 200  # how far back a rollback looks for the commit of its target


def _deployer(context, hosting, probe, nginx, service: Service) -> static_site.Deployer:
    return static_site.Deployer(
        publisher=hosting.publisher(),
        probe=probe,
        site_url=nginx.lb_url(service.name),
        log=context.log,
    )


@dg.op(description="Publishes the build as a new deployment and switches production to it.")
@release_step
def publish_site(
    context: dg.OpExecutionContext,
    source: Source,
    static_hosting: StaticHostingResource,
    probe: HttpProbeResource,
    nginx: NginxResource,
    deploy_lock: DeployLockResource,
    git: GitResource,
) -> Deployment:
    service = service_of(context)
    site = static_site.SiteRelease(
        service=service,
        build_dir=source.source_dir / service.strategy.output_dir,
        deployment_id=f"{datetime.now(UTC):%Y%m%d%H%M%S}-{source.version}",
        version=source.version,
        commit=source.commit,
        env={**service.env, **read_secrets(service.secrets)},
    )
    deployer = _deployer(context, static_hosting, probe, nginx, service)
    with deploy_lock.hold(service.name, context.run_id, context.log):
        verdict = check_release(context, source, git, nginx, "traffic")
        deployment = static_site.release(deployer, site)
        # Recorded under the lock: the next release reads the live commit from this record.
        _record(context, service, deployment, "release", deployer.site_url, verdict.overrides())
    return deployment


@dg.op(description="Moves production back to the deployment published before the live one.")
@release_step
def rollback_site(
    context: dg.OpExecutionContext,
    static_hosting: StaticHostingResource,
    probe: HttpProbeResource,
    nginx: NginxResource,
    deploy_lock: DeployLockResource,
) -> Deployment:
    service = service_of(context)
    deployer = _deployer(context, static_hosting, probe, nginx, service)
    with deploy_lock.hold(service.name, context.run_id, context.log):
        deployment = static_site.rollback(deployer, service)
        if not deployment.commit:
            commit = recorded_commit(context, service, deployment.active)
            deployment = dataclasses.replace(deployment, commit=commit)
        # Recorded under the lock: the never-older guard reads the live commit from it.
        _record(context, service, deployment, "rollback", deployer.site_url)
    return deployment


def recorded_commit(context, service: Service, deployment_id: str) -> str:
    """The commit an earlier release recorded for ``deployment_id``; empty when none did.

    Deployments published before the publisher kept commits are found this way.
    """
    result = context.instance.fetch_materializations(site_key(service.name), RECORDS_SEARCHED)
    for record in result.records:
        metadata = record.asset_materialization.metadata
        commit = _text(metadata.get("commit"))
        if _text(metadata.get("deployment_id")) == deployment_id and COMMIT.match(commit):
            return commit
    context.log.warning(
        f"No record names the commit of {service.name} deployment {deployment_id}: the"
        " never-older guard cannot check the next release until one is released."
    )
    return ""


def _text(value) -> str:
    return str(value.value) if value is not None else ""


def _record(
    context, service: Service, deployment: Deployment, reason: str, url: str, extra=None
) -> None:
    context.log_event(
        dg.AssetMaterialization(
            asset_key=site_key(service.name),
            description=f"{service.name} {reason}: deployment {deployment.active} is live",
            metadata={
                "deployment_id": deployment.active,
                "previous_deployment_id": deployment.previous or "none",
                "version": deployment.version,
                "commit": deployment.commit or "none",
                "reason": reason,
                "switch_seconds": round(deployment.switch_seconds, 3),
                "url": dg.MetadataValue.url(url),
                **(extra or {}),
            },
        )
    )
    context.add_output_metadata({"deployment_id": deployment.active})
