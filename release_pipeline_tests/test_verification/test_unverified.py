"""A bake that could not verify the release: never read as a pass, and people hear of it.

Unit tests over in-memory doubles (test_routing's), with the real ops run in
process: what Slack is told, what the announcement says, whether blue/green keeps
its old color warm, and which bad settings are refused before anything moves.
"""

from __future__ import annotations

from contextlib import contextmanager

import dagster as dg
import pytest
import yaml

from release_pipeline.catalog import CATALOG_PATH, Verification, load_catalog
from release_pipeline.errors import CatalogError, PrometheusError, ReleaseInputError
from release_pipeline.guards import guard_release
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.steps.context import SERVICE_TAG, Source
from release_pipeline.steps.deploy import scale_down_previous
from release_pipeline.steps.notify import announce_release, verification_note
from release_pipeline.steps.verify import VerifyConfig, check_verify_config, verify_release
from release_pipeline.strategies.deployment import Deployment
from release_pipeline.verification import Outcome, Verdict
from release_pipeline_tests.test_verification.test_routing import (
    FakePrometheus,
    Recorder,
    bake,
    check,
)

FAST = {"bake_seconds": 2, "interval_seconds": 1, "scrape_wait_seconds": 0}
DOWN = PrometheusError("Prometheus at http://prom is unreachable")


# --- the verdict ------------------------------------------------------------------------


def test_nothing_measured_is_unverified_and_fails_with_the_checks_and_why():
    report, recorder, _ = bake(
        [check("latency", "pagerduty"), check("errors", "slack")],
        {"latency": [DOWN], "errors": [DOWN]},
    )

    assert report.verdict is Verdict.UNVERIFIED and report.verdict.fails
    message = report.failure_message()
    assert "could not be verified: none of its 2 post-deploy checks was measured" in message
    assert "latency, errors (Prometheus at http://prom is unreachable)" in message
    assert "still serves" in message and "run backend_rollback" in message
    assert recorder.sent == [], "nothing breached: no check's alert route is paged"


def test_some_checks_not_measured_is_incomplete_and_the_warning_names_them():
    report, _, _ = bake(
        [check("latency", "pagerduty"), check("errors", "slack")],
        {"latency": [None], "errors": [0.1]},
    )

    assert report.verdict is Verdict.INCOMPLETE and not report.verdict.fails
    warning = report.warning("http://dagster/runs/abc")
    assert "backend 7.1.0 is live but NOT verified: 1 of 2 post-deploy checks" in warning
    assert "latency (empty result)" in warning and "errors" not in warning
    assert "run backend_rollback" in warning and warning.endswith("http://dagster/runs/abc")


def test_a_check_still_failing_when_the_bake_ends_breaches_within_its_limit():
    report, recorder, _ = bake(
        [check("latency", "slack", failure_limit=1)], {"latency": [0.1, 0.1, 3.0]}
    )

    assert report.verdict is Verdict.BREACHED
    assert report.runs[0].outcome() is Outcome.BREACHED
    assert recorder.routes() == ["slack"], "told once, when the bake ended"
    assert "latency=3 Failed" in report.failure_message()


def test_a_last_measurement_without_a_number_is_not_a_pass():
    report, _, _ = bake(
        [check("latency", "slack"), check("errors", "slack")],
        {"latency": [0.1, 0.1, None], "errors": [0.1]},
    )

    assert [run.outcome() for run in report.runs] == [Outcome.NOT_MEASURED, Outcome.PASSED]
    assert report.verdict is Verdict.INCOMPLETE


# --- failure_limit must leave room for a breach -----------------------------------------


def test_a_failure_limit_the_bake_cannot_exceed_is_refused():
    with pytest.raises(ValueError, match=r"check latency: failure_limit \(10\) must be less"):
        Verification(
            bake_seconds=300,
            interval_seconds=30,
            checks=[check("latency", "slack", failure_limit=10)],
        )
    assert (
        Verification(
            bake_seconds=300,
            interval_seconds=30,
            checks=[check("latency", "slack", failure_limit=9)],
        ).rounds
        == 10
    )


