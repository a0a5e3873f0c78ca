import subprocess
import sys

import pytest

from release_pipeline.errors import CatalogError
from release_pipeline.schedules import check_timezone, jenkins_to_cron


@pytest.mark.parametrize(
    ("spec", "job", "expected"),
    [
        ("H 2 * * *", "frontend_release", "{m} 2 * * *"),
        ("H 0 * * 0", "ml_engine_retrain", "{m} 0 * * 0"),
        ("30 1 * * 1-5", "any", "30 1 * * 1-5"),
    ],
)
def test_jenkins_spec_translates_h_to_a_minute_derived_from_the_job_name(spec, job, expected):
    cron = jenkins_to_cron(spec, job)

    minute = cron.split()[0]
    assert cron == expected.format(m=minute)
    assert 0 <= int(minute) <= 59


def test_h_with_a_range_and_a_step_stays_inside_the_range():
    minute = jenkins_to_cron("H(0-29)/15 * * * *", "job").split()[0]

    start, rest = minute.split("-")
    assert 0 <= int(start) < 15 and rest == "29/15"


def test_different_jobs_spread_over_the_hour():
    minutes = {jenkins_to_cron("H 2 * * *", f"job_{n}").split()[0] for n in range(20)}

    assert len(minutes) > 5


def test_translation_is_the_same_in_another_process():
    # Python's hash() is salted per process; the translation must not be.
    code = "from release_pipeline.schedules import jenkins_to_cron as t; print(t('H 2 * * *', 'x'))"
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
        for _ in range(3)
    }

    assert outputs == {jenkins_to_cron("H 2 * * *", "x") + "\n"}


@pytest.mark.parametrize("spec", ["H 2 * *", "H(5-70) * * * *", "H 2 * * ?"])
def test_unreadable_specs_are_refused_naming_the_spec(spec):
    with pytest.raises(CatalogError, match="Jenkins spec"):
        jenkins_to_cron(spec, "job")


def test_unknown_time_zone_is_refused():
    with pytest.raises(CatalogError, match="Mars/Olympus"):
        check_timezone("Mars/Olympus")


def test_the_nightly_frontend_schedule_keeps_the_seed_spec_with_an_explicit_zone():
    from release_pipeline.definitions import defs

    schedule = defs.resolve_schedule_def("frontend_nightly")

    assert schedule.cron_schedule == jenkins_to_cron("H 2 * * *", "frontend_nightly")
    assert schedule.cron_schedule.endswith(" 2 * * *")
    assert schedule.execution_timezone == "Europe/Madrid"
    assert schedule.job_name == "frontend_release"
