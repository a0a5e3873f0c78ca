"""The approval sensor: one apply run per approval of the current plan, and why not otherwise."""

from __future__ import annotations

import dagster as dg

from release_pipeline.catalog import Service
from release_pipeline.guards import EMERGENCY_TAG, describe, freezes_now
from release_pipeline.migrations import approval, ledger
from release_pipeline.migrations.approval import Approval
from release_pipeline.migrations.context import APPROVAL_ID_TAG, APPROVER_TAG, PLAN_HASH_TAG
from release_pipeline.resources.postgres_target import PostgresTargetResource

SENSOR_NAME = "migration_approval_sensor"
INTERVAL_SECONDS = 30
# Expired approvals stay in the skip reasons this long, so whoever waits on them sees why.
REPORT_EXPIRED_HOURS = 24


def approval_sensor(service: Service, apply_job: dg.JobDefinition) -> dg.SensorDefinition:
    ttl_hours = service.strategy.approval_ttl_hours

    @dg.sensor(
        name=SENSOR_NAME,
        job=apply_job,
        minimum_interval_seconds=INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Launches {apply_job.name} once per approval of the current plan.",
    )
    def migration_approval_sensor(
        context: dg.SensorEvaluationContext, target_db: PostgresTargetResource
    ) -> dg.SensorResult | dg.SkipReason:
        with target_db.connect(f"release_pipeline {SENSOR_NAME}") as connection:
            candidates = approval.unused_approvals(
                connection, "migration", within_hours=ttl_hours + REPORT_EXPIRED_HOURS
            )
            latest = approval.latest_request(connection, "migration")
            fingerprint = ledger.fingerprint(ledger.read_ledger(connection))
        requests, reasons = [], []
        for given in candidates:
            reason = (
                given.refusal()
                or approval.staleness(given, latest, fingerprint)
                or _launched_before(context.instance, given)
            )
            if reason:
                reasons.append(reason)
            else:
                requests.append(_run_request(given))
        if not requests:
            return dg.SkipReason("; ".join(reasons) or "No unused migration approval.")
        freezes = freezes_now(service)
        if freezes:
            # Launched now, the apply would be refused and its approval spent.
            waiting = ", ".join(f"#{request.tags[APPROVAL_ID_TAG]}" for request in requests)
            return dg.SkipReason(
                f"Approval {waiting} waits for the end of {describe(freezes)}. To apply now,"
                f" launch {apply_job.name} with its approval_id and the tag {EMERGENCY_TAG}=true."
            )
        for reason in reasons:
            context.log.info(reason)
        return dg.SensorResult(run_requests=requests)

    return migration_approval_sensor


def _run_request(given: Approval) -> dg.RunRequest:
    # One key per approval: a failed apply is retried by a new plan and approval,
    # never by this sensor relaunching an old one.
    return dg.RunRequest(
        run_key=f"migration-approval-{given.id}",
        run_config={"ops": {"checkout_approved": {"config": {"approval_id": given.id}}}},
        tags={
            APPROVAL_ID_TAG: str(given.id),
            PLAN_HASH_TAG: given.plan_hash,
            APPROVER_TAG: given.approved_by or "",
        },
    )


def _launched_before(instance: dg.DagsterInstance, given: Approval) -> str | None:
    runs = instance.get_runs(dg.RunsFilter(tags={APPROVAL_ID_TAG: str(given.id)}), limit=1)
    if not runs:
        return None
    return (
        f"approval #{given.id} was already launched as run {runs[0].run_id}"
        f" ({runs[0].status.value}); plan and approve again to retry"
    )
