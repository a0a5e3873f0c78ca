"""PagerDuty for the failures that need a person now: a failed rollback or database change.

``page_on_critical_failure`` is a sensor over the ``<service>_rollback``,
``<service>_migration_apply`` and ``<service>_restore`` jobs, and over the
``<service>_release`` jobs whose traffic could not be switched back
(``SwitchBackFailed``: production may serve the failed version). It is the only
place that pages for a failed run: failure hooks only post to Slack. Other
failed releases are not paged; Slack tells their authors.

It keeps no cursor. Each tick it reads the instance's failed runs of those jobs
from the last ``LOOKBACK_SECONDS`` (``MAX_RUNS_PER_JOB`` per job) and pages
each one not tagged paged yet. So it pages runs that no hook saw end (failed at
launch, or marked failed by the run monitor after their process was killed),
runs of every code location and of none (``dagster job execute``), and a page
PagerDuty did not take: that tick fails and the next one tries again.

One PagerDuty dedup key per release, so repeated failures of the same release
add to one incident:

- rollback: ``<service>-<version>``, the version that was live when the
  rollback started (``backend-42``), read from the service's deployment (or
  site) asset; ``<service>-unknown`` when nothing was ever recorded live;
- migration apply: ``<service>-plan-<first 12 hex of the plan hash>``, or
  ``<service>-approval-<id>`` for an apply launched by hand without the tag;
- restore: ``<service>-restore-<backup file name>`` (``latest`` when none was given);
- release whose switch-back failed: ``<service>-<version>`` as for a rollback (the
  version that was live when the release started, the one to get back to).

A paged run gets the tag ``release/paged=<dedup key>`` and is never paged again.
Runs that only refused (no approval, bad input, a busy deploy lock) changed
nothing and page nobody.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import dagster as dg

from release_pipeline import run_facts
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
# A failed release pages only when it could not switch the traffic back.
RELEASE_SUFFIX = "_release"
SWITCH_BACK_FAILED = "SwitchBackFailed"
# How far back each tick looks for failed runs not yet paged, and how many per job.
LOOKBACK_SECONDS = 24 * 60 * 60
MAX_RUNS_PER_JOB = 100


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
    """The jobs whose failure may page: rollbacks, migration applies, restores, releases."""
    return [job for job in jobs if job.name.endswith((*CRITICAL_SUFFIXES, RELEASE_SUFFIX))]


def release_of(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[str, str]:
    """The release a critical run belongs to: its dedup key and how the summary names it."""
    service = run_service(run) or "unknown"
    if run.job_name.endswith(("_rollback", RELEASE_SUFFIX)):
        version = _version_live_before(instance, run, service)
        back_to = "switching back to " if run.job_name.endswith(RELEASE_SUFFIX) else ""
        if version is None:
            return f"{service}-unknown", f"{back_to}no version recorded live"
        return f"{service}-{version}", f"{back_to}version {version}"
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
    """The page for a failed critical run, or None when it only refused.

    A failed release pages only when a step raised SwitchBackFailed.
    """
    if is_refusal(step_failures):
        return None
    if run.job_name.endswith(RELEASE_SUFFIX):
        step_failures = [e for e in step_failures if error_kind(e) == SWITCH_BACK_FAILED]
        if not step_failures:
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


def unpaged_failures(
    instance: dg.DagsterInstance, names: Sequence[str], now: float
) -> list[dg.DagsterRun]:
    """Failed runs of ``names`` that ended in the last ``LOOKBACK_SECONDS`` and were not paged.

    Oldest first, at most ``MAX_RUNS_PER_JOB`` per job (the newest ones).
    """
    since = datetime.fromtimestamp(now - LOOKBACK_SECONDS, tz=UTC)
    records: list[dg.RunRecord] = []
    for name in names:
        records += instance.get_run_records(
            dg.RunsFilter(
                job_name=name, statuses=[dg.DagsterRunStatus.FAILURE], updated_after=since
            ),
            limit=MAX_RUNS_PER_JOB,
        )
    records.sort(key=lambda record: record.update_timestamp)
    return [record.dagster_run for record in records if not record.dagster_run.tags.get(PAGED_TAG)]


def run_failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    """The message of the run's RUN_FAILURE event ("" without one)."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.RUN_FAILURE, limit=1, ascending=False
    ).records
    if not records:
        return ""
    event = records[0].event_log_entry.dagster_event
    return (event.message if event else None) or ""


def critical_failure_sensor(jobs: Sequence[dg.JobDefinition]) -> dg.SensorDefinition:
    """Pages PagerDuty once per failed run of ``jobs``, keyed by release."""
    names = sorted(job.name for job in jobs)

    @dg.sensor(
        name=SENSOR_NAME,
        description=(
            "Pages PagerDuty when a rollback, migration apply or restore fails, or a"
            " release fails to switch traffic back; one dedup key per release."
        ),
        minimum_interval_seconds=interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def page_on_critical_failure(
        context: dg.SensorEvaluationContext, pagerduty: PagerDutyResource
    ) -> dg.SkipReason:
        # No cursor: each tick reads the instance's failed runs (of every code location,
        # and of none, as `dagster job execute` leaves them) and pages those not tagged
        # paged yet. A page PagerDuty did not take is tried again on the next tick.
        instance = context.instance
        paged: list[str] = []
        for run in unpaged_failures(instance, names, time.time()):
            page = critical_page(
                instance,
                run,
                run_facts.step_failures(instance, run.run_id),
                run_failure_message(instance, run.run_id),
            )
            if page is None:
                continue  # it only refused, or a release switched back: nobody is paged
            context.log.info(f"Paging for {run.job_name} run {run.run_id} as {page.dedup_key}.")
            if not pagerduty.trigger(
                page.summary,
                dedup_key=page.dedup_key,
                source=page.source,
                details=page.details,
                log=context.log,
            ):
                # Stop here: PagerDuty is likely down, and each page would wait out its retries.
                raise ReleaseError(
                    f"PagerDuty did not take the page {page.dedup_key} for {run.job_name} run"
                    f" {run_url(run.run_id)}. The next tick tries again, with any other failed"
                    " run not paged yet; if PagerDuty stays down, page the on-call by hand."
                )
            instance.add_run_tags(run.run_id, {PAGED_TAG: page.dedup_key})
            paged.append(page.dedup_key)
        return dg.SkipReason(
            f"Paged {', '.join(paged)}." if paged else "No failed critical run to page."
        )

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
