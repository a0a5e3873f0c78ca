"""Health waits and smoke checks from the catalog, shared by every strategy."""

from __future__ import annotations

import time
from typing import Any

from release_pipeline.catalog import Service
from release_pipeline.errors import DeploymentFailed
from release_pipeline.resources.docker_engine import RunningContainer
from release_pipeline.resources.http_probe import HttpProbeResource, ProbeResult

CONFIRMATIONS = 5
CONFIRM_TIMEOUT_SECONDS = 15.0
CONFIRM_INTERVAL_SECONDS = 0.05


def run_smoke_checks(
    probe: HttpProbeResource, service: Service, base_url: str, env: dict[str, str]
) -> list[str]:
    """Runs the service's smoke checks against ``base_url``; returns what failed."""
    failures = []
    for check in service.smoke:
        headers = {}
        if check.api_key_secret:
            headers["X-API-Key"] = env.get(check.api_key_secret, "")
        result = probe.check(
            base_url + check.path,
            method=check.method,
            expect_status=check.expect_status,
            expect_json=check.expect_json,
            json_body=check.json_body,
            headers=headers,
        )
        if not result.ok:
            failures.append(result.detail)
    return failures


def health_path(service: Service) -> str:
    return service.health.path if service.health else "/health"


def wait_until_healthy(
    probe: HttpProbeResource,
    service: Service,
    base_url: str,
    version: str,
    retries: int,
    interval_seconds: float,
) -> ProbeResult:
    """Checks health until it answers as the catalog expects, with ``version``; returns the last."""
    health = service.health
    expected = {**(health.expect_json if health else {}), "version": version}
    url = base_url + health_path(service)
    result = probe.check(url, expect_json=expected)
    for _ in range(retries - 1):
        if result.ok:
            break
        time.sleep(interval_seconds)
        result = probe.check(url, expect_json=expected)
    return result


def confirm_version(
    probe: HttpProbeResource, url: str, version: str, track: str | None = None
) -> None:
    """Waits until several answers in a row from ``url`` come from ``version`` (on ``track``)."""
    expected = {"version": version} if track is None else {"version": version, "track": track}
    source = f"version {version}" if track is None else f"the {track} track at version {version}"
    deadline = time.monotonic() + CONFIRM_TIMEOUT_SECONDS
    streak, last = 0, None
    while streak < CONFIRMATIONS:
        if time.monotonic() > deadline:
            raise DeploymentFailed(
                f"Answers from {url} did not come from {source} within"
                f" {CONFIRM_TIMEOUT_SECONDS:.0f} s. Last answer: {last.detail if last else 'none'}"
            )
        last = probe.check(url, expect_json=expected)
        streak = streak + 1 if last.ok else 0
        time.sleep(CONFIRM_INTERVAL_SECONDS)


def ensure_healthy_or_remove(
    deployer: Any, release: Any, container: RunningContainer, name: str, consequence: str = ""
) -> None:
    """Waits for ``container`` to answer healthy at the release's version, else removes it.

    ``deployer`` has ``probe``, ``runtime`` and ``log``; ``release`` has ``service``,
    ``version`` and ``params`` with the health retries and interval.
    """
    params = release.params
    result = wait_until_healthy(
        deployer.probe,
        release.service,
        container.url,
        release.version,
        params.health_retries,
        params.health_interval_seconds,
    )
    if result.ok:
        return
    deployer.runtime.remove(container.name)
    deployer.log.error(f"{name} never became healthy; removed it.")
    raise DeploymentFailed(
        f"{name} (version {release.version}) did not become healthy after"
        f" {params.health_retries} checks; it was removed{consequence}."
        f" Last health answer: {result.detail}"
    )
