"""The apply job: under the migration lock, the approved plan and nothing else, then a check.

The approval sensor launches it with an approval id. The plan is computed again
from the approved commit and the ledger as it is now; a different hash means the
database or the files moved since the approval, and nothing is applied.
"""

import time
from dataclasses import dataclass

import dagster as dg
from pydantic import Field

from release_pipeline.errors import ApprovalRefused, MigrationError
from release_pipeline.guards import check_freeze
from release_pipeline.migrations import approval, ledger, notify
from release_pipeline.migrations.apply import AppliedFile, apply_plan, verify_schema
from release_pipeline.migrations.assets import record_schema
from release_pipeline.migrations.context import migration_service, read_source
from release_pipeline.migrations.ledger import MigrationSource
from release_pipeline.migrations.plan import Plan, make_plan
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline.resources.slack import SlackResource
from release_pipeline.secrets import redact_known
from release_pipeline.steps.context import release_step
from release_pipeline.steps.notify import run_url


class ApplyConfig(dg.Config):
    approval_id: int = Field(description="The approval to act on (the sensor fills it in).")


@dataclass(frozen=True)
class ApprovedSource:
    approval_id: int
    approved_by: str
    source: MigrationSource


@dataclass(frozen=True)
class ApplyResult:
    approval_id: int
    approved_by: str
    plan_hash: str
    commit: str
    applied: tuple[AppliedFile, ...]
    seconds: float
    emergency_during: str | None = None


@dg.op(description="Reads the approval and checks out the commit it was given for.")
@release_step
def checkout_approved(
    context: dg.OpExecutionContext,
    config: ApplyConfig,
    git: GitResource,
    target_db: PostgresTargetResource,
) -> ApprovedSource:
    service, strategy = migration_service(context)
    check_freeze(context, service, "applying migrations", _unused(context, config.approval_id))
    with target_db.connect() as connection:
        given = approval.get(connection, config.approval_id)
    if given is None or given.kind != "migration":
        raise ApprovalRefused(f"There is no migration approval #{config.approval_id}.")
    commit = str(given.summary["commit"])
    source = read_source(git, service, strategy, commit, f"{context.run_id}-migrations")
    context.log.info(f"Checked out {commit[:12]}, approved as plan {given.short_hash}.")
    return ApprovedSource(given.id, given.approved_by or "", source)


@dg.op(description="Applies the approved plan file by file under the migration lock.")
@release_step
def apply_migrations(
    context: dg.OpExecutionContext, approved: ApprovedSource, target_db: PostgresTargetResource
) -> ApplyResult:
    service, _ = migration_service(context)
    started = time.monotonic()
    with target_db.migration_lock(context.run_id, context.log) as connection:
        # Again under the lock: a window may have opened while this run waited for it.
        unused = _unused(context, approved.approval_id)
        emergency = check_freeze(context, service, "applying migrations", unused)
        ledger.ensure_ledger(connection)
        before = ledger.read_ledger(connection)
        plan = make_plan(approved.source, before)
        if plan.is_empty:
            context.log.info(f"Nothing pending at {plan.ledger_head}: applied nothing.")
            return ApplyResult(
                approved.approval_id, approved.approved_by, plan.plan_hash, plan.commit, (), 0.0
            )
        given = _usable_approval(connection, approved.approval_id, plan)
        approval.use(connection, given, context.run_id)
        context.log.info(
            f"Applying plan {plan.plan_hash[:12]} approved by {given.approved_by}:"
            f" {', '.join(plan.file_names)}."
        )
        try:
            applied = apply_plan(
                connection, plan, approver=given.approved_by, run_id=context.run_id, log=context.log
            )
        except MigrationError as exc:
            _record_partial_apply(context, service.name, connection, before, plan, exc)
            raise
    seconds = round(time.monotonic() - started, 3)
    return ApplyResult(
        given.id, given.approved_by, plan.plan_hash, plan.commit, tuple(applied), seconds, emergency
    )


def _unused(context: dg.OpExecutionContext, approval_id: int) -> str:
    return (
        f"Nothing was applied and approval #{approval_id} is unused: launch {context.job_name}"
        f" with approval_id {approval_id} once the window has ended."
    )


def _record_partial_apply(context, service: str, connection, before, plan: Plan, exc) -> None:
    """When files were applied before the failing one, the schema asset says where it stopped."""
    after = ledger.read_ledger(connection)
    if len(after) > len(before):
        reason = f"plan {plan.plan_hash[:12]} stopped at a failed file"
        details = {"plan_hash": plan.plan_hash, "error": redact_known(str(exc))}
        record_schema(context, service, after, reason, details)


def _usable_approval(connection, approval_id: int, plan: Plan) -> approval.Approval:
    """The approval, if it is approved, unexpired, unused and for exactly this plan."""
    given = approval.get(connection, approval_id)
    if given is None:
        raise ApprovalRefused(f"Nothing was applied: approval #{approval_id} does not exist.")
    latest = approval.latest_request(connection, "migration")
    refusal = given.refusal(plan.plan_hash) or approval.staleness(
        given, latest, plan.ledger_fingerprint
    )
    if refusal:
        raise ApprovalRefused(f"Nothing was applied: {refusal}.")
    return given


@dg.op(description="Checks the catalog's tables, functions and smoke queries; records the schema.")
@release_step
def verify_migrated_schema(
    context: dg.OpExecutionContext,
    result: ApplyResult,
    target_db: PostgresTargetResource,
    slack: SlackResource,
) -> None:
    service, strategy = migration_service(context)
    with target_db.connect() as connection:
        entries = ledger.read_ledger(connection)
        try:
            checked, problem = verify_schema(connection, strategy), None
        except MigrationError as exc:
            checked, problem = {}, exc
    if result.applied:
        record_schema(
            context,
            service.name,
            entries,
            reason=f"plan {result.plan_hash[:12]}",
            facts={**_facts(result), "schema_check": str(problem or "passed")},
        )
    if problem is not None:
        raise problem
    context.log.info(f"Schema check passed: {checked}.")
    if result.applied:
        text = (
            f":white_check_mark: {service.name} migrated: {', '.join(_names(result))} (plan"
            f" {result.plan_hash[:12]}, approved by {result.approved_by}) in"
            f" {result.seconds:.1f} s. Ledger head {entries[-1].file_name}."
            f" {run_url(context.run_id)}"
        )
        notify.post(slack, text, context.log, color="good")


def _names(result: ApplyResult) -> list[str]:
    return [item.name for item in result.applied]


def _facts(result: ApplyResult) -> dict[str, object]:
    return {
        "applied": _names(result),
        "plan_hash": result.plan_hash,
        "approved_by": result.approved_by,
        "approval_id": result.approval_id,
        "commit": result.commit,
        "seconds": result.seconds,
        **({"emergency_during": result.emergency_during} if result.emergency_during else {}),
    }


@dg.graph(description="Lock, recompute and compare the plan hash, apply, record, verify.")
def migration_apply():
    verify_migrated_schema(apply_migrations(checkout_approved()))
