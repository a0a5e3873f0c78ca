"""platform/dora on a real Dagster instance: real runs of tiny release jobs, a real git history."""

import logging
import os
import subprocess
import time
from datetime import UTC, datetime

import dagster as dg
import pytest

from release_pipeline.assets import deployment_key, site_key
from release_pipeline.definitions import defs
from release_pipeline.dora.asset import DORA_KEY, JOB_NAME, SCHEDULE_NAME, dora
from release_pipeline.resources.git import GitResource
from release_pipeline.steps.context import SERVICE_TAG
from release_pipeline.steps.notify import ROLLBACK_TAG


class Outcome(dg.Config):
    commit: str = ""
    fail_with: str = ""  # the pipeline error class to fail with; empty succeeds


@dg.op
def go_live(context: dg.OpExecutionContext, config: Outcome) -> None:
    """Fails like a release step, or records the deployment as the real steps do."""
    if config.fail_with:
        raise dg.Failure(description="it broke", metadata={"error": config.fail_with})
    service = context.run.tags.get(SERVICE_TAG) or context.run.tags[ROLLBACK_TAG]
    key = site_key(service) if service == "frontend" else deployment_key(service)
    reason = "rollback" if context.job_name.endswith("_rollback") else "release"
    context.log_event(
        dg.AssetMaterialization(
            asset_key=key, metadata={"commit": config.commit or "unchanged", "reason": reason}
        )
    )


TINY_JOBS = {
    name: dg.GraphDefinition(name=f"tiny_{name}", node_defs=[go_live]).to_job(name=name)
    for name in ("backend_release", "backend_rollback", "frontend_release")
}


def run(instance, job: str, commit: str = "", fail_with: str = "") -> None:
    service, kind = job.rsplit("_", 1)
    tag = ROLLBACK_TAG if kind == "rollback" else SERVICE_TAG
    config = {"commit": commit, "fail_with": fail_with}
    result = TINY_JOBS[job].execute_in_process(
        run_config={"ops": {"go_live": {"config": config}}},
        instance=instance,
        tags={tag: service},
        raise_on_error=False,
    )
    assert result.success is not bool(fail_with)


def commit(repo, hours_ago: float) -> str:
    """A commit made ``hours_ago``; returns its hash."""
    moment = f"{int(time.time() - hours_ago * 3600)} +0000"
    env = {**os.environ, "GIT_COMMITTER_DATE": moment, "GIT_AUTHOR_DATE": moment}
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
    git = ["git", "-C", str(repo), *identity]
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "x"], check=True, env=env)
    return subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    path = tmp_path / "platform"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    return path


def test_dora_reads_the_week_from_the_instance_and_the_repository(repo, tmp_path):
    two_hours_ago, one_hour_ago = commit(repo, 2), commit(repo, 1)
    git = GitResource(repo_url=str(repo), work_dir=str(tmp_path / "work"))
    with dg.instance_for_test() as instance:
        run(instance, "backend_release", commit=two_hours_ago)
        run(instance, "backend_release", fail_with="DeploymentFailed")
        run(instance, "backend_release", fail_with="DeployLockError")  # a refusal: not counted
        run(instance, "backend_release", commit=one_hour_ago)
        run(instance, "backend_rollback")
        run(instance, "frontend_release", commit=two_hours_ago)
        run(instance, "frontend_release", commit="deadbeef" * 5)  # not in the repository

        result = dg.materialize([dora], instance=instance, resources={"git": git})

    assert result.success
    [event] = result.asset_materializations_for_node("platform__dora")
    facts = {name: value.value for name, value in event.metadata.items()}
    services = facts["services"]
    assert services["backend"]["deployments"] == 2
    assert services["backend"]["releases"] == 3
    assert services["backend"]["change_failures"] == 2  # the failure, and the release rolled back
    assert services["backend"]["lead_time_median_hours"] == pytest.approx(1.5, abs=0.05)
    assert services["backend"]["restores"] == 1  # the failure lasted until the rollback
    assert services["backend"]["open_incidents"] == 0
    assert services["frontend"]["lead_time_unknown"] == 1
    assert services["ml_engine"]["releases"] == 0
    assert facts["deployments"] == 4
    assert facts["change_failure_rate"] == pytest.approx(2 / 5, abs=1e-4)
    assert facts["lead_time_median_hours"] == pytest.approx(2.0, abs=0.05)
    assert facts["time_to_restore_median_hours"] < 0.1
    assert "| backend | 2 (0.29/day) |" in facts["report"]


