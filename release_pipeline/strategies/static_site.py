"""Static site: publish each build as an immutable deployment, then move the production pointer.

The publisher (a directory nginx serves, or Cloudflare Pages) keeps every
deployment; going live is one atomic pointer change, and going back is the
same change to an earlier deployment.
"""

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import dagster as dg

from release_pipeline.catalog import Service, StaticSite
from release_pipeline.errors import DeploymentFailed, PublishError, ReleaseError, SwitchBackFailed
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.strategies.checks import confirm_version, health_path, run_smoke_checks
from release_pipeline.strategies.deployment import Deployment


class SitePublisher(Protocol):
    def publish(self, site: str, build_dir: Path, deployment_id: str, commit: str) -> str: ...
    def activate(self, site: str, deployment_id: str) -> None: ...
    def live(self, site: str) -> str | None: ...
    def deployments(self, site: str) -> list[str]: ...
    def commit(self, site: str, deployment_id: str) -> str | None: ...
    def remove(self, site: str, deployment_id: str) -> None: ...


@dataclass(frozen=True)
class SiteRelease:
    service: Service
    build_dir: Path
    deployment_id: str
    version: str
    commit: str
    env: dict[str, str] = field(repr=False)

    @property
    def params(self) -> StaticSite:
        return self.service.strategy


@dataclass(frozen=True)
class Deployer:
    publisher: SitePublisher
    probe: HttpProbeResource
    site_url: str
    log: dg.DagsterLogManager


def release(deployer: Deployer, site: SiteRelease) -> Deployment:
    """Publishes, switches production, smoke-tests; switches back if the smoke fails."""
    name = site.service.name
    ensure_complete_build(site)
    previous = deployer.publisher.live(name)

    deployment_id = deployer.publisher.publish(
        name, site.build_dir, site.deployment_id, site.commit
    )
    deployer.log.info(f"Published {name} {site.version} as deployment {deployment_id}.")

    started = time.monotonic()
    deployer.publisher.activate(name, deployment_id)
    confirm_version(deployer.probe, deployer.site_url + health_path(site.service), site.version)
    switch_seconds = time.monotonic() - started
    deployer.log.info(f"Switched {name} production to deployment {deployment_id}.")

    ensure_smoke_or_switch_back(deployer, site, previous)
    prune(deployer, name, keep=site.params.keep_deployments, spare={deployment_id, previous})
    return Deployment(deployment_id, previous, site.version, "", switch_seconds, site.commit)


def ensure_complete_build(site: SiteRelease) -> None:
    index = site.build_dir / "index.html"
    if not index.is_file():
        raise PublishError(
            f"{site.service.name}: the build produced no {site.params.output_dir}/index.html;"
            " nothing was published and the live site is unchanged."
        )


def ensure_smoke_or_switch_back(deployer: Deployer, site: SiteRelease, previous: str | None):
    failures = run_smoke_checks(deployer.probe, site.service, deployer.site_url, site.env)
    if not failures:
        return
    if previous:
        try:
            deployer.publisher.activate(site.service.name, previous)
        except ReleaseError as exc:
            raise SwitchBackFailed(
                f"{site.service.name} {site.version} failed its smoke checks, and switching"
                f" production back to {previous} failed: {exc} Production may still serve"
                f" {site.version}: run {site.service.name}_rollback, or activate {previous}"
                " by hand."
            ) from None
        deployer.log.error(f"Switched {site.service.name} production back to {previous}.")
    raise DeploymentFailed(
        f"{site.service.name} {site.version} failed its smoke checks; production is back on"
        f" {previous or 'nothing'}. {'; '.join(failures)}"
    )


def prune(deployer: Deployer, name: str, keep: int, spare: set[str | None]) -> None:
    """Removes the oldest deployments beyond ``keep``, never the live or previous one."""
    deployments = deployer.publisher.deployments(name)
    for old in deployments[: max(0, len(deployments) - keep)]:
        if old not in spare:
            deployer.publisher.remove(name, old)


def rollback(deployer: Deployer, service: Service) -> Deployment:
    """Points production at the deployment published before the live one."""
    live = deployer.publisher.live(service.name)
    deployments = deployer.publisher.deployments(service.name)
    older = deployments[: deployments.index(live)] if live in deployments else []
    if not older:
        raise DeploymentFailed(
            f"{service.name} has no deployment older than {live or 'the live one'};"
            " there is nothing to roll back to."
        )
    target = older[-1]
    started = time.monotonic()
    deployer.publisher.activate(service.name, target)
    health = deployer.probe.check(deployer.site_url + health_path(service))
    if not health.ok:
        raise DeploymentFailed(f"{service.name} {target} is live but unhealthy: {health.detail}")
    version = str((health.body or {}).get("version", target))
    deployer.log.info(f"Switched {service.name} production back to deployment {target}.")
    commit = deployer.publisher.commit(service.name, target) or ""
    return Deployment(target, live, version, "", time.monotonic() - started, commit)
