"""The stable and canary tracks of a service: their containers and the traffic nginx gives them.

A track is one container named after the service and the track, labelled with
its version, and published on 127.0.0.1. The upstream header keeps the stable
facts (version, image, commit and the ones before) and the canary's weight.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from release_pipeline.catalog import Service
from release_pipeline.errors import DeploymentFailed
from release_pipeline.resources.docker_engine import RunningContainer
from release_pipeline.resources.nginx import Backend, UpstreamState
from release_pipeline.strategies import checks
from release_pipeline.strategies.checks import run_smoke_checks
from release_pipeline.strategies.deployment import Deployment

if TYPE_CHECKING:
    from release_pipeline.strategies.canary import Deployer, Release

STABLE, CANARY = "stable", "canary"
# What the upstream header says about stable: what serves, and what served before.
STABLE_FACTS = (
    "version",
    "image",
    "commit",
    "previous_version",
    "previous_image",
    "previous_commit",
)
# nginx's old workers finish the requests they hold after a reload; a
# container that just lost its traffic gets this long before it is stopped.
DRAIN_SECONDS = 2.0


def find_stable(
    deployer: Deployer, service: Service, state: UpstreamState
) -> RunningContainer | None:
    """The stable container, if it runs the version the upstream records.

    An unhealthy stable is still stable: the analysis judges the canary alone,
    and a health blip must never let a release skip its canary.
    """
    name = deployer.runtime.container_name(service.name, STABLE)
    stable = deployer.runtime.find(name, service.port)
    version = state.get("version")
    if stable is None or stable.labels.get("release_pipeline.version") != version:
        return None
    health = checks.wait_until_healthy(deployer.probe, service, stable.url, version, 1, 0)
    if not health.ok:
        deployer.log.warning(f"{service.name} stable {version} is not healthy: {health.detail}")
    return stable


def start_track(deployer: Deployer, release: Release, track: str) -> RunningContainer:
    service = release.service
    labels = {
        "release_pipeline.service": service.name,
        "release_pipeline.color": track,
        "release_pipeline.version": release.version,
        "release_pipeline.commit": release.commit,
    }
    env = {**release.env, "APP_VERSION": release.version, "APP_COLOR": track}
    env["APP_COMMIT"] = release.commit
    name = deployer.runtime.container_name(service.name, track)
    return deployer.runtime.run(
        release.image,
        name=name,
        port=service.port,
        labels=labels,
        env=env,
        **service.container_limits(),
    )


def ensure_healthy_or_remove(
    deployer: Deployer, release: Release, container: RunningContainer
) -> None:
    checks.ensure_healthy_or_remove(deployer, release, container, container.name)


def confirm_serving(deployer: Deployer, service: Service, track: str, version: str) -> None:
    """Waits until several answers in a row through nginx come from ``track`` at ``version``."""
    url = deployer.lb.lb_url(service.name) + checks.health_path(service)
    checks.confirm_version(deployer.probe, url, version, track=track)


def remove_after(deployer: Deployer, service: Service, track: str, delay_seconds: float) -> None:
    """Stops a track that no longer has traffic, once its requests had time to finish."""
    name = deployer.runtime.container_name(service.name, track)
    if deployer.runtime.find(name, service.port) is None:
        deployer.runtime.remove(name)  # a stopped leftover, if any
        return
    time.sleep(delay_seconds)
    if deployer.runtime.remove(name):
        deployer.log.info(f"Removed the {service.name} {track}.")


def weights(canary_weight: int) -> str:
    return f"stable={100 - canary_weight},canary={canary_weight}"


def header_facts(state: UpstreamState, **canary: object) -> dict[str, str]:
    """The upstream header: the stable facts as they were, with the canary's given ones."""
    facts = {key: state.get(key) or "none" for key in STABLE_FACTS}
    return {**facts, **{key: str(value) for key, value in canary.items()}}


def go_straight_to_stable(
    deployer: Deployer, release: Release, state: UpstreamState, smoke: bool = True
) -> Deployment:
    """Starts stable with the new image and gives it all traffic."""
    service = release.service
    stable = start_track(deployer, release, STABLE)
    ensure_healthy_or_remove(deployer, release, stable)
    failures = run_smoke_checks(deployer.probe, service, stable.url, release.env) if smoke else []
    if failures:
        deployer.runtime.remove(stable.name)
        raise DeploymentFailed(f"{stable.name} failed its smoke checks: {'; '.join(failures)}")

    started = time.monotonic()
    facts = {
        "version": release.version,
        "image": release.image,
        "commit": release.commit,
        "previous_version": state.get("version") or "none",
        "previous_image": state.get("image") or "none",
        "previous_commit": state.get("commit") or "none",
        "canary_weight": "0",
    }
    deployer.lb.apply(service.name, [Backend(stable.address)], facts)
    confirm_serving(deployer, service, STABLE, release.version)
    deployer.log.info(f"Switched {service.name} traffic to stable, version {release.version}.")
    return Deployment(
        STABLE,
        state.get("version"),
        release.version,
        release.image,
        time.monotonic() - started,
        release.commit,
    )
