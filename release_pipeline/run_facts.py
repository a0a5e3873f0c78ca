"""What a finished run says about a release: its service, what went live, why it failed.

The paging sensor and the DORA metrics read the same run history, so they read
it through these few functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from release_pipeline.assets import deployment_key, site_key
from release_pipeline.catalog import Service
from release_pipeline.secrets import redact_known
from release_pipeline.steps.context import SERVICE_TAG
from release_pipeline.steps.notify import ROLLBACK_TAG

# Failures that changed nothing: a refused approval, bad input, a busy deploy lock, a
# guard (older commit, freeze window). They are answers to a request, not a broken
# release: nobody is paged and DORA does not count them as change failures.
REFUSALS = ("ApprovalRefused", "ReleaseInputError", "DeployLockError", "ReleaseRefused")
REASON_CHARS = 600


def run_service(run: dg.DagsterRun) -> str | None:
    """The service a release, rollback or migration run acts on, from its tags."""
    return run.tags.get(SERVICE_TAG) or run.tags.get(ROLLBACK_TAG)


def live_key(service: Service) -> dg.AssetKey:
    """The asset whose materializations say what serves the service's traffic."""
    if service.strategy.kind == "static_site":
        return site_key(service.name)
    return deployment_key(service.name)


def error_kind(step_failure: dg.DagsterEvent) -> str | None:
    """The pipeline's error class a step failed with (``release_step`` records it), if any."""
    user_data = step_failure.step_failure_data.user_failure_data
    entry = (user_data.metadata or {}).get("error") if user_data else None
    return str(entry.value) if entry is not None else None


def is_refusal(step_failures: Sequence[dg.DagsterEvent]) -> bool:
    """True when every failed step only refused; a run with no failed step never is."""
    return bool(step_failures) and all(error_kind(event) in REFUSALS for event in step_failures)


def failure_reason(step_failures: Sequence[dg.DagsterEvent], run_failure: str = "") -> str:
    """The first failed step's message (or the run's), secrets redacted, on one short line."""
    reason = run_failure or "the run failed without a message"
    if step_failures:
        data = step_failures[0].step_failure_data
        user_data = data.user_failure_data
        described = user_data.description if user_data else None
        reason = described or (data.error.message if data.error else reason)
    # Redact before cutting: a cut could leave half a secret that no longer matches.
    return " ".join(redact_known(reason).split())[:REASON_CHARS]


def step_failures(instance: dg.DagsterInstance, run_id: str) -> list[dg.DagsterEvent]:
    """The STEP_FAILURE events of a run, oldest first."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.STEP_FAILURE).records
    return [record.event_log_entry.dagster_event for record in records]
