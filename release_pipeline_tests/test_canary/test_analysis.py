"""The analysis: one measurement per phase against the sandbox's real Prometheus, and verdicts."""

import math
import time

import pytest

from release_pipeline.analysis import Measurement, MetricRun, Phase, measure
from release_pipeline.catalog import AnalysisMetric
from release_pipeline.resources.prometheus import PrometheusResource

SCOPE = 'track="{{track}}",version="{{version}}"'
EMPTY = f"sum(ml_no_such_metric_total{{{SCOPE}}})"
NAN = f"sum(ml_prediction_errors_total{{{SCOPE}}}) / sum(ml_prediction_errors_total{{{SCOPE}}})"
POSITIVE_INF = f"count(up{{{SCOPE}}}) / 0"
NEGATIVE_INF = f"-count(up{{{SCOPE}}}) / 0"
ONE = f"count(up{{{SCOPE}}})"


def metric(query: str = ONE, condition: str = "result < 2", **fields) -> AnalysisMetric:
    return AnalysisMetric(name="probe", query=query, success_condition=condition, count=3, **fields)


@pytest.fixture(scope="module")
def stable_labels(live_ml_engine) -> dict[str, str]:
    return {"service": "ml_engine", "track": "stable", "version": live_ml_engine["version"]}


@pytest.fixture(scope="module")
def prometheus(sandbox_env, stable_labels) -> PrometheusResource:
    resource = PrometheusResource(url=sandbox_env["PROMETHEUS_URL"])
    deadline = time.monotonic() + 30
    while not resource.query(f'up{{version="{stable_labels["version"]}"}}'):
        assert time.monotonic() < deadline, "Prometheus never scraped the live ML engine"
        time.sleep(0.5)
    return resource


pytestmark = pytest.mark.sandbox


def test_measure_a_number_that_meets_the_condition_is_successful(prometheus, stable_labels):
    measurement = measure(prometheus, metric(), stable_labels)

    assert (measurement.phase, measurement.value, measurement.raw) == (Phase.SUCCESSFUL, 1, "1")
    assert f'version="{stable_labels["version"]}"' in measurement.query


def test_measure_a_number_that_misses_the_condition_is_failed(prometheus, stable_labels):
    measurement = measure(prometheus, metric(condition="result > 2"), stable_labels)

    assert measurement.phase is Phase.FAILED
    assert "does not meet result > 2" in measurement.message


@pytest.mark.parametrize("no_data", ["inconclusive", "failed"])
@pytest.mark.parametrize(
    ("query", "raw"),
    [(EMPTY, ""), (NAN, "NaN"), (POSITIVE_INF, "+Inf"), (NEGATIVE_INF, "-Inf")],
    ids=["empty", "nan", "plus_inf", "minus_inf"],
)
def test_measure_no_data_is_never_read_as_a_number(prometheus, stable_labels, query, raw, no_data):
    measurement = measure(
        prometheus, metric(query, "result < 0.05", no_data=no_data), stable_labels
    )

    assert measurement.phase is (Phase.FAILED if no_data == "failed" else Phase.INCONCLUSIVE)
    assert measurement.raw == raw
    assert measurement.value is None or not math.isfinite(measurement.value)
    assert measurement.as_dict()["value"] is None


@pytest.mark.parametrize("no_data", ["inconclusive", "failed"])
def test_measure_fewer_requests_than_the_minimum_is_not_evidence(
    prometheus, stable_labels, no_data
):
    minimum = {"query": f"sum(ml_prediction_requests_total{{{SCOPE}}})", "threshold": 1e9}
    measurement = measure(prometheus, metric(no_data=no_data, min_requests=minimum), stable_labels)

    assert measurement.phase is (Phase.FAILED if no_data == "failed" else Phase.INCONCLUSIVE)
    assert "fewer than 1e+09" in measurement.message
    assert measurement.requests is not None and measurement.requests < 1e9


def test_measure_of_an_unreachable_prometheus_is_an_error_not_an_exception(stable_labels):
    down = PrometheusResource(url="http://127.0.0.1:9", timeout_seconds=1)

    measurement = measure(down, metric(), stable_labels)

    assert measurement.phase is Phase.ERROR
    assert "unreachable" in measurement.message


def test_measure_of_a_query_prometheus_refuses_is_an_error(prometheus, stable_labels):
    measurement = measure(prometheus, metric(f"rate(up{{{SCOPE}}})"), stable_labels)

    assert measurement.phase is Phase.ERROR
    assert "refused" in measurement.message


def test_measure_of_several_series_is_an_error_asking_for_an_aggregate(prometheus, stable_labels):
    two = f'up{{{SCOPE}}} or label_replace(up{{{SCOPE}}}, "copy", "1", "", "")'

    measurement = measure(prometheus, metric(two), stable_labels)

    assert measurement.phase is Phase.ERROR
    assert "answered 2 series" in measurement.message


def phases(*letters: str) -> list[Measurement]:
    names = {"S": Phase.SUCCESSFUL, "F": Phase.FAILED, "E": Phase.ERROR, "I": Phase.INCONCLUSIVE}
    return [Measurement("m", names[letter], "q", "", None, "", 0.0) for letter in letters]


@pytest.mark.parametrize(
    ("limits", "seen", "verdict"),
    [
        ({}, "SS", None),
        ({}, "SSSSS", Phase.SUCCESSFUL),
        ({}, "F", Phase.FAILED),
        ({"failure_limit": 1}, "FS", None),
        ({"failure_limit": 1}, "FSF", Phase.FAILED),
        ({"failure_limit": 1}, "SSSSF", Phase.FAILED),
        ({"consecutive_error_limit": 2}, "EESE", None),
        ({"consecutive_error_limit": 2}, "SEEE", Phase.ERROR),
        ({"consecutive_error_limit": 2}, "SSSSE", Phase.ERROR),
        ({"inconclusive_limit": 1}, "ISSSS", Phase.SUCCESSFUL),
        ({"inconclusive_limit": 1}, "II", Phase.INCONCLUSIVE),
        ({"inconclusive_limit": 2}, "SSSSI", Phase.INCONCLUSIVE),
    ],
)
def test_verdict_follows_the_limits_and_only_a_successful_last_measurement_promotes(
    limits, seen, verdict
):
    run = MetricRun(metric(**limits), interval_seconds=1, count=5, next_at=0)

    for measurement in phases(*seen):
        run.record(measurement)

    assert run.verdict() is verdict
