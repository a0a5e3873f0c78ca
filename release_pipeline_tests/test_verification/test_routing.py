"""The bake and the alert routing, over small in-memory doubles of Prometheus and the alerters.

The same code against the sandbox's real Prometheus, Slack, PagerDuty and mail
server is in test_verify_release.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from release_pipeline.catalog import MinRequests, Verification, VerificationCheck
from release_pipeline.errors import PrometheusError, ReleaseInputError
from release_pipeline.resources.prometheus import Sample
from release_pipeline.steps.verify import VerifyConfig
from release_pipeline.verification import (
    Alerts,
    Outcome,
    Settings,
    Verdict,
    dedup_key,
    verify,
)

SCOPE = 'service="{{service}}",version="{{version}}"'
RELEASE = ("backend", "7.1.0")


def check(name: str, alert: str | list[str], condition: str = "result < 1", **fields):
    return VerificationCheck(
        name=name,
        query=f"max({name}{{{SCOPE}}})",
        success_condition=condition,
        alert=alert,
        **fields,
    )


@dataclass
class FakePrometheus:
    """Answers each metric name with the next value of its script (None: no data, an
    exception: raised); the last value repeats."""

    scripts: dict[str, list[Any]]
    queries: list[str] = field(default_factory=list)

    def query(self, promql: str) -> list[Sample]:
        self.queries.append(promql)
        name = next(name for name in self.scripts if name in promql)
        script = self.scripts[name]
        value = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(value, Exception):
            raise value
        return [] if value is None else [Sample({}, float(value), str(value))]


@dataclass
class Recorder:
    """Slack, PagerDuty and email at once: records what each was asked to send."""

    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)

    def post(self, channel, text, log, color=""):
        return self._take("slack", channel=channel, text=text, color=color)

    def trigger(self, summary, *, dedup_key, log, source="", severity="", details=None):
        return self._take(
            "pagerduty", summary=summary, dedup_key=dedup_key, severity=severity, details=details
        )

    def send(self, subject, body, log):
        return self._take("email", subject=subject, body=body)

    def _take(self, route: str, **what) -> bool:
        if route in self.broken:
            raise ConnectionError(f"{route} is down")
        self.sent.append((route, what))
        return True

    def routes(self) -> list[str]:
        return [route for route, _ in self.sent]


class Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, msg: str) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str) -> None:
        self.lines.append(("warning", msg))


def bake(checks, scripts, rounds: int = 3, recorder: Recorder | None = None, **settings):
    recorder = recorder or Recorder()
    log = Log()
    alerts = Alerts(recorder, recorder, recorder, channel="#deployments", log=log)
    timing = {"bake_seconds": rounds, "interval_seconds": 1, "scrape_wait_seconds": 0}
    report = verify(
        FakePrometheus(scripts),
        checks,
        RELEASE,
        Settings(**{**timing, **settings}),
        log,
        alerts,
        run_url="http://dagster/runs/abc",
        sleep=lambda seconds: None,
    )
    return report, recorder, log


def test_every_check_in_range_passes_and_nobody_is_alerted():
    checks = [check("latency", "pagerduty"), check("errors", "slack")]

    report, recorder, _ = bake(checks, {"latency": [0.1], "errors": [0.5]})

    assert report.verdict is Verdict.PASSED
    assert [len(run.measurements) for run in report.runs] == [3, 3]
    assert recorder.sent == []


@pytest.mark.parametrize(
    ("route", "expected"),
    [("pagerduty", ["pagerduty"]), ("slack", ["slack"]), ("email", ["email"])],
)
def test_a_breach_goes_to_the_route_its_check_names(route, expected):
    report, recorder, _ = bake([check("latency", route)], {"latency": [0.1, 3.0]})

    assert report.verdict is Verdict.BREACHED
    assert recorder.routes() == expected


def test_pagerduty_gets_one_dedup_key_per_release_and_critical_severity():
    checks = [check("latency", "pagerduty"), check("errors", ["pagerduty", "slack"])]

    _, recorder, _ = bake(checks, {"latency": [5.0], "errors": [5.0]})

    pages = [what for route, what in recorder.sent if route == "pagerduty"]
    assert [page["dedup_key"] for page in pages] == ["backend-7.1.0", "backend-7.1.0"]
    assert dedup_key(*RELEASE) == "backend-7.1.0"
    assert {page["severity"] for page in pages} == {"critical"}
    assert pages[0]["details"]["rollback_job"] == "backend_rollback"
    assert recorder.routes() == ["pagerduty", "pagerduty", "slack"]


def test_each_breach_is_alerted_once_and_its_check_is_not_measured_again():
    prometheus_script = {"latency": [3.0, 0.1, 0.1], "errors": [0.1]}

    report, recorder, _ = bake([check("latency", "slack"), check("errors", "email")],
                               prometheus_script, rounds=3)  # fmt: skip

    assert recorder.routes() == ["slack"]
    latency, errors = report.runs
    assert (len(latency.measurements), len(errors.measurements)) == (1, 3)
    assert latency.alerted == {"slack": True}


def test_failures_within_the_failure_limit_are_not_a_breach():
    report, recorder, _ = bake(
        [check("latency", "slack", failure_limit=1)], {"latency": [3.0, 0.1, 0.1]}
    )

    assert report.verdict is Verdict.PASSED
    assert recorder.sent == []


@pytest.mark.parametrize(
    "answers",
    [[None], [float("nan")], [PrometheusError("Prometheus at x is unreachable")]],
    ids=["no_data", "nan", "prometheus_down"],
)
def test_a_check_without_numbers_is_not_measured_never_passed(answers):
    report, recorder, log = bake(
        [check("latency", "pagerduty"), check("errors", "slack")],
        {"latency": answers, "errors": [0.1]},
    )

    assert report.verdict is Verdict.INCOMPLETE
    assert [run.outcome() for run in report.runs] == [Outcome.NOT_MEASURED, Outcome.PASSED]
    assert report.metadata()["not_measured"] == ["latency"]
    assert recorder.sent == []
    assert any(level == "warning" and "latency" in line for level, line in log.lines)


def test_too_few_requests_is_not_measured_and_the_run_can_lower_the_minimum():
    minimum = MinRequests(query=f"sum(requests{{{SCOPE}}})", threshold=20)
    checks = [check("latency", "pagerduty", min_requests=minimum), check("errors", "slack")]
    scripts = {"latency": [5.0], "requests": [6], "errors": [0.1]}

    quiet, recorder, _ = bake(checks, dict(scripts))
    assert quiet.verdict is Verdict.INCOMPLETE
    assert quiet.of(Outcome.NOT_MEASURED)[0].check.name == "latency"
    assert recorder.sent == []

    lowered, recorder, _ = bake(checks, dict(scripts), min_requests=5)
    assert lowered.verdict is Verdict.BREACHED
    assert recorder.routes() == ["pagerduty"]


def test_a_broken_route_warns_and_the_others_still_get_the_breach():
    recorder = Recorder(broken={"slack"})

    report, recorder, log = bake(
        [check("latency", ["slack", "email"])], {"latency": [3.0]}, recorder=recorder
    )

    assert recorder.routes() == ["email"]
    assert report.runs[0].alerted == {"slack": False, "email": True}
    assert any("slack alert for latency failed" in line for _, line in log.lines)
    assert "latency -> slack (not delivered), email" in report.failure_message()


def test_the_failure_message_says_traffic_stayed_and_names_the_rollback_job():
    checks = [check("latency", "pagerduty", condition="result < 0.2")]

    report, _, _ = bake(checks, {"latency": [0.35]})

    message = report.failure_message()

    assert "backend 7.1.0 breached 1 post-deploy check(s) during its 3 s bake" in message
    assert "latency=0.35 Failed" in message
    assert "Traffic was not moved: backend 7.1.0 still serves" in message
    assert "run backend_rollback" in message


def test_the_bake_stops_early_once_every_check_has_breached():
    report, _, _ = bake([check("latency", "slack")], {"latency": [3.0]}, rounds=10)

    assert len(report.runs[0].measurements) == 1


def test_queries_are_scoped_to_the_release_being_verified():
    prometheus = FakePrometheus({"latency": [0.1]})
    recorder = Recorder()
    alerts = Alerts(recorder, recorder, recorder, channel="#d", log=Log())
    settings = Settings(bake_seconds=1, interval_seconds=1, scrape_wait_seconds=0)

    verify(prometheus, [check("latency", "slack")], RELEASE, settings, Log(), alerts,
           sleep=lambda s: None)  # fmt: skip

    assert prometheus.queries == ['max(latency{service="backend",version="7.1.0"})']


def test_email_and_slack_texts_carry_the_facts_and_the_advice():
    checks = [check("memory_usage", ["email", "slack"], condition="result < 0.85")]

    _, recorder, _ = bake(checks, {"memory_usage": [0.93]})

    [(_, mail), (_, post)] = recorder.sent
    assert mail["subject"] == (
        "[release_pipeline] backend 7.1.0 breached memory_usage after its deploy"
    )
    assert "run backend_rollback" in mail["body"]
    assert "condition: result < 0.85" in mail["body"]
    assert 'max(memory_usage{service="backend",version="7.1.0"})' in mail["body"]
    assert post["color"] == "danger"
    assert "http://dagster/runs/abc" in post["text"]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"bake_seconds": 0}, "bake_seconds"),
        ({"interval_seconds": -1}, "interval_seconds"),
        ({"min_requests": 0}, "min_requests must be > 0"),
        ({"bake_seconds": 5, "interval_seconds": 10}, "longer than bake_seconds"),
    ],
)
def test_invalid_run_overrides_are_refused_naming_the_field(overrides, problem):
    verification = Verification(checks=[check("latency", "slack")])

    with pytest.raises(ReleaseInputError, match=problem):
        VerifyConfig(**overrides).resolve(verification)


def test_run_overrides_replace_only_what_they_set():
    verification = Verification(bake_seconds=300, interval_seconds=30, checks=[check("x", "slack")])

    settings = VerifyConfig(bake_seconds=60, min_requests=5).resolve(verification)

    assert settings == Settings(
        bake_seconds=60, interval_seconds=30, scrape_wait_seconds=60, min_requests=5
    )
    assert settings.rounds == 2
    assert Settings(bake_seconds=300, interval_seconds=30, scrape_wait_seconds=0).rounds == 10
