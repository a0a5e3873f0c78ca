"""Canary analysis: Prometheus measurements and the verdict they add up to.

A metric (catalog ``AnalysisMetric``) is a PromQL template scoped with
``{{service}}``, ``{{track}}`` and ``{{version}}``, a success condition such as
``result < 0.05``, and limits. Every interval one measurement is taken, and it
is one of four values:

- Successful: a finite number that meets the condition;
- Failed: a finite number that does not;
- Error: Prometheus was unreachable, refused the query, or answered several series;
- Inconclusive: no data (empty result, NaN, +Inf, -Inf) or fewer requests than
  the metric's minimum. ``no_data: failed`` counts those as Failed instead.
  No data is never read as zero.

A metric fails as soon as its Failed measurements exceed ``failure_limit``,
its consecutive Errors exceed ``consecutive_error_limit`` or its Inconclusive
ones exceed ``inconclusive_limit``. After ``count`` measurements it succeeds
only if its last measurement was Successful: after a last Failed (within the
limit), Error or Inconclusive one, nobody knows that the canary is fine now, so
it is not promoted. The first measurement waits one interval.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol

from release_pipeline.errors import PrometheusError
from release_pipeline.promql import Condition, render_query
from release_pipeline.resources.prometheus import PrometheusResource

if TYPE_CHECKING:
    from release_pipeline.catalog import AnalysisMetric, VerificationCheck

# Every target carries the service, track and version of its container.
SCRAPED = 'up{service="{{service}}",track="{{track}}",version="{{version}}"}'
SCRAPE_POLL_SECONDS = 0.5


class Phase(StrEnum):
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"


class Log(Protocol):
    def info(self, msg: str) -> None: ...
    def warning(self, msg: str) -> None: ...


# --- measurements ---------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    """One measurement of one metric: its phase, the resolved query and what came back."""

    metric: str
    phase: Phase
    query: str
    raw: str
    value: float | None
    message: str
    measured_at: float
    requests: float | None = None

    def summary(self) -> str:
        finite = self.value is not None and math.isfinite(self.value)
        shown = f"{self.value:.4g}" if finite else (self.raw or "none")
        return f"{self.metric}={shown} {self.phase.value} ({self.message})"

    def as_dict(self) -> dict[str, object]:
        facts = asdict(self)
        facts["phase"] = self.phase.value
        # JSON has no NaN or infinity: ``raw`` keeps what Prometheus said.
        for key in ("value", "requests"):
            facts[key] = facts[key] if facts[key] is None or math.isfinite(facts[key]) else None
        return facts


def measure(
    prometheus: PrometheusResource,
    metric: AnalysisMetric | VerificationCheck,
    labels: dict[str, str],
) -> Measurement:
    """Takes one measurement of ``metric`` for the series selected by ``labels``."""
    query = render_query(metric.query, labels)
    now = time.time()
    try:
        value, raw = _single_value(prometheus, query)
        requests = None
        if metric.min_requests is not None and value is not None:
            requests, _ = _single_value(prometheus, render_query(metric.min_requests.query, labels))
    except PrometheusError as exc:
        return Measurement(metric.name, Phase.ERROR, query, "", None, str(exc), now)

    no_data = Phase.FAILED if metric.no_data == "failed" else Phase.INCONCLUSIVE
    condition = Condition.parse(metric.success_condition)
    if value is None or not math.isfinite(value):
        reason = "empty result" if value is None else f"{raw} is not a measurement"
        return Measurement(metric.name, no_data, query, raw, value, reason, now)
    if metric.min_requests is not None:
        needed = metric.min_requests.threshold
        if requests is None or not math.isfinite(requests) or requests < needed:
            seen = "no" if requests is None else f"{requests:.4g}"
            reason = f"{seen} requests, fewer than {needed:g}"
            return Measurement(metric.name, no_data, query, raw, value, reason, now, requests)
    phase = Phase.SUCCESSFUL if condition.holds(value) else Phase.FAILED
    verb = "meets" if phase is Phase.SUCCESSFUL else "does not meet"
    return Measurement(metric.name, phase, query, raw, value, f"{verb} {condition}", now, requests)


def _single_value(prometheus: PrometheusResource, query: str) -> tuple[float | None, str]:
    samples = prometheus.query(query)
    if len(samples) > 1:
        raise PrometheusError(
            f"{query!r} answered {len(samples)} series; aggregate it (sum, max) to one number."
        )
    return (samples[0].value, samples[0].raw) if samples else (None, "")


# --- the analysis of one step ---------------------------------------------------------


@dataclass
class MetricRun:
    """The measurements of one metric so far, and whether its limits still hold."""

    metric: AnalysisMetric
    interval_seconds: float
    count: int
    next_at: float
    measurements: list[Measurement] = field(default_factory=list)

    def record(self, measurement: Measurement) -> None:
        self.measurements.append(measurement)
        self.next_at += self.interval_seconds

    def verdict(self) -> Phase | None:
        """The metric's outcome once known, else None (keep measuring)."""
        phases = [m.phase for m in self.measurements]
        if phases.count(Phase.FAILED) > self.metric.failure_limit:
            return Phase.FAILED
        if _trailing(phases, Phase.ERROR) > self.metric.consecutive_error_limit:
            return Phase.ERROR
        if phases.count(Phase.INCONCLUSIVE) > self.metric.inconclusive_limit:
            return Phase.INCONCLUSIVE
        if len(phases) < self.count:
            return None
        return Phase.SUCCESSFUL if phases[-1] is Phase.SUCCESSFUL else phases[-1]


