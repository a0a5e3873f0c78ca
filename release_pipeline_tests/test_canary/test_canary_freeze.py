"""A freeze window that opens while a canary is analysed stops it before more traffic moves."""

import dataclasses

import dagster as dg
import pytest

from release_pipeline.catalog import default_catalog
from release_pipeline.errors import ReleaseRefused
from release_pipeline.steps.canary import _freeze_check
from release_pipeline.strategies import canary
from release_pipeline_tests.freeze_support import frozen_now
from release_pipeline_tests.test_canary.canary_support import (
    WeightWatcher,
    deployer,
    live_health,
    ml_engine_containers,
    prediction_traffic,
    release_of_live_image,
)


class WindowOpensAt:
    """A freeze check that refuses from the change that names ``weight`` on."""

    def __init__(self, weight: int) -> None:
        self.weight = weight
        self.changes: list[str] = []

    def __call__(self, change: str) -> None:
        self.changes.append(change)
        if f"to {self.weight} %" in change:
            raise ReleaseRefused(f"{change} refused: inside test_freeze.")


@pytest.mark.sandbox
def test_a_window_opening_mid_canary_gives_stable_all_traffic_back(sandbox_env, live_ml_engine):
    stable = live_health(sandbox_env)["version"]
    window = WindowOpensAt(50)
    release = release_of_live_image(sandbox_env, "frozen-1", steps=[10, 50])
    release = dataclasses.replace(release, check_freeze=window)

    watcher, traffic = WeightWatcher(sandbox_env), prediction_traffic(sandbox_env)
    with watcher, traffic, pytest.raises(ReleaseRefused):
        canary.deploy(deployer(sandbox_env), release)

    assert window.changes == ["raising the canary to 10 %", "raising the canary to 50 %"]
    assert "10" in watcher.weights and "50" not in watcher.weights
    assert watcher.weights[-1] == "0"
    assert live_health(sandbox_env)["version"] == stable
    assert ml_engine_containers(sandbox_env) == {"stable": stable}
    assert traffic.failed == 0, traffic.errors[:5]


def test_the_deploy_step_freeze_check_refuses_inside_a_window_only(tmp_path, monkeypatch):
    monkeypatch.setenv("RELEASE_ENVIRONMENT", "freeze-test")
    service = default_catalog().service("ml_engine")
    outcomes: list[str] = []

    @dg.op
    def check_twice(context):
        check = _freeze_check(context, service, "v9")
        check("promotion")
        outcomes.append("passed outside")
        with frozen_now({"RELEASE_ENVIRONMENT": "freeze-test"}, tmp_path):
            try:
                check("raising the canary to 50 %")
            except ReleaseRefused as refused:
                outcomes.append(str(refused))

    @dg.job
    def freeze_checks():
        check_twice()

    with dg.instance_for_test() as instance:
        assert freeze_checks.execute_in_process(instance=instance).success

    assert outcomes[0] == "passed outside"
    assert "raising the canary to 50 % for v9 refused" in outcomes[1]
    assert "canary was stopped" in outcomes[1] and "test_freeze" in outcomes[1]