def test_the_catalog_names_the_service_and_field_of_a_failure_limit_too_high(tmp_path):
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    raw["services"]["backend"]["verification"]["checks"][0]["failure_limit"] = 10
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))

    with pytest.raises(CatalogError) as refused:
        load_catalog(path)

    assert "service 'backend'" in str(refused.value)
    assert "check api_p95_latency: failure_limit (10) must be less than the 10" in str(
        refused.value
    )


def test_a_run_override_that_leaves_no_room_for_a_breach_is_refused():
    verification = Verification(
        bake_seconds=300, interval_seconds=30, checks=[check("latency", "slack", failure_limit=3)]
    )

    with pytest.raises(ReleaseInputError, match="failure_limit \\(3\\) must be less than the 2"):
        VerifyConfig(bake_seconds=60).resolve(verification)


# --- bad verify_release config is refused before anything is built ----------------------


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"bake_seconds": 5, "interval_seconds": 10}, "longer than bake_seconds"),
        ({"min_requests": 0}, "min_requests must be > 0"),
        ({"bake_seconds": "soon"}, "bake_seconds"),
    ],
)
def test_check_verify_config_refuses_bad_overrides(config, problem):
    backend = load_catalog().service("backend")
    run_config = {"ops": {"verify_release": {"config": config}}}

    with pytest.raises(ReleaseInputError, match=problem):
        check_verify_config(run_config, backend)
    check_verify_config({"ops": {}}, backend)  # no override: the catalog's bake


def test_guard_release_refuses_a_bad_bake_before_anything_is_deployed(tmp_path):
    deployed = []

    @dg.op
    def checked_out() -> Source:
        return Source("backend", "7.1.0", "main", "a" * 40, tmp_path)

    @dg.op
    def deploy(source: Source) -> Deployment:
        deployed.append(source.version)
        return Deployment("green", "blue", source.version, "img", 0.1, source.commit)

    @dg.job(tags={SERVICE_TAG: "backend"})
    def release():
        verify_release(deploy(guard_release(checked_out())))

    result = release.execute_in_process(
        run_config={
            "ops": {"verify_release": {"config": {"bake_seconds": 5, "interval_seconds": 10}}}
        },
        resources={"git": None, "nginx": None, **_alerters(Recorder()), "prometheus": None},
        raise_on_error=False,
    )

    [failure] = result.get_step_failure_events()
    assert failure.step_key == "guard_release"
    message = failure.step_failure_data.error.message
    assert "verify_release config is not valid" in message and "Nothing was built" in message
    assert deployed == []


# --- what Slack hears, and what blue/green keeps warm -----------------------------------


class Lock:
    """The deploy lock, recording who held it (scale-down holds it to stop a color)."""

    def __init__(self) -> None:
        self.held: list[str] = []

    @contextmanager
    def hold(self, service, run_id, log):
        self.held.append(service)
        yield


def _alerters(recorder: Recorder) -> dict:
    return {"slack": recorder, "pagerduty": recorder, "email": recorder}


def _blue_green_release(prometheus: FakePrometheus, scale_down: dict | None = None):
    """verify_release, announce_release and scale_down_previous on a deploy of green."""
    recorder, lock = Recorder(), Lock()

    @dg.op
    def deployed() -> Deployment:
        return Deployment("green", "blue", "7.1.0", "img", 0.1, "a" * 40)

    @dg.job(tags={SERVICE_TAG: "backend"})
    def backend_release():
        deployment = verify_release(deployed())
        announce_release(deployment)
        scale_down_previous(deployment)

    engine = DockerResource(base_url="unix:///nonexistent.sock", environment="unit")
    result = backend_release.execute_in_process(
        run_config={
            "ops": {
                "verify_release": {"config": FAST},
                "scale_down_previous": {
                    "config": {"scale_down_delay_seconds": 0, **(scale_down or {})}
                },
            }
        },
        resources={
            **_alerters(recorder),
            "prometheus": prometheus,
            "docker_engine": engine,
            "nginx": None,
            "probe": None,
            "deploy_lock": lock,
        },
        raise_on_error=False,
    )
    texts = [what["text"] for route, what in recorder.sent if route == "slack"]
    return result, texts, lock


