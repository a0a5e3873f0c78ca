"""Reads the release history out of the Dagster instance: runs and deployment records.

A release is a run of ``<service>_release``, a rollback one of ``<service>_rollback``;
only finished runs (succeeded or failed) count. What went live, and which commit,
comes from the service's deployment (or site) materializations of that run.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import dagster as dg

from release_pipeline.catalog import Service
from release_pipeline.dora.metrics import Attempt
from release_pipeline.run_facts import is_refusal, live_key, step_failures

KINDS = ("release", "rollback")
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE]
PAGE_SIZE = 500
NO_COMMIT = ("", "none", "unchanged")


def read_attempts(
    instance: dg.DagsterInstance, services: Iterable[Service], since: float, until: float
) -> list[Attempt]:
    """Every finished release and rollback of ``services`` created in [since, until)."""
    attempts = []
    for service in services:
        deployments = _deployments(instance, live_key(service), since, until)
        for kind in KINDS:
            records = instance.get_run_records(
                filters=dg.RunsFilter(
                    job_name=f"{service.name}_{kind}",
                    statuses=FINISHED,
                    created_after=datetime.fromtimestamp(since, UTC),
                    created_before=datetime.fromtimestamp(until, UTC),
                )
            )
            attempts += [_attempt(instance, service, kind, r, deployments) for r in records]
    return attempts


def _attempt(instance, service: Service, kind: str, record, deployments) -> Attempt:
    run = record.dagster_run
    succeeded = run.status == dg.DagsterRunStatus.SUCCESS
    deployed_at, commit = deployments.get(run.run_id, (None, ""))
    return Attempt(
        service=service.name,
        kind=kind,
        succeeded=succeeded,
        ended_at=record.end_time or record.update_timestamp.timestamp(),
        run_id=run.run_id,
        commit=commit if commit not in NO_COMMIT else "",
        deployed_at=deployed_at,
        refused=not succeeded and is_refusal(step_failures(instance, run.run_id)),
    )


def _deployments(
    instance: dg.DagsterInstance, key: dg.AssetKey, since: float, until: float
) -> dict[str, tuple[float, str]]:
    """run id -> (when, commit) of each materialization of ``key`` in the period."""
    found: dict[str, tuple[float, str]] = {}
    cursor = None
    while True:
        result = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, after_timestamp=since, before_timestamp=until),
            limit=PAGE_SIZE,
            cursor=cursor,
            ascending=True,
        )
        for record in result.records:
            entry = record.asset_materialization.metadata.get("commit")
            found[record.run_id] = (record.timestamp, str(entry.value) if entry else "")
        if not result.has_more:
            return found
        cursor = result.cursor
