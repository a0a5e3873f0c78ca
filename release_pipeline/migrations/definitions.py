"""The migration jobs, sensor, assets and resources of the catalog's migrations service."""

from __future__ import annotations

import dagster as dg
from dagster_aws.s3 import S3Resource

from release_pipeline.catalog import Catalog, Service
from release_pipeline.errors import CatalogError
from release_pipeline.migrations.apply_job import migration_apply
from release_pipeline.migrations.approve_job import migration_approve
from release_pipeline.migrations.assets import migration_asset_specs
from release_pipeline.migrations.context import APPROVAL_TAG
from release_pipeline.migrations.notify import alert_on_migration_failure
from release_pipeline.migrations.plan_job import migration_plan
from release_pipeline.migrations.restore_job import migration_restore
from release_pipeline.migrations.sensors import approval_sensor
from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline.steps.context import SERVICE_TAG


def migration_resources() -> dict[str, dg.ConfigurableResource]:
    """The target database and the backup bucket's S3, from the environment.

    PagerDuty belongs to the paging sensor (release_pipeline.paging).
    """
    return {
        "target_db": PostgresTargetResource(url=dg.EnvVar("DATABASE_URL")),
        # Credentials and region come from boto3's usual sources (AWS_* variables, a role).
        "backup_s3": S3Resource(endpoint_url=dg.EnvVar("S3_ENDPOINT_URL")),
    }


def migration_jobs(service: Service) -> dict[str, dg.JobDefinition]:
    """plan, approve, apply and restore; all but approve share the run queue's service slot."""
    queued = {SERVICE_TAG: service.name}
    graphs = {
        "plan": (migration_plan, "migration_plan", queued, "Plan, back up, dry-run"),
        "approve": (
            migration_approve,
            "migration_approve",
            {APPROVAL_TAG: service.name},
            "Approve a plan hash or a restore",
        ),
        "apply": (migration_apply, "migration_apply", queued, "Apply an approved plan"),
        "restore": (migration_restore, "restore", queued, "Restore a backup, once approved"),
    }
    return {
        role: graph.to_job(
            name=f"{service.name}_{suffix}",
            description=f"{what} of {service.name} ({service.description}).",
            tags=tags,
            hooks={alert_on_migration_failure},
            executor_def=dg.in_process_executor,
        )
        for role, (graph, suffix, tags, what) in graphs.items()
    }


def migration_definitions(catalog: Catalog) -> dg.Definitions:
    """Everything the catalog's migrations service needs; empty when it has none."""
    services = [svc for svc in catalog.services.values() if svc.strategy.kind == "migrations"]
    if not services:
        return dg.Definitions()
    if len(services) > 1:
        names = ", ".join(service.name for service in services)
        raise CatalogError(
            f"Services {names} all use migrations, but one target database (DATABASE_URL) is"
            " configured. Keep one migrations service per code location."
        )
    service = services[0]
    jobs = migration_jobs(service)
    return dg.Definitions(
        jobs=list(jobs.values()),
        sensors=[approval_sensor(service, jobs["apply"])],
        assets=migration_asset_specs(service),
        resources=migration_resources(),
    )
