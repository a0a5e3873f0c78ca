"""The DORA arithmetic on synthetic release histories."""

from xml.etree import ElementTree

import pytest

from release_pipeline.dora import report
from release_pipeline.dora.metrics import (
    ALL_SERVICES,
    DAY_SECONDS,
    Attempt,
    Window,
    compute,
    incident_spans,
    rolled_back_releases,
)

HOUR = 3600.0
START = 1_780_000_000.0  # any moment; the window is the week after it
WEEK = Window(START, START + 7 * DAY_SECONDS)


def at(hours: float) -> float:
    return START + hours * HOUR


def release(run_id: str, hours: float, ok: bool = True, commit: str = "", **kw) -> Attempt:
    return Attempt("backend", "release", ok, at(hours), run_id=run_id, commit=commit, **kw)


def rollback(run_id: str, hours: float, ok: bool = True) -> Attempt:
    return Attempt("backend", "rollback", ok, at(hours), run_id=run_id)


def backend(attempts, commit_times=None):
    [metrics] = compute(attempts, commit_times or {}, WEEK).services
    return metrics


def test_deployment_frequency_counts_successful_releases_inside_the_window():
    metrics = backend(
        [
            release("before", -1),
            release("r1", 1),
            release("r2", 30),
            release("failed", 31, ok=False),
            rollback("b1", 32),
            release("after", 7 * 24 + 1),
        ]
    )

    assert metrics.deployments == 2
    assert metrics.per_day(WEEK) == pytest.approx(2 / 7)
    assert metrics.daily_deployments == (1, 1, 0, 0, 0, 0, 0)


def test_lead_time_runs_from_commit_to_the_deployment_record_and_counts_unknown_commits():
    commit_times = {"a" * 40: at(-3), "b" * 40: at(9)}
    metrics = backend(
        [
            release("r1", 2, commit="a" * 40, deployed_at=at(1)),  # live at 1 h, run ended at 2 h
            release("r2", 10, commit="b" * 40),
            release("r3", 20, commit="c" * 40),  # gone from the repository
            release("r4", 21),  # recorded no commit
        ],
        commit_times,
    )

    assert sorted(metrics.lead_times) == [HOUR, 4 * HOUR]
    assert metrics.lead_time_median == 2.5 * HOUR
    assert metrics.lead_time_unknown == 2


def test_change_failure_rate_counts_failed_and_rolled_back_releases_but_not_refusals():
    metrics = backend(
        [
            release("good", 1),
            release("bad", 2),
            rollback("back", 3),
            release("failed", 4, ok=False),
            release("locked", 5, ok=False, refused=True),
            release("good2", 6),
        ]
    )

    assert (metrics.change_failures, metrics.releases) == (2, 4)
    assert metrics.change_failure_rate == 0.5


def test_no_release_means_no_change_failure_rate_rather_than_zero():
    assert backend([rollback("back", 3)]).change_failure_rate is None


def test_a_rollback_marks_only_the_release_live_when_it_ran():
    history = [
        release("r1", 1),
        rollback("b1", 2),
        rollback("b2", 3, ok=False),  # nothing newer went live since b1
        release("r2", 4),
        rollback("b3", 5, ok=False),  # a failed rollback still says r2 was bad
        release("r3", 6),
    ]

    assert rolled_back_releases(history) == {"r1", "r2"}


def test_a_failed_release_is_restored_by_the_next_success():
    spans = incident_spans([release("bad", 1, ok=False), release("fix", 3)], set())

    assert spans == [(at(1), at(3))]


def test_a_rolled_back_release_is_broken_from_when_it_went_live_until_the_rollback():
    history = [release("bad", 2, deployed_at=at(1)), release("x", 3, ok=False), rollback("b", 5)]

    metrics = backend(history)

    assert metrics.restore_times == (4 * HOUR,)
    assert metrics.time_to_restore_median == 4 * HOUR
    assert metrics.open_incidents == 0


def test_an_unrestored_failure_is_an_open_incident_with_no_restore_time():
    metrics = backend([release("ok", 1), release("bad", 2, ok=False), rollback("b", 3, ok=False)])

    assert metrics.restore_times == ()
    assert metrics.time_to_restore_median is None
    assert metrics.open_incidents == 1


def test_an_incident_opened_before_the_window_counts_when_it_closes_inside():
    metrics = backend([release("bad", -5, ok=False), release("fix", 2)])

    assert metrics.restore_times == (7 * HOUR,)
    assert metrics.change_failures == 0  # the failed release itself was last week's


