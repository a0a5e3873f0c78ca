"""Launching the migration jobs as a person or the sensor would, and reading what they left."""

import dagster as dg
import psycopg

from release_pipeline.definitions import defs
from release_pipeline_tests.support import failure_message

SENSOR = "migration_approval_sensor"
PAGING_SENSOR = "page_on_critical_failure"


def run(job: str, resources: dict, config: dict | None = None, **kwargs):
    return defs.resolve_job_def(job).execute_in_process(
        run_config=config or {},
        resources=resources,
        instance=kwargs.pop("instance", None) or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        **kwargs,
    )


def plan(resources: dict, requested_by: str = "alice", git_ref: str = "main"):
    config = {"git_ref": git_ref, "requested_by": requested_by}
    return run(
        "database_migration_plan", resources, {"ops": {"checkout_migrations": {"config": config}}}
    )


def planned(resources: dict, requested_by: str = "alice"):
    """A plan that must succeed; returns its Plan."""
    result = plan(resources, requested_by)
    assert result.success, failure_message(result)
    return result.output_for_node("plan_migrations")


def approve(resources: dict, plan_hash: str, approver: str = "bob", kind: str = "migration"):
    config = {"plan_hash": plan_hash, "approver": approver, "kind": kind}
    return run(
        "database_migration_approve", resources, {"ops": {"approve_plan": {"config": config}}}
    )


def approved(resources: dict, plan_hash: str, approver: str = "bob") -> int:
    result = approve(resources, plan_hash, approver)
    assert result.success, failure_message(result)
    return result.output_for_node("approve_plan")


def apply(resources: dict, approval_id: int, **kwargs):
    config = {"ops": {"checkout_approved": {"config": {"approval_id": approval_id}}}}
    return run("database_migration_apply", resources, config, **kwargs)


def sensor_tick(resources: dict, instance: dg.DagsterInstance):
    context = dg.build_sensor_context(
        instance=instance, resources={"target_db": resources["target_db"]}, definitions=defs
    )
    return defs.resolve_sensor_def(SENSOR).evaluate_tick(context)


def page_tick(resources: dict, instance: dg.DagsterInstance, cursor: str | None = None):
    """One tick of the paging sensor; the first (no cursor) only places the cursor."""
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"pagerduty": resources["pagerduty"]},
        definitions=defs,
    )
    return defs.resolve_sensor_def(PAGING_SENSOR).evaluate_tick(context)


def ledger_names(url: str) -> list[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT file_name FROM release_pipeline.ledger ORDER BY file_name"
        ).fetchall()
    return [row[0] for row in rows]


def query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def materialization(result, key: dg.AssetKey) -> dict:
    events = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    assert events, f"no materialization of {key.to_user_string()}"
    return {name: value.value for name, value in events[-1].materialization.metadata.items()}
