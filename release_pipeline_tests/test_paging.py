"""page_on_critical_failure: real failed runs, the sensor's ticks, the sandbox's PagerDuty."""

import os
import time

import dagster as dg
import pytest

from release_pipeline.assets import deployment_key
from release_pipeline.definitions import defs
from release_pipeline.errors import DeploymentFailed, ReleaseError, SwitchBackFailed
from release_pipeline.paging import (
    INTERVAL_ENV,
    LOOKBACK_SECONDS,
    PAGED_TAG,
    SENSOR_NAME,
    critical_page,
    interval_seconds,
    unpaged_failures,
)
from release_pipeline.resources import pagerduty as pagerduty_module
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.pagerduty import PagerDutyResource
from release_pipeline.steps.context import SERVICE_TAG, release_step
from release_pipeline.steps.notify import ROLLBACK_TAG
from release_pipeline_tests.support import FAST_HEALTH
from sandbox.pagerduty import pagerduty_control, pagerduty_events, pagerduty_reset

sensor = defs.resolve_sensor_def(SENSOR_NAME)


class Ticks:
    """Evaluates the sensor as the daemon does, one tick after another."""

    def __init__(self, instance: dg.DagsterInstance, env: dict[str, str]) -> None:
        self.instance = instance
        self.pagerduty = PagerDutyResource(
            routing_key=env["PAGERDUTY_ROUTING_KEY"], events_url=env["PAGERDUTY_EVENTS_URL"]
        )

    def tick(self):
        context = dg.build_sensor_context(
            instance=self.instance,
            resources={"pagerduty": self.pagerduty},
            definitions=defs,
        )
        return sensor.evaluate_tick(context)


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def ticks(sandbox_env, instance):
    pagerduty_reset(sandbox_env)
    return Ticks(instance, sandbox_env)


def empty_load_balancer(tmp_path) -> NginxResource:
    """The sandbox's nginx settings, with an upstream directory that has no deployment yet."""
    upstreams = tmp_path / "upstreams"
    upstreams.mkdir(parents=True)
    return NginxResource(
        nginx_bin=os.environ["NGINX_BIN"],
        prefix=os.environ["NGINX_PREFIX"],
        conf=os.environ["NGINX_CONF"],
        upstream_dir=str(upstreams),
        lb_urls=os.environ["LB_URLS"],
    )


def record_live(instance: dg.DagsterInstance, service: str, version: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=deployment_key(service), metadata={"version": version, "reason": "release"}
        )
    )


