"""Canary analysis settings are checked when the catalog loads, naming the service and field."""

import pytest
import yaml

from release_pipeline.catalog import CATALOG_PATH, load_catalog
from release_pipeline.errors import CatalogError
from release_pipeline.promql import Condition

SCOPED = 'sum(rate(ml_prediction_errors_total{track="{{track}}"}[5m]))'


def catalog_with_metric(tmp_path, **fields):
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    raw["services"]["ml_engine"]["strategy"]["analysis"][0].update(fields)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_shipped_canary_analysis_is_scoped_to_the_canary():
    canary = load_catalog().service("ml_engine").strategy

    assert canary.steps == [10, 100]
    for metric in canary.analysis:
        assert "{{track}}" in metric.query and "{{version}}" in metric.query
        assert metric.min_requests is not None


@pytest.mark.parametrize(
    ("query", "complaint"),
    [
        ('sum(rate(ml_prediction_errors_total{track="{{track}}"}[5m])', "unclosed '('"),
        ('sum(rate(ml_prediction_errors_total{track="{{track}}"}[5m)))', "unbalanced ')'"),
        ('sum(x{track="{{track}}})', "unterminated string"),
        ('sum(x{track="{{trak}}"})', "unknown placeholder(s) ['trak']"),
        ('sum(x{track="{{ track-id }}"})', "malformed placeholder"),
        ("sum(rate(ml_prediction_errors_total[5m]))", "would mix stable and canary"),
    ],
)
def test_a_malformed_query_is_rejected_at_load_naming_service_and_field(tmp_path, query, complaint):
    with pytest.raises(CatalogError) as refused:
        load_catalog(catalog_with_metric(tmp_path, query=query))

    message = str(refused.value)
    assert "service 'ml_engine'" in message
    assert "strategy.canary.analysis.0.query" in message
    assert complaint in message


@pytest.mark.parametrize(
    "condition",
    [
        "result < ",
        "result << 0.05",
        "0.05 > result",
        "__import__('os').system('id')",
        "result < 0.05 or True",
        "len(result) < 1",
    ],
)
def test_a_malformed_success_condition_is_rejected_at_load(tmp_path, condition):
    with pytest.raises(CatalogError) as refused:
        load_catalog(catalog_with_metric(tmp_path, query=SCOPED, success_condition=condition))

    assert "strategy.canary.analysis.0.success_condition" in str(refused.value)
    assert "is not 'result <op> <number>'" in str(refused.value)


def test_a_min_requests_query_is_checked_like_the_metric_query(tmp_path):
    minimum = {"query": "sum(increase(ml_prediction_requests_total[5m]))", "threshold": 20}

    with pytest.raises(CatalogError, match=r"analysis\.0\.min_requests\.query.*mix stable"):
        load_catalog(catalog_with_metric(tmp_path, min_requests=minimum))


def test_a_metric_needs_exactly_one_of_count_and_duration(tmp_path):
    with pytest.raises(CatalogError, match="exactly one of count and duration_seconds"):
        load_catalog(catalog_with_metric(tmp_path, duration_seconds=300))


def test_canary_weights_must_increase(tmp_path):
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    raw["services"]["ml_engine"]["strategy"]["steps"] = [50, 10]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))

    with pytest.raises(CatalogError, match="strategy.canary.steps.*strictly increase"):
        load_catalog(path)


@pytest.mark.parametrize(
    ("text", "value", "holds"),
    [
        ("result < 0.05", 0.049, True),
        ("result<0.05", 0.05, False),
        ("result >= 1e2", 100, True),
        ("result != -1", -1, False),
        ("result == .5", 0.5, True),
    ],
)
def test_a_success_condition_is_a_comparison_with_a_number(text, value, holds):
    assert Condition.parse(text).holds(value) is holds