def _only_the_database_answers() -> FakePrometheus:
    # The catalog's backend checks: the shared database answers, the new version has no data.
    scripts = {"pg_stat_activity_count": [0.1], "": [None]}
    return FakePrometheus(scripts)


def test_an_incomplete_bake_warns_slack_announces_it_and_keeps_the_old_color_warm():
    result, texts, lock = _blue_green_release(_only_the_database_answers())

    assert result.success
    [warning, *rest] = texts
    assert warning.startswith(":warning: backend 7.1.0 is live but NOT verified: 4 of 5")
    assert "api_p95_latency, api_error_rate, memory_usage, cpu_usage (" in warning
    [announcement] = [text for text in rest if text.startswith(":rocket:")]
    assert "Verification: INCOMPLETE, not measured so NOT verified: api_p95_latency" in (
        announcement
    )
    [kept] = [text for text in rest if "kept the previous color blue warm" in text]
    assert "run backend_rollback" in kept and "remove container backend-blue-unit" in kept
    assert lock.held == [], "the old color was not stopped"


def test_scale_down_unverified_stops_the_old_color_anyway():
    result, texts, lock = _blue_green_release(
        _only_the_database_answers(), scale_down={"scale_down_unverified": True}
    )

    assert result.success
    assert lock.held == ["backend"]
    assert not any("kept the previous color" in text for text in texts)


def test_a_bake_that_measured_nothing_fails_and_nothing_is_announced_or_stopped():
    result, texts, lock = _blue_green_release(FakePrometheus({"": [DOWN]}))

    assert not result.success
    [failure] = result.get_step_failure_events()
    assert failure.step_key == "verify_release"
    assert "could not be verified" in failure.step_failure_data.error.message
    assert texts[0].startswith(":warning: backend 7.1.0 is live but NOT verified: 5 of 5")
    assert not any(text.startswith(":rocket:") for text in texts)
    assert lock.held == []


def test_the_announcement_carries_the_verdict():
    def deployment(**verification) -> Deployment:
        return Deployment("green", "blue", "7.1.0", "img", 0.1, **verification)

    assert verification_note(deployment()) == ("", "good")
    passed, color = verification_note(deployment(verification="passed"))
    assert "Verification: passed" in passed and color == "good"
    incomplete, color = verification_note(
        deployment(verification="incomplete", not_verified="cpu_usage (empty result)")
    )
    assert "INCOMPLETE" in incomplete and "cpu_usage (empty result)" in incomplete
    assert color == "warning"


@pytest.mark.sandbox
def test_real_prometheus_and_slack_hear_that_an_unscraped_version_is_not_verified(sandbox_env):
    from release_pipeline.definitions import defs
    from sandbox.slack import slack_messages, slack_reset

    resources = {key: defs.resources[key] for key in ("prometheus", "slack", "pagerduty", "email")}

    @dg.op
    def nobody_scrapes_it() -> Deployment:
        return Deployment("green", None, "never-scraped-1", "img", 0.1, "b" * 40)

    @dg.job(tags={SERVICE_TAG: "backend"}, resource_defs=resources)
    def backend_release():
        announce_release(verify_release(nobody_scrapes_it()))

    slack_reset(sandbox_env)
    result = backend_release.execute_in_process(
        run_config={"ops": {"verify_release": {"config": FAST}}}, raise_on_error=False
    )

    # The shared database is measured; the version's own series do not exist.
    assert result.success
    texts = [message["text"] for message in slack_messages(sandbox_env)]
    [warning] = [text for text in texts if text.startswith(":warning:")]
    assert "backend never-scraped-1 is live but NOT verified: 4 of 5" in warning
    assert "api_p95_latency" in warning and "db_connections" not in warning
    [announcement] = [text for text in texts if text.startswith(":rocket:")]
    assert "Verification: INCOMPLETE" in announcement
