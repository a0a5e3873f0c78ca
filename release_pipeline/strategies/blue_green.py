"""Blue/green: start the idle color, prove it, switch nginx to it, keep the old one warm.

Traffic only moves after the idle (preview) color is healthy with the expected
version and has passed its smoke checks directly. After the switch the checks
run again through the load balancer; if they fail, traffic goes back to the
active color, which is still running. The live state is the header of the
service's nginx upstream file, so a re-run reads it back and converges.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from release_pipeline.catalog import BlueGreen, Service
from release_pipeline.errors import DeploymentFailed, ReleaseError, SwitchBackFailed
from release_pipeline.resources.docker_engine import RunningContainer
from release_pipeline.resources.nginx import Backend, UpstreamState
from release_pipeline.strategies.checks import (
    confirm_version,
    ensure_healthy_or_remove,
    health_path,
    run_smoke_checks,
)
from release_pipeline.strategies.deployment import Deployer, Deployment, live_facts

COLORS = ("blue", "green")


@dataclass(frozen=True)
class Release:
    """What to deploy: the image, its version and commit, and its environment."""

    service: Service
    image: str
    version: str
    commit: str
    env: dict[str, str] = field(repr=False)
    params: BlueGreen
    rollback_of: str | None = None  # the version a rollback replaces


def other_color(color: str | None) -> str:
    return "green" if color == "blue" else "blue"


def deploy(deployer: Deployer, release: Release) -> Deployment:
    """Runs the blue/green steps for one release; raises DeploymentFailed on a refusal."""
    service = release.service.name
    lb_url = deployer.lb.lb_url(service)  # fails before anything starts if unknown
    state = deployer.lb.read_state(service)
    active = state.get("active")
    preview = other_color(active)
    deployer.log.info(f"Live {service} color is {active or 'none (first deploy)'}.")

    container = start_color(deployer, release, preview)
    deployer.log.info(f"Started {service} {preview}, version {release.version}.")

    ensure_healthy_or_remove(
        deployer, release, container, f"{service} {preview}", " and traffic never moved"
    )
    deployer.log.info(f"{service} {preview} is healthy with version {release.version}.")

    ensure_smoke_passes_or_remove(deployer, release, preview, container.url)
    healthy_at = time.monotonic()

    facts = release_facts(release, preview, container, state)
    try:
        switch_traffic(deployer, service, container, facts)
        confirm_version(deployer.probe, lb_url + health_path(release.service), release.version)
    except ReleaseError as exc:
        switch_back_and_remove(
            deployer, release, preview, state, f"did not take the traffic ({exc})"
        )
        raise DeploymentFailed(
            f"{service} {preview} (version {release.version}) did not take the traffic ({exc});"
            f" traffic went back to {active or 'nothing'}."
        ) from None
    switch_seconds = time.monotonic() - healthy_at
    deployer.log.info(f"Switched {service} traffic to {preview}, version {release.version}.")

    ensure_smoke_through_lb_or_switch_back(deployer, release, preview, state)
    return Deployment(
        preview, active, release.version, release.image, switch_seconds, release.commit
    )


def release_facts(
    release: Release, color: str, container: RunningContainer, before: UpstreamState
) -> dict[str, str]:
    """The upstream header once ``color`` serves; a rollback leaves nothing to go back to."""
    if release.rollback_of:
        facts = live_facts(
            color, release.version, release.image, release.commit, container.name,
            replaced=UpstreamState({}),
        )  # fmt: skip
        return {**facts, "rolled_back_from": release.rollback_of}
    return live_facts(
        color, release.version, release.image, release.commit, container.name, replaced=before
    )


def start_color(deployer: Deployer, release: Release, color: str) -> RunningContainer:
    service = release.service
    labels = {
        "release_pipeline.service": service.name,
        "release_pipeline.color": color,
        "release_pipeline.version": release.version,
        "release_pipeline.commit": release.commit,
    }
    env = {**release.env, "APP_VERSION": release.version, "APP_COLOR": color}
    env["APP_COMMIT"] = release.commit
    return deployer.runtime.run(
        release.image,
        name=deployer.runtime.container_name(service.name, color),
        port=service.port,
        labels=labels,
        env=env,
        **service.container_limits(),
    )


def ensure_smoke_passes_or_remove(
    deployer: Deployer, release: Release, color: str, base_url: str
) -> None:
    failures = run_smoke_checks(deployer.probe, release.service, base_url, release.env)
    if not failures:
        return
    deployer.runtime.remove(deployer.runtime.container_name(release.service.name, color))
    raise DeploymentFailed(
        f"{release.service.name} {color} failed its smoke checks before any traffic moved;"
        f" it was removed. {'; '.join(failures)}"
    )


def switch_traffic(
    deployer: Deployer, service: str, container: RunningContainer, facts: dict[str, str]
) -> None:
    changed = deployer.lb.apply(service, [Backend(container.address)], facts)
    if not changed:
        deployer.log.warning(f"nginx already sent {service} traffic to {container.name}.")


def confirm_version_through_lb(deployer: Deployer, service: Service, version: str) -> None:
    """Waits until several answers in a row through nginx come from ``version``."""
    confirm_version(
        deployer.probe, deployer.lb.lb_url(service.name) + health_path(service), version
    )


def ensure_smoke_through_lb_or_switch_back(
    deployer: Deployer, release: Release, color: str, before: UpstreamState
) -> None:
    service = release.service
    lb_url = deployer.lb.lb_url(service.name)
    failures = run_smoke_checks(deployer.probe, service, lb_url, release.env)
    if not failures:
        return
    deployer.log.error(f"{service.name} smoke checks failed through the load balancer.")
    switch_back_and_remove(
        deployer, release, color, before, "failed its smoke checks through the load balancer"
    )
    raise DeploymentFailed(
        f"{service.name} {color} (version {release.version}) failed its smoke checks through"
        f" the load balancer; traffic went back to {before.get('active') or 'nothing'}."
        f" {'; '.join(failures)}"
    )


def switch_back_and_remove(
    deployer: Deployer, release: Release, color: str, before: UpstreamState, failure: str
) -> None:
    """After a failure past the switch: the upstream as it was, the new color gone.

    Raises SwitchBackFailed, which pages, when the upstream cannot be put back.
    """
    service = release.service.name
    try:
        restore_previous(deployer, release.service, before)
    except ReleaseError as exc:
        deployer.log.error(f"Could not switch {service} traffic back: {exc}")
        raise SwitchBackFailed(
            f"{service} {color} (version {release.version}) {failure}, and switching the"
            f" traffic back to {before.get('active') or 'nothing'} failed too: {exc}"
            f" Production may still serve version {release.version}: check the load balancer"
            f" and run {service}_rollback, or put the upstream back by hand."
        ) from None
    deployer.runtime.remove(deployer.runtime.container_name(release.service.name, color))


def restore_previous(deployer: Deployer, service: Service, before: UpstreamState) -> None:
    """Puts the upstream back as it was before this release."""
    color = before.get("active")
    container = None
    if color:
        name = deployer.runtime.container_name(service.name, color)
        container = deployer.runtime.find(name, service.port)
    backends = [Backend(container.address)] if container else []
    deployer.lb.apply(service.name, backends, before.facts)
    if color and before.get("version"):
        confirm_version_through_lb(deployer, service, before.get("version"))
        deployer.log.info(f"Switched {service.name} traffic back to {color}.")


def scale_down(deployer: Deployer, service: Service, color: str) -> bool:
    """Stops ``color`` unless it is live again (a rollback may have switched back to it)."""
    if deployer.lb.read_state(service.name).get("active") == color:
        deployer.log.warning(f"Skipped scale-down of {service.name} {color}: it is live again.")
        return False
    removed = deployer.runtime.remove(deployer.runtime.container_name(service.name, color))
    if removed:
        deployer.log.info(f"Scaled down {service.name} {color}.")
    return removed


def flip_to_warm_previous(
    deployer: Deployer, service: Service, params: BlueGreen
) -> Deployment | None:
    """Switches back to the previous color if it still runs the previous version.

    Returns None when the previous color is gone or not healthy, so the caller
    redeploys the previous image instead.
    """
    state = deployer.lb.read_state(service.name)
    previous, version = state.get("previous"), state.get("previous_version")
    if not previous or not version:
        return None
    container = deployer.runtime.find(
        deployer.runtime.container_name(service.name, previous), service.port
    )
    if container is None or container.labels.get("release_pipeline.version") != version:
        return None
    health = deployer.probe.check(
        container.url + health_path(service), expect_json={"version": version}
    )
    if not health.ok:
        return None

    started = time.monotonic()
    image = state.get("previous_image") or "none"
    commit = container.labels.get("release_pipeline.commit", "none")
    facts = live_facts(previous, version, image, commit, container.name, UpstreamState({}))
    facts["rolled_back_from"] = state.get("version") or "none"
    switch_traffic(deployer, service.name, container, facts)
    confirm_version_through_lb(deployer, service, version)
    deployer.log.info(f"Switched {service.name} traffic back to {previous}, version {version}.")
    elapsed = time.monotonic() - started
    return Deployment(
        previous, state.get("active"), version, facts["image"], elapsed, facts["commit"]
    )
