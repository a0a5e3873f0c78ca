"""Canary: the new version beside stable, a growing share of traffic, Prometheus at each step.

The canary container starts with the new image and proves it is healthy; once
Prometheus scrapes it, it takes each weight of the catalog's steps (stable
100 - w, canary w) and is analysed there. Every step must pass its analysis.
Promotion routes all traffic to the canary, smoke-tests it through the load
balancer, replaces stable with the new image, routes all traffic back to
stable and removes the canary. An abort routes all traffic to stable,
confirms it through the load balancer and removes the canary; the run fails.
A freeze window that opens while the canary is analysed stops it the same way
before its next weight or its promotion.

The live state is the header of the service's nginx upstream file (stable
version, image, commit, canary weight, the version before), so a re-run reads
it back and converges. With no stable running the recorded version (a first
deploy, or a stable lost in a crash) the new version goes straight to stable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn

import dagster as dg

from release_pipeline.analysis import Analysis, Overrides, run_analysis, wait_until_scraped
from release_pipeline.catalog import Canary, Service
from release_pipeline.errors import (
    AnalysisFailed,
    DeploymentFailed,
    ReleaseError,
    ReleaseRefused,
    SwitchBackFailed,
)
from release_pipeline.resources.docker_engine import DockerResource, RunningContainer
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import Backend, NginxResource, UpstreamState
from release_pipeline.resources.prometheus import PrometheusResource
from release_pipeline.strategies.checks import run_smoke_checks
from release_pipeline.strategies.deployment import Deployment
from release_pipeline.strategies.tracks import (
    CANARY,
    DRAIN_SECONDS,
    STABLE,
    confirm_serving,
    ensure_healthy_or_remove,
    find_stable,
    go_straight_to_stable,
    header_facts,
    remove_after,
    start_track,
    weights,
)

SCRAPE_TIMEOUT_SECONDS = 60.0


def never_frozen(change: str) -> None:
    """The freeze check of a release that no window can stop (tests, rollbacks)."""


@dataclass(frozen=True)
class Release:
    """What to deploy, its environment, and how the canary is run and analysed."""

    service: Service
    image: str
    version: str
    commit: str
    env: dict[str, str] = field(repr=False)
    params: Canary
    overrides: Overrides = field(default_factory=Overrides)
    # Called with the change about to happen before each weight and the promotion; raises
    # ReleaseRefused when a freeze window opened while the canary was being analysed.
    check_freeze: Callable[[str], object] = field(default=never_frozen, repr=False)


@dataclass(frozen=True)
class Deployer:
    """The systems a canary talks to, and where it reports progress."""

    runtime: DockerResource
    lb: NginxResource
    probe: HttpProbeResource
    prometheus: PrometheusResource
    log: dg.DagsterLogManager


@dataclass(frozen=True)
class Rollout:
    """How a release ended: the deployment, and each step's weight and analysis."""

    deployment: Deployment
    verdict: str
    steps: list[tuple[int, Analysis]]


def deploy(deployer: Deployer, release: Release) -> Rollout:
    """Runs the canary steps for one release; raises AnalysisFailed when the canary is refused."""
    state = deployer.lb.read_state(release.service.name)
    stable = find_stable(deployer, release.service, state)
    if stable is None:
        return Rollout(replace_without_stable(deployer, release, state), "first deploy", [])
    ensure_only_stable_serves(deployer, release.service, stable, state)

    canary = start_canary(deployer, release)
    ensure_scraped(deployer, release)
    steps: list[tuple[int, Analysis]] = []
    for weight in release.params.steps:
        ensure_not_frozen(deployer, release, state, stable, f"raising the canary to {weight} %")
        set_weight(deployer, release, state, stable, canary, weight)
        analysis = analyse(deployer, release)
        steps.append((weight, analysis))
        if not analysis.successful:
            abort(deployer, release, state, stable, steps)

    ensure_not_frozen(deployer, release, state, stable, "promotion")
    return Rollout(promote(deployer, release, state, stable, canary), "promoted", steps)


