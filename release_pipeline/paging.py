"""PagerDuty for the failures that need a person now: a failed rollback or database change.

``page_on_critical_failure`` is a run-failure sensor over the ``<service>_rollback``,
``<service>_migration_apply`` and ``<service>_restore`` jobs. It is the only
place that pages: failure hooks only post to Slack. A sensor reads the run's
final status, so it also pages for runs that no hook saw end, such as a run
that failed at launch or one the run monitor marked failed after its process
was killed. Failed releases are not paged; Slack tells their authors.

One PagerDuty dedup key per release, so repeated failures of the same release
add to one incident:

- rollback: ``<service>-<version>``, the version that was live when the
  rollback started (``backend-42``), read from the service's deployment (or
  site) asset; ``<service>-unknown`` when nothing was ever recorded live;
- migration apply: ``<service>-plan-<first 12 hex of the plan hash>``, or
  ``<service>-approval-<id>`` for an apply launched by hand without the tag;
- restore: ``<service>-restore-<backup file name>`` (``latest`` when none was given).

A paged run gets the tag ``release/paged=<dedup key>`` and is never paged again,
even if the sensor's cursor is reset. Runs that only refused (no approval, bad
input, a busy deploy lock) changed nothing and page nobody.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import dagster as dg

from release_pipeline.catalog import default_catalog
from release_pipeline.errors import ReleaseError
from release_pipeline.migrations.context import APPROVAL_ID_TAG, PLAN_HASH_TAG
from release_pipeline.resources.pagerduty import PagerDutyResource
from release_pipeline.run_facts import (
    error_kind,
    failure_reason,
    is_refusal,
    live_key,
    run_service,
)
from release_pipeline.steps.notify import run_url

SENSOR_NAME = "page_on_critical_failure"
INTERVAL_SECONDS = 30
INTERVAL_ENV = "RELEASE_PAGING_INTERVAL_SECONDS"
PAGED_TAG = "release/paged"
CRITICAL_SUFFIXES = ("_rollback", "_migration_apply", "_restore")


@dataclass(frozen=True)
class Page:
    """One PagerDuty trigger: what the on-call reads, and the release it belongs to."""

    dedup_key: str
    summary: str
    source: str
    details: dict[str, Any]


def interval_seconds(env: Mapping[str, str] = os.environ) -> int:
    """How often the daemon runs the sensor: ``$RELEASE_PAGING_INTERVAL_SECONDS``, else 30."""
    value = env.get(INTERVAL_ENV, "").strip()
    if not value:
        return INTERVAL_SECONDS
    seconds = int(value) if value.isascii() and value.isdigit() else 0
    if seconds < 1:
        raise ReleaseError(
            f"{INTERVAL_ENV}={value!r} is not a whole number of seconds of at least 1. Set it"
            f" to one (e.g. 5), or unset it for the default of {INTERVAL_SECONDS}."
        )
    return seconds


def critical_jobs(jobs: Sequence[dg.JobDefinition]) -> list[dg.JobDefinition]:
    """The jobs whose failure pages: rollbacks, migration applies and restores."""
    return [job for job in jobs if job.name.endswith(CRITICAL_SUFFIXES)]


def release_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[str, str]:
    """The release a critical run belongs to: its dedup key and how the summary names it."""
    service = run_service(run) or "unknown"
    if run.job_name.endswith("_rollback"):
        version = _version_live_before(instance, run, service)
        if version is None:
            return f"{service}-unknown", "no version recorded live"
        return f"{service}-{version}", f"version {version}"
    if run.job_name.endswith("_restore"):
        backup_key = _op_config(run, "choose_backup").get("backup_key") or ""
        backup = PurePosixPath(backup_key).name or "latest"
        return f"{service}-restore-{backup}", f"restore of {backup_key or 'the latest backup'}"
    plan_hash = run.tags.get(PLAN_HASH_TAG, "")
    if plan_hash:
        return f"{service}-plan-{plan_hash[:12]}", f"plan {plan_hash[:12]}"
    approval_id = run.tags.get(APPROVAL_ID_TAG) or _op_config(run, "checkout_approved").get(
        "approval_id", "unknown"
    )
    return f"{service}-approval-{approval_id}", f"approval #{approval_id}"


def critical_page(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    step_failures: Sequence[dg.DagsterEvent],
    run_failure: str = "",
) -> Page | None:
    """The page for a failed critical run, or None when it only refused."""
    if is_refusal(step_failures):
        return None
    service = run_service(run) or "unknown"
    dedup_key, release = release_of(instance, run)
    reason = failure_reason(step_failures, run_failure)
    step = step_failures[0].step_key if step_failures else "none (the run failed outside a step)"
    url = run_url(run.run_id)
    return Page(
        dedup_key=dedup_key,
        summary=f"{run.job_name} failed ({service}, {release}): {reason} {url}",
        source=f"release_pipeline/{service}",
        details={
            "service": service,
            "job": run.job_name,
            "release": release,
            "run": url,
            "step": step,
            "error": (error_kind(step_failures[0]) if step_failures else None) or "unknown",
        },
    )


def critical_failure_sensor(jobs: Sequence[dg.JobDefinition]) -> dg.SensorDefinition:
    """Pages PagerDuty once per failed run of ``jobs``, keyed by release."""
    names = frozenset(job.name for job in jobs)

    @dg.run_failure_sensor(
        name=SENSOR_NAME,
        description=(
            "Pages PagerDuty when a rollback, migration apply or restore fails;"
            " one dedup key per release."
        ),
        # Runs started by `dagster job execute` (Jenkins) carry no code location,
        # and Dagster matches monitored_jobs only to runs of the sensor's own
        # location: it would never see them. So watch every run, filter by name.
        monitor_all_code_locations=True,
        minimum_interval_seconds=interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def page_on_critical_failure(
        context: dg.RunFailureSensorContext, pagerduty: PagerDutyResource
    ) -> None:
        run = context.dagster_run
        if run.job_name not in names:
            return
        if run.tags.get(PAGED_TAG):
            context.log.info(f"Run {run.run_id} was already paged as {run.tags[PAGED_TAG]}.")
            return
        page = critical_page(
            context.instance,
            run,
            context.get_step_failure_events(),
            context.failure_event.message or "",
        )
        if page is None:
            context.log.info(f"{run.job_name} run {run.run_id} only refused; nobody paged.")
            return
        context.log.info(f"Paging for {run.job_name} run {run.run_id} as {page.dedup_key}.")
        if not pagerduty.trigger(
            page.summary,
            dedup_key=page.dedup_key,
            source=page.source,
            details=page.details,
            log=context.log,
        ):
            # The sensor moves past this run either way: say so where the run is watched.
            raise ReleaseError(
                f"PagerDuty did not take the page {page.dedup_key} for {run.job_name} run"
                f" {run.run_id}. Page the on-call by hand: {run_url(run.run_id)}"
            )
        context.instance.add_run_tags(run.run_id, {PAGED_TAG: page.dedup_key})

    return page_on_critical_failure


def paging_definitions(jobs: Sequence[dg.JobDefinition]) -> dg.Definitions:
    """The sensor over the critical ones of ``jobs``, and PagerDuty from the environment."""
    critical = critical_jobs(jobs)
    if not critical:
        return dg.Definitions()
    return dg.Definitions(
        sensors=[critical_failure_sensor(critical)],
        resources={
            "pagerduty": PagerDutyResource(
                routing_key=dg.EnvVar("PAGERDUTY_ROUTING_KEY"),
                events_url=dg.EnvVar("PAGERDUTY_EVENTS_URL"),
            )
        },
    )


def _version_live_before(
    instance: dg.DagsterInstance, run: dg.DagsterRun, service_name: str
) -> str | None:
    catalog = default_catalog()
    if service_name not in catalog.services:
        return None
    record = instance.get_run_record_by_id(run.run_id)
    started = record.start_time if record and record.start_time else None
    if started is None and record is not None:
        started = record.create_timestamp.timestamp()
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=live_key(catalog.service(service_name)), before_timestamp=started
        ),
        limit=1,
    ).records
    if not records:
        return None
    entry = records[0].asset_materialization.metadata.get("version")
    return str(entry.value) if entry is not None else None


def _op_config(run: dg.DagsterRun, op: str) -> dict[str, Any]:
    return ((run.run_config or {}).get("ops", {}).get(op) or {}).get("config") or {}
