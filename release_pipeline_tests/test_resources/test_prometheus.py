"""PrometheusResource against the sandbox's real Prometheus."""

import math
import time

import pytest

from release_pipeline.errors import PrometheusError
from release_pipeline.resources.prometheus import PrometheusResource

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def prometheus(sandbox_env) -> PrometheusResource:
    return PrometheusResource(url=sandbox_env["PROMETHEUS_URL"], timeout_seconds=5)


def test_query_reads_scalars_including_nan_and_infinities(prometheus):
    values = [prometheus.query(expr)[0] for expr in ("1 + 1", "0 / 0", "1 / 0", "-1 / 0")]

    assert values[0].value == 2 and values[0].labels == {}
    assert math.isnan(values[1].value) and values[1].raw == "NaN"
    assert [v.raw for v in values[2:]] == ["+Inf", "-Inf"]


def test_query_returns_one_sample_per_series_with_its_labels(prometheus):
    samples = prometheus.query('label_replace(vector(3), "track", "canary", "", "")')

    assert [(s.labels, s.value) for s in samples] == [({"track": "canary"}, 3.0)]


def test_query_range_returns_points_over_time(prometheus):
    end = time.time()

    (series,) = prometheus.query_range("vector(1)", start=end - 10, end=end, step_seconds=2)

    assert len(series.points) == 6
    assert {value for _, value in series.points} == {1.0}


def test_a_query_prometheus_cannot_parse_is_refused_with_its_reason(prometheus):
    with pytest.raises(PrometheusError, match=r"refused 'rate\(up\)' \(HTTP 400\).*range vector"):
        prometheus.query("rate(up)")


def test_an_unreachable_prometheus_is_a_prometheus_error_naming_it():
    down = PrometheusResource(url="http://127.0.0.1:9", timeout_seconds=1)

    with pytest.raises(PrometheusError, match=r"http://127.0.0.1:9 is unreachable"):
        down.query("up")
