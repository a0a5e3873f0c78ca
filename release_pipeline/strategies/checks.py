"""Smoke checks from the catalog, shared by every strategy."""

from __future__ import annotations

from release_pipeline.catalog import Service
from release_pipeline.resources.http_probe import HttpProbeResource


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
