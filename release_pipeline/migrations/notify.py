"""Slack messages for plans, approvals and applies, and when one fails.

PagerDuty is paged by the ``page_on_critical_failure`` sensor (release_pipeline.paging),
not here: it also sees runs that died before any hook could run.
"""

from __future__ import annotations

import time

import dagster as dg

from release_pipeline.catalog import default_catalog
from release_pipeline.migrations.backup import Backup
from release_pipeline.migrations.context import APPROVAL_TAG
from release_pipeline.migrations.plan import Plan
from release_pipeline.resources.slack import SlackResource
from release_pipeline.secrets import redact_known
from release_pipeline.steps.context import SERVICE_TAG
from release_pipeline.steps.notify import run_url

CLI = "dagster job execute -m release_pipeline.definitions"


def post(slack: SlackResource, text: str, log: dg.DagsterLogManager, color: str = "") -> None:
    slack.post(default_catalog().platform.slack_channel, text, log, color=color)


def approval_request_text(
    service: str, plan: Plan, backup: Backup, requested_by: str, ttl: float, run_id: str
) -> str:
    outside = [f.name for f in plan.pending if f.non_transactional]
    note = f" Outside a transaction: {', '.join(outside)}." if outside else ""
    return (
        f":lock: {service} migration plan {plan.plan_hash[:12]} needs an approval."
        f" Pending: {', '.join(plan.file_names)} (commit {plan.commit[:12]}, after"
        f" {plan.ledger_head or 'an empty ledger'}).{note} Backup {backup.uri}"
        f" ({backup.size} bytes, sha256 {backup.sha256[:12]}). Requested by {requested_by}."
        f" To approve (someone other than {requested_by}; valid {ttl:g} h): launch"
        f" {service}_migration_approve with"
        f" `ops: {{approve_plan: {{config: {{plan_hash: {plan.plan_hash}, approver: <you>}}}}}}`"
        f" in the UI, or `{CLI} -j {service}_migration_approve -c approve.yaml`. {run_url(run_id)}"
    )


def restore_request_text(
    service: str, backup: Backup, requested_by: str, restore_hash: str, run_id: str
) -> str:
    return (
        f":warning: {requested_by} asks to restore {service} from {backup.uri} (sha256"
        f" {backup.sha256[:12]}). Everything written since that backup would be lost."
        f" To approve (someone other than {requested_by}): launch {service}_migration_approve with"
        f" `ops: {{approve_plan: {{config: {{plan_hash: {restore_hash}, approver: <you>,"
        f" kind: restore}}}}}}`; then launch {service}_restore again with backup_key"
        f" {backup.key}. {run_url(run_id)}"
    )


@dg.failure_hook(required_resource_keys={"slack"})
def alert_on_migration_failure(context: dg.HookContext) -> None:
    """Slack for every failed step, with secrets redacted."""
    run = context.instance.get_run_by_id(context.run_id)
    service = run.tags.get(SERVICE_TAG) or run.tags.get(APPROVAL_TAG, "database")
    reason = redact_known(str(context.op_exception or "unknown error"))[:1500]
    stats = context.instance.get_run_stats(context.run_id)
    took = time.time() - (stats.start_time or time.time())
    text = (
        f":x: {context.job_name} FAILED at {context.op.name} ({service}): {reason}"
        f" Took {took:.0f} s. {run_url(context.run_id)}"
    )
    post(context.resources.slack, text, context.log, color="danger")
