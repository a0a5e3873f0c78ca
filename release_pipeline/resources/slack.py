"""Slack: release notifications that never fail a release."""

from __future__ import annotations

import dagster as dg
from pydantic import Field
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

SLACK_TIMEOUT_SECONDS = 10
RATE_LIMIT_RETRIES = 3
SERVER_ERROR_RETRIES = 2


class SlackResource(dg.ConfigurableResource):
    """Posts messages with slack_sdk, honouring rate limits (HTTP 429 + Retry-After).

    Example:
        ``slack.post("#deployments", "Released backend 42", log=context.log)``
    """

    token: str = Field(description="Bot token; bind it with EnvVar.")
    base_url: str = Field(
        default="https://slack.com/api/", description="Web API base URL (a receiver in tests)."
    )

    def post(self, channel: str, text: str, log: dg.DagsterLogManager, color: str = "") -> bool:
        """Posts ``text``; on failure logs a warning and returns False instead of raising."""
        attachments = [{"color": color, "text": text}] if color else None
        try:
            self._client().chat_postMessage(channel=channel, text=text, attachments=attachments)
        except SlackApiError as exc:
            log.warning(f"Slack did not take the message for {channel}: {exc.response['error']}")
            return False
        except Exception as exc:  # noqa: BLE001 - a notification must never fail a release
            log.warning(f"Slack unreachable, message for {channel} not sent: {type(exc).__name__}")
            return False
        return True

    def _client(self) -> WebClient:
        client = WebClient(token=self.token, base_url=self.base_url, timeout=SLACK_TIMEOUT_SECONDS)
        client.retry_handlers.extend(
            [
                RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
                ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES),
                ConnectionErrorRetryHandler(max_retry_count=1),
            ]
        )
        return client