def test_the_weekly_schedule_computes_the_week_that_ended_at_its_tick(repo, tmp_path):
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    tick = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)

    [request] = schedule.evaluate_tick(
        dg.build_schedule_context(scheduled_execution_time=tick)
    ).run_requests
    git = GitResource(repo_url=str(repo), work_dir=str(tmp_path / "work"))
    with dg.instance_for_test() as instance:
        result = defs.resolve_job_def(JOB_NAME).execute_in_process(
            run_config=request.run_config, instance=instance, resources={"git": git}
        )

    assert schedule.cron_schedule == "0 6 * * 1"
    [event] = result.asset_materializations_for_node("platform__dora")
    assert event.asset_key == DORA_KEY
    assert event.metadata["window_end"].value == tick.timestamp()
    assert event.metadata["window_start"].value == tick.timestamp() - 7 * 86400
    assert event.metadata["deployments"].value == 0


def test_a_wrong_end_says_how_to_write_it(repo, tmp_path):
    git = GitResource(repo_url=str(repo), work_dir=str(tmp_path / "work"))
    with pytest.raises(Exception, match="end 'last monday' is not an ISO time"):
        dg.materialize(
            [dora],
            resources={"git": git},
            run_config={"ops": {"platform__dora": {"config": {"end": "last monday"}}}},
        )


def test_without_the_repository_lead_times_are_unknown_and_the_rest_is_computed(tmp_path):
    git = GitResource(repo_url=str(tmp_path / "gone"), work_dir=str(tmp_path / "work"))
    with dg.instance_for_test() as instance:
        run(instance, "backend_release", commit="ab" * 20)

        result = dg.materialize([dora], instance=instance, resources={"git": git})
        logs = instance.all_logs(result.run_id)

    [event] = result.asset_materializations_for_node("platform__dora")
    backend = event.metadata["services"].value["backend"]
    assert (backend["deployments"], backend["lead_time_unknown"]) == (1, 1)
    assert event.metadata["lead_time_median_hours"].value is None
    warnings = [entry.user_message for entry in logs if entry.level == logging.WARNING]
    assert any("Lead times are unknown: git clone failed" in message for message in warnings)


@pytest.mark.parametrize(
    ("before", "after"),
    [((2026, 3, 23), (2026, 3, 30)), ((2026, 10, 19), (2026, 10, 26))],
    ids=["spring-forward", "fall-back"],
)
def test_weekly_windows_meet_exactly_across_a_dst_change(before, after):
    from zoneinfo import ZoneInfo

    from release_pipeline.dora.asset import TIMEZONE, DoraConfig

    def window(day):
        tick = datetime(*day, 6, 0, tzinfo=ZoneInfo(TIMEZONE)).astimezone(UTC)
        return DoraConfig(end=tick.isoformat()).window(0)

    first, second = window(before), window(after)

    assert second.start == first.end  # no hour counted twice, none left out
    assert (second.end - second.start) / 3600 in (167, 169)
    assert second.days == 7


def test_a_release_of_the_window_rolled_back_after_its_end_counts_when_computed_again(
    repo, tmp_path
):
    git = GitResource(repo_url=str(repo), work_dir=str(tmp_path / "work"))
    with dg.instance_for_test() as instance:
        run(instance, "backend_release")
        end = datetime.now(UTC).isoformat()
        time.sleep(0.01)
        run(instance, "backend_rollback")  # after the window: the Monday report had gone out

        result = dg.materialize(
            [dora],
            instance=instance,
            resources={"git": git},
            run_config={"ops": {"platform__dora": {"config": {"end": end}}}},
        )

    backend = result.asset_materializations_for_node("platform__dora")[0].metadata["services"]
    assert (backend.value["backend"]["releases"], backend.value["backend"]["change_failures"]) == (
        1,
        1,
    )
