"""The seed's post-deploy thresholds in the catalog, and the errors of a broken verification."""

from pathlib import Path

import pytest
import yaml

from release_pipeline.catalog import CATALOG_PATH, load_catalog
from release_pipeline.errors import CatalogError
from release_pipeline.jobs import RELEASE_GRAPHS

# The seed's section 7.2: metric, threshold, alert, on the services each one measures.
SEED_TABLE = [
    ("backend", "api_p95_latency", "result < 0.2", ["pagerduty"]),
    ("backend", "api_error_rate", "result < 0.01", ["slack"]),
    ("ml_engine", "ml_prediction_time", "result < 2", ["email"]),
    ("backend", "db_connections", "result < 0.8", ["slack"]),
    ("data_service", "db_connections", "result < 0.8", ["slack"]),
    ("backend", "memory_usage", "result < 0.85", ["email"]),
    ("ml_engine", "memory_usage", "result < 0.85", ["email"]),
    ("data_service", "memory_usage", "result < 0.85", ["email"]),
    ("backend", "cpu_usage", "result < 0.75", ["email"]),
    ("ml_engine", "cpu_usage", "result < 0.75", ["email"]),
    ("data_service", "cpu_usage", "result < 0.75", ["email"]),
]


@pytest.mark.parametrize(("service", "name", "condition", "routes"), SEED_TABLE)
def test_the_catalog_holds_the_seeds_thresholds_and_alert_routes(service, name, condition, routes):
    checks = {check.name: check for check in load_catalog().service(service).verification.checks}

    assert checks[name].success_condition == condition
    assert checks[name].routes == routes


def test_every_verified_service_has_container_limits_to_measure_against():
    catalog = load_catalog()
    verified = [svc for svc in catalog.services.values() if svc.verification is not None]

    assert sorted(svc.name for svc in verified) == ["backend", "data_service", "ml_engine"]
    assert all(svc.limits is not None for svc in verified)


def test_the_release_graphs_of_verified_services_run_verify_release():
    for kind in ("blue_green", "rolling", "canary"):
        release_graph, rollback_graph = RELEASE_GRAPHS[kind]
        assert "verify_release" in {node.name for node in release_graph.nodes}
        assert "verify_release" not in {node.name for node in rollback_graph.nodes}


def write_catalog(tmp_path: Path, service: str, check: dict) -> Path:
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    raw["services"][service]["verification"] = {"checks": [check]}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


SCOPED = 'max(x{service="{{service}}",version="{{version}}"})'


@pytest.mark.parametrize(
    ("check", "problem"),
    [
        (
            {"name": "x", "query": "max(x)", "success_condition": "result < 1", "alert": "slack"},
            "select the new version with {{version}}",
        ),
        (
            {
                "name": "x",
                "query": 'max(x{track="{{track}}",version="{{version}}"})',
                "success_condition": "result < 1",
                "alert": "slack",
            },
            "unknown placeholder(s) ['track']",
        ),
        (
            {"name": "x", "query": SCOPED, "success_condition": "below 1", "alert": "slack"},
            "is not 'result <op> <number>'",
        ),
        (
            {"name": "x", "query": SCOPED, "success_condition": "result < 1", "alert": "sms"},
            "verification.checks.0.alert",
        ),
        (
            {
                "name": "x",
                "query": SCOPED + ")",
                "success_condition": "result < 1",
                "alert": "email",
            },
            "unbalanced ')'",
        ),
    ],
    ids=["unscoped", "track", "condition", "route", "brackets"],
)
def test_a_broken_check_names_the_service_and_what_is_wrong(tmp_path, check, problem):
    with pytest.raises(CatalogError) as error:
        load_catalog(write_catalog(tmp_path, "backend", check))

    assert "service 'backend'" in str(error.value)
    assert problem in str(error.value)


def test_a_shared_check_may_name_no_release(tmp_path):
    check = {
        "name": "db",
        "scope": "shared",
        "query": 'sum(pg_stat_activity_count{service="database"})',
        "success_condition": "result < 80",
        "alert": "slack",
    }

    catalog = load_catalog(write_catalog(tmp_path, "backend", check))

    assert catalog.service("backend").verification.checks[0].scope == "shared"


def test_check_names_are_unique(tmp_path):
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    check = {"name": "x", "query": SCOPED, "success_condition": "result < 1", "alert": "slack"}
    raw["services"]["backend"]["verification"] = {"checks": [check, dict(check)]}
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))

    with pytest.raises(CatalogError, match=r"service 'backend'.*repeated: \['x'\]"):
        load_catalog(path)