def rollback(deployer: Deployer, release: Release) -> Rollout:
    """Puts ``release`` (the version before) back on stable without analysis: it served before."""
    state = deployer.lb.read_state(release.service.name)
    stable = find_stable(deployer, release.service, state)
    if stable is None:
        return Rollout(replace_without_stable(deployer, release, state), "rolled back", [])

    canary = start_canary(deployer, release)
    return Rollout(promote(deployer, release, state, stable, canary), "rolled back", [])


def ensure_only_stable_serves(
    deployer: Deployer, service: Service, stable: RunningContainer, state: UpstreamState
) -> None:
    """Takes back the traffic a canary of an interrupted run may still have."""
    leftover = state.get("canary_weight") not in (None, "0")
    deployer.lb.apply(service.name, [Backend(stable.address)], header_facts(state, canary_weight=0))
    if leftover:
        deployer.log.warning(
            f"A {service.name} canary of an earlier run had {state.get('canary_weight')} %"
            f" of traffic; stable {state.get('version')} has it all again."
        )


def ensure_not_frozen(
    deployer: Deployer,
    release: Release,
    state: UpstreamState,
    stable: RunningContainer,
    change: str,
) -> None:
    """Before more traffic moves: a freeze window that opened meanwhile stops the canary."""
    try:
        release.check_freeze(change)
    except ReleaseRefused:
        back_to_stable(deployer, release, state, stable, "was stopped by a freeze window")
        deployer.log.error(f"Stopped the {release.service.name} canary {release.version}.")
        raise


def start_canary(deployer: Deployer, release: Release) -> RunningContainer:
    """Starts the canary and waits until it is healthy; it gets no traffic yet.

    The smoke checks run later, through nginx, once the analysis has passed: a
    smoke check is one request, and a version that fails some of its requests
    must be judged on real traffic, not on a coin flip.
    """
    canary = start_track(deployer, release, CANARY)
    ensure_healthy_or_remove(deployer, release, canary)
    deployer.log.info(f"Started {release.service.name} canary, version {release.version}.")
    return canary


def set_weight(
    deployer: Deployer,
    release: Release,
    state: UpstreamState,
    stable: RunningContainer,
    canary: RunningContainer,
    weight: int,
) -> None:
    """Sends ``weight`` % of traffic to the canary and the rest to stable."""
    backends = [Backend(stable.address, 100 - weight), Backend(canary.address, weight)]
    backends = [backend for backend in backends if backend.weight > 0]
    facts = header_facts(state, canary_weight=weight, canary_version=release.version)
    if deployer.lb.apply(release.service.name, backends, facts):
        deployer.log.info(
            f"Set {release.service.name} weights: stable {100 - weight} %, canary {weight} %"
            f" (version {release.version})."
        )


def ensure_scraped(deployer: Deployer, release: Release) -> None:
    """Gives Prometheus time to find the canary before it gets traffic to be judged on."""
    if wait_until_scraped(deployer.prometheus, _labels(release), SCRAPE_TIMEOUT_SECONDS):
        deployer.log.info(f"Prometheus scrapes the {release.service.name} canary.")
        return
    deployer.log.warning(
        f"Prometheus did not scrape the {release.service.name} canary within"
        f" {SCRAPE_TIMEOUT_SECONDS:.0f} s; its analysis will find no data."
    )


def analyse(deployer: Deployer, release: Release) -> Analysis:
    metrics = release.params.analysis
    return run_analysis(
        deployer.prometheus, metrics, _labels(release), deployer.log, release.overrides
    )


def _labels(release: Release) -> dict[str, str]:
    return {"service": release.service.name, "track": CANARY, "version": release.version}


