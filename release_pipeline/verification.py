"""Post-deploy verification: the catalog's thresholds, watched through Prometheus for a bake.

Once a deploy has put the new version on traffic, each check of the service's
``verification`` (catalog ``VerificationCheck``) is measured every interval
until the bake window ends, with the canary analysis' measurement
(release_pipeline.analysis.measure): its query scoped to every container of the
new version. A check ends as one of three outcomes:

- passed: it never breached and its last measurement was Successful;
- breached: more Failed measurements than its ``failure_limit`` (its alert
  routes, PagerDuty, Slack or email, are told at once and the check is not
  measured again), or its last measurement of the bake Failed: a check still
  failing when the bake ends is not fine now, whatever its limit (told then);
- not measured: its last measurement had no number to judge (no data, fewer
  requests than its minimum, Prometheus down). That is never a pass.

The checks add up to a verdict: ``breached`` if any breached, ``unverified``
if none was measured at all (no evidence either way: like the canary
analysis, no data is never read as zero, so this fails the run too),
``incomplete`` if some were not measured, else ``passed``.

A breach fails the run, and traffic stays where it is: the release passed its
health and smoke checks (and the canary its analysis), so a breach after it is
a reason for a person to look, and the message names the ``<service>_rollback``
job that takes the service back. PagerDuty events carry one dedup key per
release, ``<service>-<version>``, so every page about one release is one incident.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from release_pipeline.analysis import Log, Measurement, Phase, measure, wait_until_scraped
from release_pipeline.catalog import Verification, VerificationCheck
from release_pipeline.resources.prometheus import PrometheusResource

# Every scraped target of the new version, whatever its track or instance.
SCRAPED = 'up{service="{{service}}",version="{{version}}"}'


class Outcome(StrEnum):
    PASSED = "passed"
    BREACHED = "breached"
    NOT_MEASURED = "not measured"


class Verdict(StrEnum):
    PASSED = "passed"  # every check passed
    INCOMPLETE = "incomplete"  # nothing breached, but some check was not measured
    UNVERIFIED = "unverified"  # no check was measured: nothing is known
    BREACHED = "breached"  # at least one check breached

    @property
    def fails(self) -> bool:
        """Whether the run fails: a breach, or a bake that measured nothing."""
        return self in (Verdict.BREACHED, Verdict.UNVERIFIED)


def dedup_key(service: str, version: str) -> str:
    """PagerDuty's dedup key of a release: every page about it lands in one incident."""
    return f"{service}-{version}"


def rollback_job(service: str) -> str:
    return f"{service}_rollback"


