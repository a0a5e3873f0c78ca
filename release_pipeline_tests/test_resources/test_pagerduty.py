"""The PagerDuty resource against the sandbox's Events API v2 receiver."""

import logging

import pytest

from release_pipeline.resources import pagerduty as pagerduty_module
from release_pipeline.resources.pagerduty import PagerDutyResource
from sandbox.pagerduty import pagerduty_control, pagerduty_events, pagerduty_reset

pytestmark = pytest.mark.sandbox
log = logging.getLogger("test_pagerduty")


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(pagerduty_module, "RETRY_DELAY_SECONDS", 0.01)


@pytest.fixture
def pagerduty(sandbox_env):
    pagerduty_reset(sandbox_env)
    yield PagerDutyResource(
        routing_key=sandbox_env["PAGERDUTY_ROUTING_KEY"],
        events_url=sandbox_env["PAGERDUTY_EVENTS_URL"],
    )
    pagerduty_control(sandbox_env, "ok")


def test_trigger_opens_a_critical_incident_with_its_dedup_key(sandbox_env, pagerduty):
    assert pagerduty.trigger("migration 013 failed", dedup_key="db/run-1", log=log) is True

    [event] = pagerduty_events(sandbox_env)
    assert (event["event_action"], event["dedup_key"]) == ("trigger", "db/run-1")
    assert event["payload"]["severity"] == "critical"
    assert event["payload"]["summary"] == "migration 013 failed"


def test_trigger_retries_through_a_rate_limit(sandbox_env, pagerduty):
    pagerduty_control(sandbox_env, "ratelimit", count=1)

    assert pagerduty.trigger("after the limit", dedup_key="db/run-2", log=log) is True

    assert [e["dedup_key"] for e in pagerduty_events(sandbox_env)] == ["db/run-2"]


def test_a_failing_pagerduty_warns_and_never_raises(sandbox_env, pagerduty, caplog):
    pagerduty_control(sandbox_env, "error", count=10)

    assert pagerduty.trigger("lost", dedup_key="db/run-3", log=log) is False

    assert "PagerDuty did not take the event db/run-3" in caplog.text


def test_a_wrong_routing_key_is_refused_without_retries(sandbox_env, caplog):
    wrong = PagerDutyResource(routing_key="0" * 32, events_url=sandbox_env["PAGERDUTY_EVENTS_URL"])

    assert wrong.trigger("lost", dedup_key="db/run-4", log=log) is False

    assert "Invalid routing key" in caplog.text
