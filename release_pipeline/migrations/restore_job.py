"""The restore job: a person puts a backup back, after someone else approved exactly that backup.

Restoring loses every write made since the backup, so nothing launches it but a
person. The first launch records a request and stops; once another person has
approved the restore hash (backup URI and SHA-256), launching it again restores.
"""

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from release_pipeline.errors import ApprovalRefused, BackupError
from release_pipeline.migrations import approval, ledger, notify
from release_pipeline.migrations.assets import record_schema
from release_pipeline.migrations.backup import Backup, download, find_backup, list_backup_keys
from release_pipeline.migrations.context import migration_service, requester
from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline.resources.slack import SlackResource
from release_pipeline.steps.context import release_step


class RestoreConfig(dg.Config):
    backup_key: str = Field(
        default="", description="S3 key of the backup to restore; empty takes the latest."
    )
    requested_by: str = Field(default="", description="Who asks for the restore.")


@dataclass(frozen=True)
class RestoreRequest:
    backup: Backup
    requested_by: str  # as configured; may be empty until a request needs a name


def restore_hash(backup: Backup) -> str:
    """What a restore approval names: this backup object with these exact bytes."""
    return hashlib.sha256(f"restore {backup.uri} {backup.sha256}".encode()).hexdigest()


@dg.op(description="Finds the backup to restore (the latest unless backup_key names one).")
@release_step
def choose_backup(
    context: dg.OpExecutionContext, config: RestoreConfig, backup_s3: S3Resource
) -> RestoreRequest:
    _, strategy = migration_service(context)
    s3, bucket = backup_s3.get_client(), strategy.backup_bucket
    key = config.backup_key or next(
        reversed(list_backup_keys(s3, bucket, strategy.backup_prefix)), ""
    )
    backup = find_backup(s3, bucket, key) if key else None
    if backup is None:
        where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}/{strategy.backup_prefix}"
        raise BackupError(f"No backup at {where}; give backup_key of an existing backup.")
    context.log.info(f"Chose {backup.uri} ({backup.size} bytes, sha256 {backup.sha256[:12]}).")
    return RestoreRequest(backup, config.requested_by)


@dg.op(description="Restores the backup into the database once its restore is approved.")
@release_step
def restore_database(
    context: dg.OpExecutionContext,
    request: RestoreRequest,
    target_db: PostgresTargetResource,
    backup_s3: S3Resource,
    slack: SlackResource,
) -> None:
    service, _ = migration_service(context)
    backup = request.backup
    wanted = restore_hash(backup)
    with target_db.migration_lock(context.run_id, context.log) as connection:
        approval.ensure_approvals(connection)
        given = _approved_or_request(context, request, connection, wanted, slack)
        approval.use(connection, given, context.run_id)
        context.log.info(f"Restoring {backup.uri}, approved by {given.approved_by}.")
        with tempfile.TemporaryDirectory(prefix="release-restore-") as work:
            archive = Path(work) / Path(backup.key).name
            download(backup_s3.get_client(), backup, archive)
            target_db.restore(archive, keep_schemas=[approval.AUDIT_SCHEMA])
        entries = ledger.read_ledger(connection)
    record_schema(
        context,
        service.name,
        entries,
        reason=f"restored from {backup.uri}",
        facts={"approved_by": given.approved_by, "backup_sha256": backup.sha256},
    )
    text = (
        f":rewind: {service.name} restored from {backup.uri} (approved by {given.approved_by});"
        f" ledger head now {entries[-1].file_name if entries else 'empty'}. Writes made after"
        " the backup are gone."
    )
    notify.post(slack, text, context.log, color="warning")


def _approved_or_request(context, request, connection, wanted, slack) -> approval.Approval:
    """The approval of this restore, or a new request for one (and the run stops)."""
    backup = request.backup
    latest = approval.latest_request(connection, "restore")
    if latest is not None and latest.plan_hash == wanted:
        refusal = latest.refusal(wanted)
        if refusal is None:
            return latest
        if latest.approved_by is None:
            raise ApprovalRefused(
                f"Nothing was restored: {refusal}. Approve it, then launch again."
            )
    service, _ = migration_service(context)
    requested_by = requester(context, request.requested_by)
    summary = {"backup": backup.uri, "backup_sha256": backup.sha256, "size": backup.size}
    asked = approval.request(
        connection, "restore", wanted, summary, by=requested_by, run_id=context.run_id
    )
    notify.post(
        slack,
        notify.restore_request_text(service.name, backup, requested_by, wanted, context.run_id),
        context.log,
    )
    raise ApprovalRefused(
        f"Nothing was restored yet: restoring {backup.uri} needs an approval by someone other"
        f" than {requested_by}. Requested as #{asked.id} (hash {wanted}); after the approval,"
        f" launch {service.name}_restore again with backup_key {backup.key}."
    )


@dg.graph(description="Restore a chosen backup (latest by default) after its own approval.")
def migration_restore():
    restore_database(choose_backup())