@dataclass(frozen=True)
class Settings:
    """The bake of one run: the catalog's, or a run's overrides (tests shorten it)."""

    bake_seconds: float
    interval_seconds: float
    scrape_wait_seconds: float
    min_requests: float | None = None

    @classmethod
    def of(cls, verification: Verification, **overrides: float | None) -> Settings:
        values = {
            "bake_seconds": verification.bake_seconds,
            "interval_seconds": verification.interval_seconds,
            "scrape_wait_seconds": verification.scrape_wait_seconds,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    @property
    def rounds(self) -> int:
        """Measurements per check: one every interval until the window ends."""
        return max(1, math.floor(self.bake_seconds / self.interval_seconds + 1e-9))


@dataclass
class CheckRun:
    """One check's measurements so far, and where its breach was sent."""

    check: VerificationCheck
    measurements: list[Measurement] = field(default_factory=list)
    alerted: dict[str, bool] = field(default_factory=dict)

    def breached(self) -> bool:
        """Past its ``failure_limit``: breached at once, whatever comes after."""
        failed = [m for m in self.measurements if m.phase is Phase.FAILED]
        return len(failed) > self.check.failure_limit

    def outcome(self) -> Outcome:
        """The check's outcome once the bake is over (or it breached)."""
        if self.breached():
            return Outcome.BREACHED
        last = self.measurements[-1].phase if self.measurements else None
        if last is Phase.SUCCESSFUL:
            return Outcome.PASSED
        if last is Phase.FAILED:
            return Outcome.BREACHED  # still failing when the bake ended
        return Outcome.NOT_MEASURED

    def worst(self) -> Measurement | None:
        """The measurement that explains the outcome: the last Failed one of a breach,
        else the last one."""
        failed = [m for m in self.measurements if m.phase is Phase.FAILED]
        if failed and self.outcome() is Outcome.BREACHED:
            return failed[-1]
        return (self.measurements or [None])[-1]

    def summary(self) -> str:
        worst = self.worst()
        if worst is None:
            return f"{self.check.name}: {self.outcome().value} (no measurement taken)"
        return f"{self.check.name}: {self.outcome().value}, {worst.summary()}"

    def as_dict(self) -> dict[str, Any]:
        phases = [m.phase.value for m in self.measurements]
        worst = self.worst()
        return {
            "check": self.check.name,
            "outcome": self.outcome().value,
            "condition": self.check.success_condition,
            "alert": self.check.routes,
            "alerted": self.alerted,
            "measurements": len(phases),
            "phases": {phase.value: phases.count(phase.value) for phase in Phase},
            "query": worst.query if worst else "",
            "value": worst.as_dict()["value"] if worst else None,
            "reason": worst.message if worst else "no measurement taken",
        }


@dataclass(frozen=True)
class Breach:
    """A check that breached: what the alert routes are told."""

    service: str
    version: str
    check: VerificationCheck
    measurement: Measurement
    run_url: str

    @property
    def summary(self) -> str:
        return (
            f"{self.service} {self.version} breached {self.check.name} after its deploy:"
            f" {self.measurement.summary()}"
        )

    @property
    def advice(self) -> str:
        return (
            f"Traffic was not moved: {self.service} {self.version} still serves."
            f" To go back, run {rollback_job(self.service)}."
        )

    def details(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "version": self.version,
            "check": self.check.name,
            "condition": self.check.success_condition,
            "value": self.measurement.raw,
            "query": self.measurement.query,
            "run": self.run_url,
            "rollback_job": rollback_job(self.service),
        }


@dataclass(frozen=True)
class Report:
    """Every check of one bake, and what they add up to."""

    service: str
    version: str
    settings: Settings
    runs: list[CheckRun]

    @property
    def verdict(self) -> Verdict:
        outcomes = {run.outcome() for run in self.runs}
        if Outcome.BREACHED in outcomes:
            return Verdict.BREACHED
        if outcomes == {Outcome.NOT_MEASURED}:
            return Verdict.UNVERIFIED
        if Outcome.NOT_MEASURED in outcomes:
            return Verdict.INCOMPLETE
        return Verdict.PASSED

    def of(self, outcome: Outcome) -> list[CheckRun]:
        return [run for run in self.runs if run.outcome() is outcome]

    def metadata(self) -> dict[str, Any]:
        return {
            "verification": self.verdict.value,
            "bake_seconds": self.settings.bake_seconds,
            "interval_seconds": self.settings.interval_seconds,
            "breached": [run.check.name for run in self.of(Outcome.BREACHED)],
            "not_measured": [run.check.name for run in self.of(Outcome.NOT_MEASURED)],
            "checks": [run.as_dict() for run in self.runs],
        }

    def not_measured(self) -> str:
        """The checks not measured and why, for people: ``a, b (reason); c (reason)``."""
        by_reason: dict[str, list[str]] = {}
        for run in self.of(Outcome.NOT_MEASURED):
            by_reason.setdefault(run.as_dict()["reason"], []).append(run.check.name)
        return "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items())

    def warning(self, run_url: str = "") -> str:
        """What Slack is told when some check was not measured: the release is not verified."""
        missing = self.of(Outcome.NOT_MEASURED)
        return (
            f":warning: {self.service} {self.version} is live but NOT verified:"
            f" {len(missing)} of {len(self.runs)} post-deploy checks were not measured during"
            f" its {self.settings.bake_seconds:g} s bake: {self.not_measured()}."
            f" Not measured is never a pass: look at the service yourself;"
            f" to go back, run {rollback_job(self.service)}. {run_url}"
        ).rstrip()

    def failure_message(self) -> str:
        if self.verdict is Verdict.UNVERIFIED:
            return (
                f"{self.service} {self.version} could not be verified: none of its"
                f" {len(self.runs)} post-deploy checks was measured during its"
                f" {self.settings.bake_seconds:g} s bake ({self.not_measured()})."
                " No data is never read as a pass. Traffic was not moved:"
                f" {self.service} {self.version} still serves. Check Prometheus and the"
                f" service; to go back, run {rollback_job(self.service)}."
            )
        breached = self.of(Outcome.BREACHED)
        alerts = "; ".join(f"{run.check.name} -> {_deliveries(run.alerted)}" for run in breached)
        return (
            f"{self.service} {self.version} breached {len(breached)} post-deploy"
            f" check(s) during its {self.settings.bake_seconds:g} s bake: "
            + "; ".join(run.worst().summary() for run in breached)
            + f". Traffic was not moved: {self.service} {self.version} still serves."
            f" To go back, run {rollback_job(self.service)}. Alerts: {alerts}."
        )


def _deliveries(alerted: dict[str, bool]) -> str:
    return ", ".join(route if ok else f"{route} (not delivered)" for route, ok in alerted.items())


class Alerter(Protocol):
    def __call__(self, breach: Breach) -> dict[str, bool]: ...


def verify(
    prometheus: PrometheusResource,
    checks: list[VerificationCheck],
    release: tuple[str, str],
    settings: Settings,
    log: Log,
    alert: Alerter,
    run_url: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Measures every check each interval for the bake; alerts on each breach as it happens."""
    service, version = release
    labels = {"service": service, "version": version}
    if settings.scrape_wait_seconds > 0 and not wait_until_scraped(
        prometheus, labels, settings.scrape_wait_seconds, template=SCRAPED
    ):
        log.warning(
            f"Prometheus did not scrape {service} {version} within"
            f" {settings.scrape_wait_seconds:g} s; its checks may go unmeasured."
        )
    runs = [CheckRun(_with_minimum(check, settings.min_requests)) for check in checks]
    log.info(
        f"Verifying {service} {version} for {settings.bake_seconds:g} s:"
        f" {len(runs)} checks every {settings.interval_seconds:g} s."
    )
    started = time.monotonic()
    for round_number in range(1, settings.rounds + 1):
        sleep(max(0.0, started + round_number * settings.interval_seconds - time.monotonic()))
        for run in [run for run in runs if not run.breached()]:
            measurement = measure(prometheus, run.check, labels)
            run.measurements.append(measurement)
            _log(log, service, version, measurement)
            if run.breached():
                run.alerted = alert(Breach(service, version, run.check, measurement, run_url))
        if all(run.breached() for run in runs):
            break  # nothing left to learn from the rest of the window
    for run in runs:
        # Within its limit, but still failing when the bake ended: a breach, told now.
        if run.outcome() is Outcome.BREACHED and not run.breached():
            run.alerted = alert(Breach(service, version, run.check, run.worst(), run_url))
    return Report(service, version, settings, runs)


def _with_minimum(check: VerificationCheck, minimum: float | None) -> VerificationCheck:
    if minimum is None or check.min_requests is None:
        return check
    return check.model_copy(
        update={"min_requests": check.min_requests.model_copy(update={"threshold": minimum})}
    )


def _log(log: Log, service: str, version: str, measurement: Measurement) -> None:
    line = f"Measured {service} {version}: {measurement.summary()}."
    if measurement.phase is Phase.SUCCESSFUL:
        log.info(line)
    else:
        log.warning(line)


# --- routing: the seed's alert table --------------------------------------------------


class SlackLike(Protocol):
    def post(self, channel: str, text: str, log: Any, color: str = "") -> bool: ...


class PagerDutyLike(Protocol):
    def trigger(
        self,
        summary: str,
        *,
        dedup_key: str,
        log: Any,
        source: str = ...,
        severity: str = ...,
        details: dict[str, Any] | None = None,
    ) -> bool: ...


class EmailLike(Protocol):
    def send(self, subject: str, body: str, log: Any) -> bool: ...


@dataclass(frozen=True)
class Alerts:
    """Sends a breach to each route its check names; a route that fails warns, never raises."""

    slack: SlackLike
    pagerduty: PagerDutyLike
    email: EmailLike
    channel: str
    log: Any

    def __call__(self, breach: Breach) -> dict[str, bool]:
        senders = {"pagerduty": self._page, "slack": self._post, "email": self._mail}
        delivered = {}
        for route in breach.check.routes:
            try:
                delivered[route] = senders[route](breach)
            except Exception as exc:  # noqa: BLE001 - an alert must never hide the breach
                self.log.warning(f"{route} alert for {breach.check.name} failed: {exc}")
                delivered[route] = False
        self.log.warning(f"{breach.summary}. Alerted: {delivered}.")
        return delivered

    def _page(self, breach: Breach) -> bool:
        return self.pagerduty.trigger(
            breach.summary,
            dedup_key=dedup_key(breach.service, breach.version),
            log=self.log,
            source=f"release_pipeline/{breach.service}",
            severity="critical",
            details=breach.details(),
        )

    def _post(self, breach: Breach) -> bool:
        text = f":rotating_light: {breach.summary}. {breach.advice} {breach.run_url}".rstrip()
        return self.slack.post(self.channel, text, self.log, color="danger")

    def _mail(self, breach: Breach) -> bool:
        subject = (
            f"[release_pipeline] {breach.service} {breach.version} breached"
            f" {breach.check.name} after its deploy"
        )
        facts = "\n".join(f"{name}: {value}" for name, value in breach.details().items())
        body = f"{breach.summary}.\n\n{breach.advice}\n\n{facts}\n"
        return self.email.send(subject, body, self.log)