def abort(
    deployer: Deployer,
    release: Release,
    state: UpstreamState,
    stable: RunningContainer,
    steps: list[tuple[int, Analysis]],
) -> NoReturn:
    """All traffic back to stable, confirmed through nginx; the canary removed; the run fails."""
    service = release.service.name
    switch_seconds = back_to_stable(
        deployer, release, state, stable, f"was aborted: {steps[-1][1].reason}"
    )
    deployer.log.error(f"Aborted the {service} canary {release.version}: {steps[-1][1].reason}")

    weight, analysis = steps[-1]
    raise AnalysisFailed(
        f"{service} canary {release.version} aborted at {weight} % of traffic: {analysis.reason}."
        f" Stable {state.get('version')} serves 100 % again and the canary was removed.",
        rollout_metadata(steps, "aborted", weights(0), switch_seconds),
    )


def promote(
    deployer: Deployer,
    release: Release,
    state: UpstreamState,
    stable: RunningContainer,
    canary: RunningContainer,
) -> Deployment:
    """Canary takes all traffic while stable is replaced by the new image, then hands it back."""
    service = release.service
    set_weight(deployer, release, state, stable, canary, 100)
    confirm_serving(deployer, service, CANARY, release.version)
    lb_url = deployer.lb.lb_url(service.name)
    failures = run_smoke_checks(deployer.probe, service, lb_url, release.env)
    if failures:
        back_to_stable(
            deployer, release, state, stable, "failed its smoke checks through the load balancer"
        )
        raise DeploymentFailed(
            f"{service.name} canary {release.version} failed its smoke checks through the load"
            f" balancer; stable {state.get('version')} serves 100 % again. {'; '.join(failures)}"
        )

    time.sleep(DRAIN_SECONDS)
    deployment = go_straight_to_stable(deployer, release, state, smoke=False)
    remove_after(deployer, service, CANARY, release.params.scale_down_delay_seconds)
    return deployment


def back_to_stable(
    deployer: Deployer,
    release: Release,
    state: UpstreamState,
    stable: RunningContainer,
    failure: str,
) -> float:
    """Gives stable all traffic, confirmed through nginx, and removes the canary.

    Returns the seconds from the upstream change to the confirmation. Raises
    SwitchBackFailed, which pages, when stable cannot be given the traffic back.
    """
    service = release.service
    started = time.monotonic()
    try:
        deployer.lb.apply(
            service.name, [Backend(stable.address)], header_facts(state, canary_weight=0)
        )
        confirm_serving(deployer, service, STABLE, state.get("version"))
    except ReleaseError as exc:
        deployer.log.error(f"Could not give {service.name} stable the traffic back: {exc}")
        raise SwitchBackFailed(
            f"{service.name} canary {release.version} {failure}, and giving stable"
            f" {state.get('version')} all traffic back failed: {exc} The canary may still"
            f" serve part of the traffic: check the load balancer and run"
            f" {service.name}_rollback, or put the upstream back by hand."
        ) from None
    switch_seconds = time.monotonic() - started
    deployer.log.info(f"Switched {service.name} traffic back to stable {state.get('version')}.")
    remove_after(deployer, service, CANARY, DRAIN_SECONDS)
    return switch_seconds


def replace_without_stable(deployer: Deployer, release: Release, state: UpstreamState):
    """With no healthy stable to compare against, the new version becomes stable directly."""
    deployer.log.info(
        f"No healthy {release.service.name} stable to compare with; version {release.version}"
        " goes straight to stable."
    )
    deployment = go_straight_to_stable(deployer, release, state)
    remove_after(deployer, release.service, CANARY, DRAIN_SECONDS)
    return deployment


def rollout_metadata(
    steps: list[tuple[int, Analysis]], verdict: str, live_weights: str, switch_seconds: float
) -> dict[str, object]:
    """The verdict, live weights and every measurement, for run and asset metadata."""
    measurements = [
        {"weight": weight, **measurement.as_dict()}
        for weight, analysis in steps
        for measurement in analysis.measurements
    ]
    return {
        "verdict": verdict,
        "weights": live_weights,
        "steps": ", ".join(f"{weight} %: {analysis.phase.value}" for weight, analysis in steps),
        "measured": "; ".join(m.summary() for m in steps[-1][1].measurements) if steps else "",
        "measurements": measurements,
        "switch_seconds": round(switch_seconds, 3),
    }
