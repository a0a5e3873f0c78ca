"""verify_release against the sandbox: real containers, Prometheus, Slack, PagerDuty and mail.

The tests run in file order and build on each other's live state: a healthy
backend release passes its bake with every threshold measured; a release of a
slow, failing backend pages PagerDuty once under its release's dedup key and
tells Slack, while traffic stays on it until backend_rollback flips back; an ML
engine whose predictions take 2.5 s is reported by email.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dagster as dg
import docker
import httpx
import pytest

from release_pipeline.assets import deployment_key
from release_pipeline.catalog import default_catalog
from release_pipeline.definitions import defs
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.steps.context import SERVICE_TAG
from release_pipeline.steps.verify import verify_release
from release_pipeline.strategies.deployment import Deployment
from release_pipeline_tests.support import (
    commit_to_branch,
    failure_message,
    lb_url,
    live_health,
    release_config,
    rollback_config,
    run_job,
)
from sandbox.pagerduty import pagerduty_events, pagerduty_reset
from sandbox.slack import slack_messages, slack_reset
from sandbox.smtp import smtp_messages, smtp_reset

pytestmark = pytest.mark.sandbox

# A bake long enough for real scrapes and real rates, short enough for a test.
BAKE = {"bake_seconds": 6, "interval_seconds": 3, "scrape_wait_seconds": 20, "min_requests": 5}
ML_APP = Path(__file__).resolve().parents[2] / "examples/trading-platform/apps/ml-engine"
PREDICTION = {"symbol": "BTCUSDT", "horizon": 18}
SLOW_AND_FAILING_BEHIND_NGINX = "RESPONSE_DELAY_MS=300\nFAIL_BEHIND_PROXY=/api/v1/ping\n"


class PacedTraffic:
    """Requests from a few threads, one every ``pause`` seconds each, until stopped.

    Paced, unlike support.Traffic: a healthy container must stay well below its CPU
    threshold, as it would under its normal load.
    """

    def __init__(self, url: str, threads: int = 1, pause: float = 0.1, **request) -> None:
        self.url, self.pause, self.request = url, pause, request
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def __enter__(self) -> PacedTraffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _loop(self) -> None:
        deadline = time.monotonic() + 600
        method = "POST" if "json" in self.request else "GET"
        with httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                try:
                    status = client.request(method, self.url, **self.request).status_code
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                self.statuses.append(status)
                time.sleep(self.pause)


def verified_config(version: str, git_ref: str) -> dict:
    config = release_config(version, git_ref=git_ref)
    config["ops"]["verify_release"] = {"config": BAKE}
    return config


def observation(result, key: dg.AssetKey) -> dict:
    events = [
        event.event_specific_data.asset_observation
        for event in result.all_events
        if event.event_type_value == "ASSET_OBSERVATION"
    ]
    [seen] = [obs for obs in events if obs.asset_key == key]
    return {name: value.value for name, value in seen.metadata.items()}


def output_metadata(result, step: str) -> dict:
    [event] = [
        event
        for event in result.all_events
        if event.event_type_value == "STEP_OUTPUT" and event.step_key == step
    ]
    return {name: value.value for name, value in event.step_output_data.metadata.items()}


@pytest.fixture(scope="module")
def healthy_release(sandbox_env):
    """A backend release of its own commit, baked under paced traffic through nginx."""
    branch = commit_to_branch(
        sandbox_env, "verify-healthy", {"apps/backend/VERIFY.md": "Baked by test_verification.\n"}
    )
    with PacedTraffic(lb_url(sandbox_env) + "/api/v1/ping"):
        result = run_job("backend_release", verified_config("verify-1.0", branch))
    assert result.success, failure_message(result)
    return result


def test_a_healthy_release_passes_with_every_threshold_measured(sandbox_env, healthy_release):
    seen = observation(healthy_release, deployment_key("backend"))

    assert seen["verification"] == "passed", seen["checks"]
    assert seen["not_measured"] == [] and seen["breached"] == []
    outcomes = {check["check"]: check["outcome"] for check in seen["checks"]}
    assert outcomes == {
        "api_p95_latency": "passed",
        "api_error_rate": "passed",
        "db_connections": "passed",
        "memory_usage": "passed",
        "cpu_usage": "passed",
    }
    values = {check["check"]: check["value"] for check in seen["checks"]}
    assert 0 < values["memory_usage"] < 0.85 and 0 < values["cpu_usage"] < 0.75
    assert 0 < values["db_connections"] < 0.8 and values["api_error_rate"] == 0
    assert live_health(sandbox_env)["version"] == "verify-1.0"
    assert output_metadata(healthy_release, "verify_release")["verification"] == "passed"


def test_a_breaching_release_pages_once_tells_slack_and_leaves_traffic_alone(
    sandbox_env, healthy_release
):
    warm_color = live_health(sandbox_env)["color"]
    branch = commit_to_branch(
        sandbox_env,
        "verify-slow-and-failing",
        # Slow everywhere, failing only behind nginx: health, integration and smoke pass.
        {"apps/backend/config/runtime.env": SLOW_AND_FAILING_BEHIND_NGINX},
    )
    for reset in (pagerduty_reset, slack_reset, smtp_reset):
        reset(sandbox_env)

    with PacedTraffic(lb_url(sandbox_env) + "/api/v1/ping", threads=2, pause=0.05):
        result = run_job("backend_release", verified_config("verify-2.0", branch))

    assert [event.step_key for event in result.get_step_failure_events()] == ["verify_release"]
    message = failure_message(result)
    assert "backend verify-2.0 breached 2 post-deploy check(s)" in message
    assert "api_p95_latency=" in message and "api_error_rate=" in message
    assert "Traffic was not moved" in message and "run backend_rollback" in message

    [page] = pagerduty_events(sandbox_env)
    assert page["dedup_key"] == "backend-verify-2.0"
    assert page["payload"]["severity"] == "critical"
    assert "api_p95_latency" in page["payload"]["summary"]
    texts = [m["text"] for m in slack_messages(sandbox_env)]
    assert any(":rotating_light:" in t and "api_error_rate" in t for t in texts), texts
    assert not any(":rotating_light:" in t and "api_p95_latency" in t for t in texts)
    assert smtp_messages(sandbox_env) == [], "memory and CPU stayed in range"

    seen = observation(result, deployment_key("backend"))
    assert seen["verification"] == "breached"
    assert seen["breached"] == ["api_p95_latency", "api_error_rate"]
    assert live_health(sandbox_env)["version"] == "verify-2.0", "traffic was left alone"

    rollback = run_job("backend_rollback", rollback_config())
    assert rollback.success, failure_message(rollback)
    health = live_health(sandbox_env)
    assert (health["version"], health["color"]) == ("verify-1.0", warm_color)


@pytest.fixture
def slow_ml_engine(sandbox_env):
    """An ML engine container whose predictions take 2.5 s, labelled as a live release."""
    engine = DockerResource(
        base_url=sandbox_env["DOCKER_HOST"],
        environment=sandbox_env["RELEASE_ENVIRONMENT"],
        base_image=sandbox_env["RELEASE_BASE_IMAGE"],
    )
    tag = f"release-sandbox/verify-ml-engine:{sandbox_env['RELEASE_ENVIRONMENT']}"
    engine.build(ML_APP, "Dockerfile.gpu", [tag], labels={})
    name = engine.container_name("ml_engine", "verify")
    version = "verify-ml-1"
    labels = {
        "release_pipeline.service": "ml_engine",
        "release_pipeline.color": "verify",
        "release_pipeline.version": version,
        "release_pipeline.commit": "none",
    }
    env = {
        "APP_VERSION": version,
        "APP_COLOR": "verify",
        "ML_API_KEY": sandbox_env["ML_API_KEY"],
        "ML_PREDICTION_DELAY_MS": "2500",
    }
    service = default_catalog().service("ml_engine")
    container = engine.run(
        tag, name=name, port=8000, labels=labels, env=env, **service.container_limits()
    )
    yield container, version
    engine.remove(name)
    docker.DockerClient(base_url=sandbox_env["DOCKER_HOST"]).images.remove(tag, force=True)


def test_slow_predictions_are_reported_by_email(sandbox_env, slow_ml_engine):
    container, version = slow_ml_engine
    resources = {key: defs.resources[key] for key in ("prometheus", "slack", "pagerduty", "email")}

    @dg.op
    def slow_ml_engine_is_live():
        return Deployment(
            active="verify", previous=None, version=version, image="", switch_seconds=0
        )

    @dg.job(tags={SERVICE_TAG: "ml_engine"}, resource_defs=resources)
    def verify_ml_engine():
        verify_release(slow_ml_engine_is_live())

    for reset in (pagerduty_reset, slack_reset, smtp_reset):
        reset(sandbox_env)
    headers = {"X-API-Key": sandbox_env["ML_API_KEY"]}
    predictions = container.url + "/predictions"
    with PacedTraffic(predictions, threads=4, pause=0, json=PREDICTION, headers=headers):
        result = verify_ml_engine.execute_in_process(
            run_config={"ops": {"verify_release": {"config": {**BAKE, "min_requests": 3}}}},
            raise_on_error=False,
        )

    assert not result.success
    assert "ml_prediction_time=" in failure_message(result)
    assert "run ml_engine_rollback" in failure_message(result)
    [mail] = smtp_messages(sandbox_env)
    assert mail["subject"] == (
        f"[release_pipeline] ml_engine {version} breached ml_prediction_time after its deploy"
    )
    assert "run ml_engine_rollback" in mail["body"] and "condition: result < 2" in mail["body"]
    assert mail["tls"] and mail["login"] == sandbox_env["SMTP_USERNAME"]
    assert pagerduty_events(sandbox_env) == []
    assert not any(":rotating_light:" in m["text"] for m in slack_messages(sandbox_env))
