"""The approve job: a person records that they approve one plan hash (or one restore)."""

from typing import Literal

import dagster as dg
from pydantic import Field

from release_pipeline.migrations import approval, notify
from release_pipeline.migrations.context import migration_service
from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline.resources.slack import SlackResource
from release_pipeline.steps.context import release_step


class ApproveConfig(dg.Config):
    plan_hash: str = Field(description="The full plan hash from the approval request.")
    approver: str = Field(description="Your name; it must differ from the requester's.")
    kind: Literal["migration", "restore"] = Field(
        default="migration", description="What the hash is for: a migration plan or a restore."
    )


@dg.op(description="Records who approved which plan hash, when, and until when.")
@release_step
def approve_plan(
    context: dg.OpExecutionContext,
    config: ApproveConfig,
    target_db: PostgresTargetResource,
    slack: SlackResource,
) -> int:
    service, strategy = migration_service(context)
    with target_db.connect() as connection:
        given = approval.approve(
            connection,
            config.kind,
            config.plan_hash,
            approver=config.approver,
            ttl_hours=strategy.approval_ttl_hours,
            run_id=context.run_id,
        )
    next_step = (
        "The approval sensor launches the apply."
        if given.kind == "migration"
        else f"Launch {service.name}_restore again to restore."
    )
    text = (
        f":white_check_mark: {given.approved_by} approved {service.name} {given.kind}"
        f" {given.short_hash} (#{given.id}) requested by {given.requested_by}; valid until"
        f" {given.expires_at:%F %T %Z}. {next_step}"
    )
    notify.post(slack, text, context.log)
    context.log.info(text)
    context.add_output_metadata(
        {"approval_id": given.id, "approved_by": given.approved_by, "plan_hash": given.plan_hash}
    )
    return given.id


@dg.graph(description="Approve a migration plan or a restore by its hash.")
def migration_approve():
    approve_plan()
