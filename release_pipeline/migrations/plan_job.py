"""The plan job: pending files and plan hash, a verified backup, a dry run, an approval request.

Each step runs only if the one before succeeded, so a failed backup or dry run
never reaches the approval request.
"""

from dataclasses import dataclass

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from release_pipeline.migrations import approval, ledger, notify
from release_pipeline.migrations.assets import backup_key
from release_pipeline.migrations.backup import Backup, take_backup, verify_backup
from release_pipeline.migrations.context import migration_service, read_source, requester
from release_pipeline.migrations.ledger import MigrationSource
from release_pipeline.migrations.plan import FileCheck, Plan, make_plan, validate
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline.resources.slack import SlackResource
from release_pipeline.steps.context import release_step


class PlanConfig(dg.Config):
    git_ref: str = Field(default="main", description="Branch, tag or commit whose files to plan.")
    requested_by: str = Field(
        default="", description="Who asks for this migration; someone else must approve it."
    )


@dataclass(frozen=True)
class PlanRequest:
    source: MigrationSource
    requested_by: str


@dg.op(description="Checks out git_ref and reads the service's numbered migration files.")
@release_step
def checkout_migrations(
    context: dg.OpExecutionContext, config: PlanConfig, git: GitResource
) -> PlanRequest:
    service, strategy = migration_service(context)
    requested_by = requester(context, config.requested_by)
    source = read_source(git, service, strategy, config.git_ref, f"{context.run_id}-migrations")
    context.log.info(
        f"Read {len(source.files)} migration files of {service.name} at {source.commit[:12]}."
    )
    return PlanRequest(source, requested_by)


@dg.op(description="Compares the files with the ledger: pending files and the plan hash.")
@release_step
def plan_migrations(
    context: dg.OpExecutionContext, request: PlanRequest, target_db: PostgresTargetResource
) -> Plan:
    with target_db.migration_lock(context.run_id, context.log) as connection:
        ledger.ensure_ledger(connection)
        approval.ensure_approvals(connection)
        plan = make_plan(request.source, ledger.read_ledger(connection))
    if plan.is_empty:
        context.log.info(f"Nothing pending: {target_db.describe()} is at {plan.ledger_head}.")
    else:
        context.log.info(
            f"Planned {len(plan.pending)} pending files after {plan.ledger_head or 'an empty'}"
            f" ledger: {', '.join(plan.file_names)}; plan hash {plan.plan_hash}."
        )
    context.add_output_metadata(
        {"plan_hash": plan.plan_hash, "pending": plan.file_names, "ledger_head": plan.ledger_head}
    )
    return plan


@dg.op(description="pg_dump streamed to S3, then read back through pg_restore --list.")
@release_step
def backup_database(
    context: dg.OpExecutionContext,
    plan: Plan,
    target_db: PostgresTargetResource,
    backup_s3: S3Resource,
) -> Backup | None:
    service, strategy = migration_service(context)
    if plan.is_empty:
        context.log.info("Nothing pending, so no backup was taken.")
        return None
    s3 = backup_s3.get_client()
    context.log.info(f"Backing up {target_db.describe()} to s3://{strategy.backup_bucket}.")
    backup = take_backup(target_db, s3, strategy.backup_bucket, strategy.backup_prefix)
    contents = verify_backup(target_db, s3, backup)
    entries = sum(1 for line in contents.splitlines() if line and not line.startswith(";"))
    context.log.info(
        f"Backed up {service.name} to {backup.uri}: {backup.size} bytes in {backup.seconds:.1f} s,"
        f" read back by pg_restore --list ({entries} entries)."
    )
    facts = {"uri": backup.uri, "size_bytes": backup.size, "sha256": backup.sha256}
    context.log_event(
        dg.AssetMaterialization(
            asset_key=backup_key(service.name),
            description=f"Backup taken before migration plan {plan.plan_hash[:12]}",
            metadata={
                **facts,
                "seconds": backup.seconds,
                "toc_entries": entries,
                "plan_hash": plan.plan_hash,
                "commit": plan.commit,
            },
        )
    )
    context.add_output_metadata(facts)
    return backup


@dg.op(description="Applies the pending files in one transaction and rolls it back.")
@release_step
def validate_migrations(
    context: dg.OpExecutionContext,
    plan: Plan,
    backup: Backup | None,
    target_db: PostgresTargetResource,
) -> list[FileCheck]:
    if plan.is_empty:
        return []
    with target_db.connect(f"release_pipeline validate {context.run_id}") as connection:
        checks = validate(connection, plan)
    for check in checks:
        if not check.validated:
            context.log.warning(
                f"{check.name} cannot run in a transaction"
                f" ({'; '.join(check.outside_transaction)}); it was left out of the dry run"
                " and the apply runs it alone, outside one."
            )
    validated = [check.name for check in checks if check.validated]
    context.log.info(f"Dry run applied and rolled back: {', '.join(validated) or 'no file'}.")
    context.add_output_metadata(
        {check.name: "; ".join(check.outside_transaction) or "validated" for check in checks}
    )
    return checks


@dg.op(
    description="Records the approval request with the plan hash and tells Slack how to approve."
)
@release_step
def request_approval(
    context: dg.OpExecutionContext,
    request: PlanRequest,
    plan: Plan,
    backup: Backup | None,
    checks: list[FileCheck],
    target_db: PostgresTargetResource,
    slack: SlackResource,
) -> None:
    service, strategy = migration_service(context)
    if plan.is_empty or backup is None:
        return
    summary = {**plan.summary(), "backup": backup.uri, "backup_sha256": backup.sha256}
    with target_db.connect() as connection:
        pending = approval.request(
            connection,
            "migration",
            plan.plan_hash,
            summary,
            by=request.requested_by,
            run_id=context.run_id,
        )
    text = notify.approval_request_text(
        service.name,
        plan,
        backup,
        request.requested_by,
        strategy.approval_ttl_hours,
        context.run_id,
    )
    notify.post(slack, text, context.log)
    context.log.info(f"Requested approval #{pending.id} of plan {plan.plan_hash} from Slack.")
    context.add_output_metadata({"approval_id": pending.id, "plan_hash": plan.plan_hash})


@dg.graph(description="Pending files, verified backup, dry run, approval request.")
def migration_plan():
    request = checkout_migrations()
    plan = plan_migrations(request)
    backup = backup_database(plan)
    checks = validate_migrations(plan, backup)
    request_approval(request, plan, backup, checks)
