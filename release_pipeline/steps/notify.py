"""Slack messages on release success and failure; a failed message never fails a release."""

import os
import time

import dagster as dg

from release_pipeline.catalog import default_catalog
from release_pipeline.resources.slack import SlackResource
from release_pipeline.secrets import redact_known
from release_pipeline.steps.context import SERVICE_TAG, release_step, service_of
from release_pipeline.strategies.deployment import Deployment

ROLLBACK_TAG = "release/rollback"
WEBSERVER_URL_VARIABLE = "DAGSTER_WEBSERVER_URL"
REASON_CHARS = 600


def run_url(run_id: str) -> str:
    base = os.environ.get(WEBSERVER_URL_VARIABLE, "http://127.0.0.1:3000").rstrip("/")
    return f"{base}/runs/{run_id}"


def _duration(instance: dg.DagsterInstance, run_id: str) -> str:
    stats = instance.get_run_stats(run_id)
    started = stats.start_time or time.time()
    return f"{time.time() - started:.0f} s"


@dg.op(description="Tells Slack that the release went live.")
@release_step
def announce_release(
    context: dg.OpExecutionContext, deployment: Deployment, slack: SlackResource
) -> None:
    service = service_of(context)
    commit = deployment.commit
    what = "rolled back to" if context.job_name.endswith("_rollback") else "released"
    verified, color = verification_note(deployment)
    text = (
        f":rocket: {service.name} {what} {deployment.version}, live ({deployment.active})."
        f"{verified} Commit {commit[:12] or 'n/a'},"
        f" took {_duration(context.instance, context.run_id)}. {run_url(context.run_id)}"
    )
    slack.post(default_catalog().platform.slack_channel, text, context.log, color=color)


def verification_note(deployment: Deployment) -> tuple[str, str]:
    """The post-deploy verdict for the announcement, and the message's color."""
    if not deployment.verification:
        return "", "good"  # no bake ran: a rollback, or a service without verification
    if deployment.verification == "passed":
        return " Verification: passed, every post-deploy check measured and met.", "good"
    return (
        f" Verification: {deployment.verification.upper()}, not measured so NOT verified:"
        f" {deployment.not_verified}.",
        "warning",
    )


@dg.failure_hook(required_resource_keys={"slack"})
def slack_on_failure(context: dg.HookContext) -> None:
    """Posts which step failed and why, with secrets redacted."""
    run = context.instance.get_run_by_id(context.run_id)
    name = run.tags.get(SERVICE_TAG) or run.tags.get(ROLLBACK_TAG, "unknown")
    catalog = default_catalog()
    # Redact first: cutting first could leave half a secret that no longer matches.
    reason = redact_known(str(context.op_exception or "unknown error"))
    reason = " ".join(reason.split())[:REASON_CHARS]
    text = (
        f":x: {context.job_name} FAILED at {context.op.name}"
        f" ({name}, version {_version_of(run)}): {reason}"
        f" Took {_duration(context.instance, context.run_id)}. {run_url(context.run_id)}"
    )
    context.resources.slack.post(catalog.platform.slack_channel, text, context.log, color="danger")


def _version_of(run: dg.DagsterRun) -> str:
    checkout = (run.run_config or {}).get("ops", {}).get("checkout", {})
    return str(checkout.get("config", {}).get("version") or "unset")
