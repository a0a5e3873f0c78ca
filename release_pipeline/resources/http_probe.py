"""HTTP probes: health checks and smoke tests against containers and the load balancer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import dagster as dg
import httpx
from pydantic import Field

from release_pipeline.secrets import without_userinfo

PROBE_TIMEOUT_SECONDS = 5.0
BODY_EXCERPT = 300


@dataclass(frozen=True)
class ProbeResult:
    """One HTTP answer, reduced to what checks and error messages need."""

    ok: bool
    status: int | None
    body: dict[str, Any] | None
    detail: str


class HttpProbeResource(dg.ConfigurableResource):
    """Sends health and smoke requests with explicit timeouts.

    Example:
        ``probe.check("http://127.0.0.1:3001/health", expect_json={"status": "ok"})``
    """

    timeout_seconds: float = Field(default=PROBE_TIMEOUT_SECONDS, description="Per request.")

    def check(
        self,
        url: str,
        *,
        method: str = "GET",
        expect_status: int = 200,
        expect_json: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> ProbeResult:
        try:
            response = httpx.request(
                method, url, json=json_body, headers=headers, timeout=self.timeout_seconds
            )
        except httpx.HTTPError as exc:
            failed = f"{method} {url}: {type(exc).__name__}: {exc}"
            return ProbeResult(False, None, None, without_userinfo(failed))
        body = _json_or_none(response)
        excerpt = response.text[:BODY_EXCERPT].strip()
        answer = f"{method} {without_userinfo(url)}: HTTP {response.status_code} {excerpt}"
        if response.status_code != expect_status:
            return ProbeResult(False, response.status_code, body, answer)
        mismatched = _mismatches(body, expect_json or {})
        if mismatched:
            return ProbeResult(False, response.status_code, body, f"{answer} ({mismatched})")
        return ProbeResult(True, response.status_code, body, answer)


def _json_or_none(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _mismatches(body: dict[str, Any] | None, expected: dict[str, Any]) -> str:
    if not expected:
        return ""
    if body is None:
        return "expected a JSON object"
    wrong = [
        f"{key}={body.get(key)!r}, expected {value!r}"
        for key, value in expected.items()
        if str(body.get(key)) != str(value)
    ]
    return "; ".join(wrong)