def _trailing(phases: list[Phase], phase: Phase) -> int:
    run = 0
    for seen in reversed(phases):
        if seen is not phase:
            break
        run += 1
    return run


@dataclass(frozen=True)
class Analysis:
    """The verdict of one step's analysis and every measurement behind it."""

    phase: Phase
    reason: str
    measurements: list[Measurement]

    @property
    def successful(self) -> bool:
        return self.phase is Phase.SUCCESSFUL


@dataclass(frozen=True)
class Overrides:
    """Per-run changes to every metric's timing and minimum (tests shorten waits)."""

    interval_seconds: float | None = None
    count: int | None = None
    min_requests: float | None = None


def wait_until_scraped(
    prometheus: PrometheusResource,
    labels: dict[str, str],
    timeout: float,
    template: str = SCRAPED,
) -> bool:
    """Waits until Prometheus scrapes a target ``template`` selects; False after ``timeout``.

    Discovery of a new container takes Prometheus several seconds. Analysing
    before would read that quiet period as missing data, not as the canary's.
    """
    query = render_query(template, labels)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if any(sample.value == 1 for sample in prometheus.query(query)):
                return True
        except PrometheusError:
            pass  # an outage now shows up as Error measurements later
        time.sleep(SCRAPE_POLL_SECONDS)
    return False


def run_analysis(
    prometheus: PrometheusResource,
    metrics: list[AnalysisMetric],
    labels: dict[str, str],
    log: Log,
    overrides: Overrides | None = None,
) -> Analysis:
    """Measures every metric on its interval until all succeed or one fails.

    The first measurement waits one interval, so the new weight has produced data.
    """
    started = time.monotonic()
    runs = [_metric_run(metric, overrides or Overrides(), started) for metric in metrics]
    while pending := [run for run in runs if run.verdict() is None]:
        time.sleep(max(0.0, min(run.next_at for run in pending) - time.monotonic()))
        now = time.monotonic()
        for run in [run for run in pending if run.next_at <= now]:
            measurement = measure(prometheus, run.metric, labels)
            run.record(measurement)
            _log(log, labels, measurement)
            if run.verdict() not in (None, Phase.SUCCESSFUL):
                return _verdict(runs, run)
    return Analysis(Phase.SUCCESSFUL, "every metric passed", _all(runs))


def _metric_run(metric: AnalysisMetric, overrides: Overrides, started: float) -> MetricRun:
    if overrides.min_requests is not None and metric.min_requests is not None:
        minimum = metric.min_requests.model_copy(update={"threshold": overrides.min_requests})
        metric = metric.model_copy(update={"min_requests": minimum})
    interval = overrides.interval_seconds or metric.interval_seconds
    count = overrides.count or metric.measurement_count
    return MetricRun(metric, interval, count, next_at=started + interval)


def _verdict(runs: list[MetricRun], failed: MetricRun) -> Analysis:
    phase = failed.verdict()
    counts = {p.value: [m.phase for m in failed.measurements].count(p) for p in Phase}
    reason = (
        f"{failed.metric.name} is {phase.value} after {len(failed.measurements)} measurements"
        f" ({', '.join(f'{n} {name}' for name, n in counts.items() if n)}); last:"
        f" {failed.measurements[-1].summary()}"
    )
    return Analysis(phase, reason, _all(runs))


def _all(runs: list[MetricRun]) -> list[Measurement]:
    return sorted((m for run in runs for m in run.measurements), key=lambda m: m.measured_at)


def _log(log: Log, labels: dict[str, str], measurement: Measurement) -> None:
    target = f"{labels['service']} {labels['track']} {labels['version']}"
    line = f"Measured {target}: {measurement.summary()}."
    if measurement.phase in (Phase.ERROR, Phase.INCONCLUSIVE):
        log.warning(line)
    else:
        log.info(line)
