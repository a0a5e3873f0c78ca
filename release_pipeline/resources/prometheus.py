"""Prometheus: instant and range queries over its HTTP API."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import httpx
from pydantic import Field

from release_pipeline.errors import PrometheusError
from release_pipeline.secrets import without_userinfo

QUERY_TIMEOUT_SECONDS = 5.0
ERROR_EXCERPT = 300


@dataclass(frozen=True)
class Sample:
    """One value of a query answer and the labels of its series.

    ``value`` is a float as Prometheus wrote it, so it may be NaN or infinite.
    """

    labels: dict[str, str]
    value: float
    raw: str


@dataclass(frozen=True)
class Series:
    """One series of a range query: (unix time, value) points."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


class PrometheusResource(dg.ConfigurableResource):
    """Runs PromQL against Prometheus' HTTP API with an explicit timeout.

    Raises PrometheusError when Prometheus is unreachable or refuses a query;
    callers that must keep going (the canary analysis) record it as an Error.

    Example:
        ``prometheus.query('sum(rate(ml_prediction_errors_total{track="canary"}[1m]))')``
    """

    url: str = Field(description="Base URL of Prometheus, e.g. http://prometheus:9090.")
    timeout_seconds: float = Field(
        default=QUERY_TIMEOUT_SECONDS, description="Per request, connect and read."
    )

    def query(self, promql: str, at: float | None = None) -> list[Sample]:
        """Evaluates ``promql`` at one instant (now by default); a scalar is one sample."""
        params = {"query": promql, "timeout": self._timeout()}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        kind, result = data.get("resultType"), data.get("result")
        if kind == "scalar":
            return [_sample({}, result)]
        if kind == "vector":
            return [_sample(item.get("metric", {}), item.get("value")) for item in result]
        raise PrometheusError(f"Prometheus answered {promql!r} with a {kind}, not a number.")

    def query_range(
        self, promql: str, start: float, end: float, step_seconds: float
    ) -> list[Series]:
        """Evaluates ``promql`` every ``step_seconds`` from ``start`` to ``end`` (unix times)."""
        params = {
            "query": promql,
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": f"{step_seconds:g}",
            "timeout": self._timeout(),
        }
        data = self._get("/api/v1/query_range", params)
        if data.get("resultType") != "matrix":
            raise PrometheusError(f"Prometheus answered {promql!r} with no series over time.")
        return [
            Series(
                labels=item.get("metric", {}),
                points=[(float(t), _sample({}, [t, v]).value) for t, v in item.get("values", [])],
            )
            for item in data["result"]
        ]

    def _timeout(self) -> str:
        """Prometheus' own evaluation timeout; its durations take no fractions of a unit."""
        return f"{max(1, round(self.timeout_seconds * 1000))}ms"

    def _get(self, path: str, params: dict[str, str]) -> dict:
        url = self.url.rstrip("/") + path
        try:
            response = httpx.get(url, params=params, timeout=self.timeout_seconds)
        except httpx.HTTPError as exc:
            raise PrometheusError(
                without_userinfo(
                    f"Prometheus at {self.url} is unreachable: {type(exc).__name__}: {exc}"
                )
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or body.get("status") != "success":
            reason = body.get("error") or response.text[:ERROR_EXCERPT].strip()
            raise PrometheusError(
                f"Prometheus refused {params['query']!r} (HTTP {response.status_code}): {reason}"
            )
        return body.get("data") or {}


def _sample(labels: dict[str, str], pair: object) -> Sample:
    """Reads a [time, "value"] pair; Prometheus writes NaN, +Inf and -Inf as such."""
    if not isinstance(pair, list) or len(pair) != 2:
        raise PrometheusError(f"Prometheus answered a malformed sample: {pair!r}")
    raw = str(pair[1])
    try:
        value = float(raw)
    except ValueError:
        raise PrometheusError(
            f"Prometheus answered a value that is not a number: {raw!r}"
        ) from None
    return Sample(labels=dict(labels), value=value, raw=raw)