def failed_rollback(instance, tmp_path):
    """A real backend_rollback that finds nothing to roll back to in its load balancer."""
    result = defs.resolve_job_def("backend_rollback").execute_in_process(
        run_config={"ops": {"rollback_blue_green": {"config": FAST_HEALTH}}},
        resources={"nginx": empty_load_balancer(tmp_path)},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    return result


@pytest.mark.sandbox
def test_a_failed_rollback_pages_once_keyed_by_the_release_it_was_rolling_back(
    sandbox_env, instance, ticks, tmp_path
):
    record_live(instance, "backend", "41")
    result = failed_rollback(instance, tmp_path)

    ticks.tick()
    ticks.tick()

    [event] = pagerduty_events(sandbox_env)
    assert event["dedup_key"] == "backend-41"
    payload = event["payload"]
    assert payload["severity"] == "critical"
    assert payload["source"] == "release_pipeline/backend"
    assert payload["summary"].startswith("backend_rollback failed (backend, version 41): ")
    assert "there is nothing to roll back to" in payload["summary"]
    assert payload["summary"].endswith(f"/runs/{result.run_id}")
    details = payload["custom_details"]
    assert (details["step"], details["error"]) == ("rollback_blue_green", "DeploymentFailed")
    assert instance.get_run_by_id(result.run_id).tags[PAGED_TAG] == "backend-41"
    for name in ("PAGERDUTY_ROUTING_KEY", "REGISTRY_PASSWORD", "SLACK_BOT_TOKEN", "JWT_SECRET"):
        assert sandbox_env[name] not in str(payload)


@pytest.mark.sandbox
def test_a_paged_run_is_not_paged_again_by_later_ticks(sandbox_env, instance, ticks, tmp_path):
    record_live(instance, "backend", "41")
    failed_rollback(instance, tmp_path)

    first = ticks.tick()
    later = [ticks.tick(), ticks.tick()]

    assert first.skip_message == "Paged backend-41."
    assert [t.skip_message for t in later] == ["No failed critical run to page."] * 2
    assert [e["dedup_key"] for e in pagerduty_events(sandbox_env)] == ["backend-41"]


@pytest.mark.sandbox
def test_two_failed_rollbacks_of_one_release_share_one_dedup_key(
    sandbox_env, instance, ticks, tmp_path
):
    record_live(instance, "backend", "41")
    failed_rollback(instance, tmp_path / "first")
    failed_rollback(instance, tmp_path / "second")

    ticks.tick()

    assert [e["dedup_key"] for e in pagerduty_events(sandbox_env)] == ["backend-41"] * 2


@pytest.mark.sandbox
def test_a_failed_release_pages_nobody(sandbox_env, instance, ticks):
    result = defs.resolve_job_def("backend_release").execute_in_process(
        run_config={"ops": {"checkout": {"config": {"git_ref": "main", "version": "-bad"}}}},
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success

    ticks.tick()

    assert pagerduty_events(sandbox_env) == []


def failed_release(instance, error: Exception) -> dg.ExecuteInProcessResult:
    """A backend_release run whose deploy step fails with ``error``, as release_step reports it."""

    @dg.op(name="deploy_blue_green")
    @release_step
    def deploy():
        raise error

    @dg.job(name="backend_release", tags={SERVICE_TAG: "backend"})
    def backend_release():
        deploy()

    result = backend_release.execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    return result


@pytest.mark.sandbox
def test_a_release_that_could_not_switch_back_pages_keyed_by_the_version_to_get_back_to(
    sandbox_env, instance, ticks
):
    record_live(instance, "backend", "41")
    failed_release(instance, DeploymentFailed("backend green failed its smoke checks."))
    result = failed_release(
        instance, SwitchBackFailed("backend green (version 42) failed, and switching back too.")
    )

    ticks.tick()
    ticks.tick()

    [event] = pagerduty_events(sandbox_env)
    assert event["dedup_key"] == "backend-41"
    summary = event["payload"]["summary"]
    assert summary.startswith("backend_release failed (backend, switching back to version 41): ")
    assert "switching back too." in summary
    assert event["payload"]["custom_details"]["error"] == "SwitchBackFailed"
    assert instance.get_run_by_id(result.run_id).tags[PAGED_TAG] == "backend-41"


@pytest.mark.sandbox
def test_a_rollback_whose_process_died_is_paged_from_the_run_failure(sandbox_env, instance, ticks):
    record_live(instance, "ml_engine", "7")
    run = instance.create_run_for_job(
        defs.resolve_job_def("ml_engine_rollback"), tags={ROLLBACK_TAG: "ml_engine"}
    )
    instance.report_run_failed(run, "Run worker process exited unexpectedly (killed).")

    ticks.tick()

    [event] = pagerduty_events(sandbox_env)
    assert event["dedup_key"] == "ml_engine-7"
    assert "Run worker process exited unexpectedly" in event["payload"]["summary"]
    assert event["payload"]["custom_details"]["step"] == "none (the run failed outside a step)"


def failed_run(instance, job: str, tags: dict, run_config: dict | None = None) -> dg.DagsterRun:
    run = instance.create_run_for_job(
        defs.resolve_job_def(job), tags=tags, run_config=run_config or {}
    )
    instance.report_run_failed(run, "boom")
    return instance.get_run_by_id(run.run_id)


@pytest.mark.parametrize(
    ("job", "tags", "run_config", "dedup_key"),
    [
        ("frontend_rollback", {ROLLBACK_TAG: "frontend"}, None, "frontend-unknown"),
        (
            "database_migration_apply",
            {SERVICE_TAG: "database", "release/plan_hash": "ab" * 32, "release/approval_id": "3"},
            {"ops": {"checkout_approved": {"config": {"approval_id": 3}}}},
            "database-plan-abababababab",
        ),
        (
            "database_migration_apply",
            {SERVICE_TAG: "database"},
            {"ops": {"checkout_approved": {"config": {"approval_id": 9}}}},
            "database-approval-9",
        ),
        (
            "database_restore",
            {SERVICE_TAG: "database"},
            {"ops": {"choose_backup": {"config": {"backup_key": "db/backup_20260101_0100.dump"}}}},
            "database-restore-backup_20260101_0100.dump",
        ),
        ("database_restore", {SERVICE_TAG: "database"}, None, "database-restore-latest"),
    ],
)
def test_the_dedup_key_names_the_release(job, tags, run_config, dedup_key):
    instance = dg.DagsterInstance.ephemeral()

    page = critical_page(instance, failed_run(instance, job, tags, run_config), [], "boom")

    assert page.dedup_key == dedup_key
    assert page.summary.startswith(f"{job} failed (")


@pytest.mark.sandbox
def test_a_page_pagerduty_refuses_fails_the_tick_and_the_next_tick_pages_it_once(
    sandbox_env, instance, ticks, tmp_path, monkeypatch
):
    monkeypatch.setattr(pagerduty_module, "RETRY_DELAY_SECONDS", 0.01)
    record_live(instance, "backend", "41")
    result = failed_rollback(instance, tmp_path)
    pagerduty_control(sandbox_env, "error", count=10)
    try:
        with pytest.raises(ReleaseError) as refused:
            ticks.tick()
    finally:
        pagerduty_control(sandbox_env, "ok")

    message = str(refused.value)
    assert "PagerDuty did not take the page backend-41 for backend_rollback run" in message
    assert "page the on-call by hand" in message
    assert PAGED_TAG not in instance.get_run_by_id(result.run_id).tags
    assert pagerduty_events(sandbox_env) == []

    ticks.tick()  # PagerDuty is back
    ticks.tick()

    assert [e["dedup_key"] for e in pagerduty_events(sandbox_env)] == ["backend-41"]
    assert instance.get_run_by_id(result.run_id).tags[PAGED_TAG] == "backend-41"


def test_failed_runs_older_than_the_lookback_are_left_alone():
    instance = dg.DagsterInstance.ephemeral()
    run = failed_run(instance, "backend_rollback", {ROLLBACK_TAG: "backend"})
    names = ["backend_rollback"]

    assert [r.run_id for r in unpaged_failures(instance, names, time.time())] == [run.run_id]
    assert unpaged_failures(instance, names, time.time() + LOOKBACK_SECONDS + 60) == []


@pytest.mark.parametrize(("value", "seconds"), [(None, 30), ("", 30), ("5", 5), (" 2 ", 2)])
def test_the_sensor_interval_is_30_s_unless_the_environment_sets_one(value, seconds):
    env = {} if value is None else {INTERVAL_ENV: value}

    assert interval_seconds(env) == seconds


@pytest.mark.parametrize("value", ["0", "-5", "2.5", "soon", "²"])
def test_a_sensor_interval_that_is_not_whole_seconds_names_the_variable_and_the_fix(value):
    with pytest.raises(ReleaseError, match=f"{INTERVAL_ENV}=.*Set it to one"):
        interval_seconds({INTERVAL_ENV: value})
