"""The Slack resource against the sandbox's Web API receiver."""

import logging

import pytest

from release_pipeline.resources.slack import SlackResource
from sandbox import slack_control, slack_messages, slack_reset

pytestmark = pytest.mark.sandbox
log = logging.getLogger("test_slack")


@pytest.fixture
def slack(sandbox_env):
    slack_reset(sandbox_env)
    yield SlackResource(token=sandbox_env["SLACK_BOT_TOKEN"], base_url=sandbox_env["SLACK_API_URL"])
    slack_control(sandbox_env, "ok")


def test_post_delivers_the_message(sandbox_env, slack):
    assert slack.post("#deployments", "backend 42 is live", log) is True

    assert [m["text"] for m in slack_messages(sandbox_env)] == ["backend 42 is live"]


def test_post_waits_out_a_rate_limit_and_delivers(sandbox_env, slack):
    slack_control(sandbox_env, "ratelimit", count=1, retry_after=1)

    assert slack.post("#deployments", "after the limit", log) is True

    assert [m["text"] for m in slack_messages(sandbox_env)] == ["after the limit"]


def test_a_failing_slack_warns_and_never_raises(sandbox_env, slack, caplog):
    slack_control(sandbox_env, "error", count=10)

    assert slack.post("#deployments", "lost", log) is False

    assert "Slack" in caplog.text


def test_a_wrong_token_warns_and_never_raises(sandbox_env, caplog):
    wrong = SlackResource(token="xoxb-wrong", base_url=sandbox_env["SLACK_API_URL"])

    assert wrong.post("#deployments", "lost", log) is False

    assert "invalid_auth" in caplog.text
