"""PagerDuty Events API v2: critical alerts that never fail a release."""

from __future__ import annotations

import time
from typing import Any

import dagster as dg
import httpx
from pydantic import Field

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
PAGERDUTY_TIMEOUT_SECONDS = 10
RETRIES = 3
RETRY_DELAY_SECONDS = 1.0


class PagerDutyResource(dg.ConfigurableResource):
    """Triggers incidents through Events API v2, retrying on HTTP 429 and 5xx.

    Example:
        ``pagerduty.trigger("Migration 013 failed", dedup_key="database-...", log=context.log)``
    """

    routing_key: str = Field(description="Integration (routing) key; bind it with EnvVar.")
    events_url: str = Field(default=EVENTS_URL, description="Events API v2 enqueue URL.")

    def trigger(
        self,
        summary: str,
        *,
        dedup_key: str,
        log: dg.DagsterLogManager,
        source: str = "release_pipeline",
        severity: str = "critical",
        details: dict[str, Any] | None = None,
    ) -> bool:
        """Opens (or adds to) the incident of ``dedup_key``; warns and returns False on failure."""
        event = {
            "routing_key": self.routing_key,
            "event_action": "trigger",
            "dedup_key": dedup_key,
            "payload": {
                "summary": summary[:1024],
                "source": source,
                "severity": severity,
                "custom_details": details or {},
            },
        }
        for attempt in range(RETRIES + 1):
            outcome = self._send(event)
            if outcome is None:
                return True
            if not outcome.startswith("retry") or attempt == RETRIES:
                log.warning(f"PagerDuty did not take the event {dedup_key}: {outcome}")
                return False
            time.sleep(RETRY_DELAY_SECONDS * (attempt + 1))
        return False

    def _send(self, event: dict[str, Any]) -> str | None:
        """None when accepted, else why not ("retry: ..." when worth another try)."""
        try:
            response = httpx.post(self.events_url, json=event, timeout=PAGERDUTY_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            return f"retry: {type(exc).__name__}"
        if response.status_code == 202:
            return None
        answer = f"HTTP {response.status_code} {response.text[:200]}"
        if response.status_code == 429 or response.status_code >= 500:
            return f"retry: {answer}"
        return answer