def test_overall_pools_every_service_and_lists_services_without_runs():
    attempts = [
        release("r1", 1, commit="a" * 40),
        Attempt("frontend", "release", False, at(2), run_id="f1"),
        Attempt("frontend", "release", True, at(3), run_id="f2"),
    ]

    result = compute(attempts, {"a" * 40: at(0)}, WEEK, services=["ml_engine"])

    assert [m.service for m in result.services] == ["backend", "frontend", "ml_engine"]
    overall = result.overall
    assert overall.service == ALL_SERVICES
    assert (overall.deployments, overall.releases, overall.change_failures) == (2, 3, 1)
    assert overall.lead_times == (HOUR,)
    assert overall.restore_times == (HOUR,)
    assert overall.daily_deployments == (2, 0, 0, 0, 0, 0, 0)


def test_a_window_must_end_after_it_starts():
    with pytest.raises(ValueError, match="must end after it starts"):
        Window(START, START)


def test_the_report_has_a_row_per_service_numbers_to_plot_and_a_chart():
    attempts = [
        release("r1", 1, commit="a" * 40),
        release("r2", 30),
        Attempt("frontend", "release", True, at(26), run_id="f1"),
    ]
    result = compute(attempts, {"a" * 40: at(-2)}, WEEK)

    facts = report.metadata(result)

    assert facts["deployments"] == 3
    assert facts["lead_time_median_hours"] == 3.0
    assert facts["change_failure_rate"] == 0.0
    assert facts["time_to_restore_median_hours"] is None
    assert facts["services"].data["backend"]["daily_deployments"] == [1, 1, 0, 0, 0, 0, 0]
    text = facts["report"].md_str
    assert "| backend | 2 (0.29/day) | 3.0 h (1 unknown) | 0% (0/2) | n/a | 0 |" in text
    assert f"| {ALL_SERVICES} | 3 (0.43/day) |" in text
    assert "](data:image/svg+xml;base64," in text


def test_the_chart_stacks_one_bar_per_service_and_day_and_escapes_names():
    attempts = [
        release("r1", 1),
        release("r2", 2),
        Attempt("<odd & name>", "release", True, at(3), run_id="x"),
    ]

    svg = ElementTree.fromstring(report.chart_svg(compute(attempts, {}, WEEK)))

    bars = [r for r in svg.iter("{http://www.w3.org/2000/svg}rect")]
    titles = [bar.find("{http://www.w3.org/2000/svg}title").text for bar in bars]
    # two stacked bars on day one, then one legend box per service
    assert titles == ["<odd & name>", "backend", "<odd & name>", "backend"]
    heights = [float(bar.get("height")) for bar in bars[:2]]
    assert heights[1] == pytest.approx(2 * heights[0], abs=0.2)  # backend deployed twice


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "n/a"), (600, "10 min"), (5400, "1.5 h"), (3 * DAY_SECONDS, "3.0 d")],
)
def test_durations_read_in_the_unit_that_fits(seconds, text):
    assert report.duration_text(seconds) == text


def test_a_release_that_breached_after_deploying_owns_the_rollback_that_follows_it():
    # healthy release, then one that deployed and failed verify_release, rolled back an hour later
    history = [
        release("healthy", 1),
        release("breached", 49, ok=False, deployed_at=at(48.5)),
        rollback("back", 50),
    ]

    metrics = backend(history)

    assert rolled_back_releases(history) == {"breached"}
    assert (metrics.change_failures, metrics.releases) == (1, 2)
    assert metrics.restore_times == (1.5 * HOUR,)  # from when it went live to the rollback
    assert metrics.open_incidents == 0


def test_a_release_that_failed_before_deploying_leaves_the_previous_one_live():
    history = [release("healthy", 1), release("broken", 2, ok=False), rollback("back", 3)]

    assert rolled_back_releases(history) == {"healthy"}


def test_a_week_of_169_hours_still_has_seven_days_and_its_last_hour_is_the_last_day():
    long_week = Window(START, START + 169 * HOUR, calendar_days=7)

    [metrics] = compute([release("late", 168.5)], {}, long_week).services

    assert metrics.daily_deployments == (0, 0, 0, 0, 0, 0, 1)
    assert metrics.per_day(long_week) == pytest.approx(1 / 7)
