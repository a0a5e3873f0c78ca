"""The canary strategy itself, against the sandbox's Docker engine, nginx and Prometheus."""

import dataclasses
import threading

import pytest

from release_pipeline.analysis import Overrides
from release_pipeline.catalog import default_catalog
from release_pipeline.errors import AnalysisFailed
from release_pipeline.strategies import canary, tracks
from release_pipeline_tests.test_canary.canary_support import (
    WeightWatcher,
    deployer,
    live_health,
    ml_engine_containers,
    prediction_traffic,
    release_of_live_image,
    upstream_state,
)
from sandbox import prometheus as sandbox_prometheus

pytestmark = pytest.mark.sandbox


def test_progressive_weights_are_each_analysed_then_promoted(sandbox_env, live_ml_engine):
    release = release_of_live_image(sandbox_env, "steps-1", steps=[10, 25, 50, 100])

    with WeightWatcher(sandbox_env) as watcher, prediction_traffic(sandbox_env) as traffic:
        rollout = canary.deploy(deployer(sandbox_env), release)

    assert rollout.verdict == "promoted"
    assert [(weight, analysis.phase.value) for weight, analysis in rollout.steps] == [
        (10, "Successful"), (25, "Successful"), (50, "Successful"), (100, "Successful")
    ]  # fmt: skip
    assert watcher.weights[:5] == ["0", "10", "25", "50", "100"]
    assert watcher.weights[-1] == "0"
    assert live_health(sandbox_env)["version"] == "steps-1"
    assert ml_engine_containers(sandbox_env) == {"stable": "steps-1"}
    assert traffic.failed == 0, traffic.errors[:5]


@pytest.mark.parametrize(
    ("no_data", "verdict"), [("inconclusive", "Inconclusive"), ("failed", "Failed")]
)
def test_a_quiet_canary_is_refused_as_configured_and_never_read_as_zero(
    sandbox_env, live_ml_engine, no_data, verdict
):
    stable = live_health(sandbox_env)["version"]
    metrics = canary_metrics(no_data=no_data)
    release = dataclasses.replace(
        release_of_live_image(sandbox_env, f"quiet-{no_data}", analysis=metrics),
        overrides=Overrides(interval_seconds=1, count=2),
    )

    with pytest.raises(AnalysisFailed) as refused:
        canary.deploy(deployer(sandbox_env), release)  # no traffic at all

    measurements = refused.value.metadata["measurements"]
    assert {m["phase"] for m in measurements} == {verdict}
    assert all(m["value"] is None or m["requests"] == 0 for m in measurements)
    assert f"is {verdict} after" in str(refused.value)
    assert live_health(sandbox_env)["version"] == stable
    assert ml_engine_containers(sandbox_env) == {"stable": stable}


def test_a_prometheus_outage_during_analysis_aborts_at_the_error_limit(
    sandbox_env, live_ml_engine, tmp_path
):
    stable = live_health(sandbox_env)["version"]
    record: dict = {}
    sandbox_prometheus.start(
        record, tmp_path, sandbox_env["DOCKER_HOST"], sandbox_env["RELEASE_ENVIRONMENT"]
    )
    release = dataclasses.replace(
        release_of_live_image(sandbox_env, "outage-1"), overrides=Overrides(1, 12, 3)
    )

    try:
        with WeightWatcher(sandbox_env) as watcher, prediction_traffic(sandbox_env):
            outage = threading.Thread(target=stop_after_weight, args=(watcher, record))
            outage.start()
            with pytest.raises(AnalysisFailed) as refused:
                canary.deploy(deployer(sandbox_env, record["url"]), release)
            outage.join()
    finally:
        sandbox_prometheus.stop(record)

    phases = [m["phase"] for m in refused.value.metadata["measurements"]]
    assert "Successful" in phases, "nothing was measured before the outage"
    assert phases[-3:] == ["Error"] * 3  # the catalog allows 2 consecutive errors
    assert "error_rate is Error after" in str(refused.value)
    assert "unreachable" in refused.value.metadata["measured"]
    assert live_health(sandbox_env)["version"] == stable
    assert ml_engine_containers(sandbox_env) == {"stable": stable}


def test_a_rerun_after_an_interrupted_canary_takes_its_traffic_back_and_converges(
    sandbox_env, live_ml_engine
):
    ml = deployer(sandbox_env)
    state = upstream_state(sandbox_env)
    interrupted = release_of_live_image(sandbox_env, "interrupted-1")
    stable = tracks.find_stable(ml, interrupted.service, state)
    leftover = tracks.start_track(ml, interrupted, tracks.CANARY)
    canary.set_weight(ml, interrupted, state, stable, leftover, 25)  # where a crash left it

    with prediction_traffic(sandbox_env) as traffic:
        rollout = canary.deploy(ml, release_of_live_image(sandbox_env, "converged-1", [50]))

    assert rollout.verdict == "promoted"
    assert upstream_state(sandbox_env).get("canary_weight") == "0"
    assert live_health(sandbox_env)["version"] == "converged-1"
    assert ml_engine_containers(sandbox_env) == {"stable": "converged-1"}
    assert traffic.failed == 0, traffic.errors[:5]


def canary_metrics(**update):
    metrics = default_catalog().service("ml_engine").strategy.analysis
    return [metric.model_copy(update=update) for metric in metrics]


def stop_after_weight(watcher: WeightWatcher, record: dict) -> None:
    """Stops Prometheus once the canary has traffic and a few measurements were taken."""
    watcher.wait_for("10")
    threading.Event().wait(3.5)
    sandbox_prometheus.stop(record)
