"""The database's assets: the last verified backup and the migrated schema (ledger head)."""

from __future__ import annotations

import dagster as dg

from release_pipeline.catalog import Service
from release_pipeline.migrations.ledger import LedgerEntry


def backup_key(service: str) -> dg.AssetKey:
    return dg.AssetKey([service, "backup"])


def schema_key(service: str) -> dg.AssetKey:
    return dg.AssetKey([service, "schema"])


def migration_asset_specs(service: Service) -> list[dg.AssetSpec]:
    backup = dg.AssetSpec(
        key=backup_key(service.name),
        description=f"The last verified backup of {service.name}: S3 URI, size, SHA-256.",
        group_name="releases",
        kinds={"postgres", "s3"},
        tags={"release/service": service.name},
    )
    schema = dg.AssetSpec(
        key=schema_key(service.name),
        description=(
            f"The {service.name} schema as migrated: ledger head, plan hash, who approved it."
        ),
        group_name="releases",
        deps=[backup.key],
        kinds={"postgres"},
        tags={"release/service": service.name},
    )
    return [backup, schema]


def record_schema(
    context: dg.OpExecutionContext,
    service: str,
    entries: list[LedgerEntry],
    reason: str,
    facts: dict[str, object],
) -> None:
    """Reports the ``<service>/schema`` asset: the ledger head and why it moved."""
    head = entries[-1] if entries else None
    context.log_event(
        dg.AssetMaterialization(
            asset_key=schema_key(service),
            description=f"{service} at {head.file_name if head else 'an empty ledger'} ({reason})",
            metadata={
                "ledger_head": head.file_name if head else "",
                "ledger_head_sha256": head.sha256 if head else "",
                "ledger_entries": len(entries),
                "reason": reason,
                **facts,
            },
        )
    )
