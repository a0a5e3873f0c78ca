"""``platform/dora``: the week's DORA metrics, materialized every Monday morning.

A plain asset with a weekly schedule rather than weekly partitions: the metrics
come from the instance's history, so the materializations themselves are the
week-by-week series (the asset's Plots tab charts them), and any other window
is one Launchpad run away (``end`` and ``days`` in the config).
"""

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dagster as dg
from pydantic import Field

from release_pipeline.catalog import default_catalog
from release_pipeline.dora import history, report
from release_pipeline.dora.metrics import DAY_SECONDS, Window, compute
from release_pipeline.errors import ReleaseError, ReleaseInputError
from release_pipeline.jobs import released_services
from release_pipeline.resources.git import GitResource
from release_pipeline.secrets import redact_known

DORA_KEY = dg.AssetKey(["platform", "dora"])
JOB_NAME = "platform_dora"
SCHEDULE_NAME = "platform_dora_weekly"
CRON = "0 6 * * 1"  # Mondays 06:00: the week that just ended
TIMEZONE = "Europe/Madrid"


class DoraConfig(dg.Config):
    days: int = Field(
        default=7,
        gt=0,
        le=92,
        description=(
            f"Length of the window, in calendar days of {TIMEZONE}: it starts at the same"
            " local time as it ends (so a week across a DST change is 167 or 169 hours)."
        ),
    )
    end: str = Field(
        default="",
        description="ISO time the window ends (UTC unless it says otherwise); empty is now.",
    )
    context_days: int = Field(
        default=30,
        ge=0,
        le=365,
        description="History read before the window, for releases rolled back or broken in it.",
    )

    def window(self, now: float) -> Window:
        """``days`` local days back from ``end``: Monday 06:00 Madrid to Monday 06:00 Madrid,
        so consecutive weekly ticks meet exactly, whatever the DST change between them."""
        end = _parse_end(self.end) if self.end else now
        local_end = datetime.fromtimestamp(end, ZoneInfo(TIMEZONE))
        # aware datetimes sharing a ZoneInfo subtract on the wall clock, as the schedule ticks
        start = (local_end - timedelta(days=self.days)).timestamp()
        return Window(start=start, end=end, calendar_days=self.days)


@dg.asset(
    key=DORA_KEY,
    group_name="platform",
    kinds={"python"},
    description=(
        "DORA metrics of the last week, per service and overall: deployment frequency,"
        " lead time from commit to deploy, change failure rate, time to restore."
    ),
)
def dora(
    context: dg.AssetExecutionContext, config: DoraConfig, git: GitResource
) -> dg.MaterializeResult:
    now = time.time()
    window = config.window(now)
    services = released_services(default_catalog())
    since = window.start - config.context_days * DAY_SECONDS
    # Up to now, not the window's end: a release of the window rolled back later (after a
    # Monday report, say) counts as a change failure when the window is computed again.
    until = max(now, window.end)
    context.log.info(f"Reading releases and rollbacks since {_iso(since)} up to {_iso(until)}.")
    attempts = history.read_attempts(context.instance, services, since, until)
    context.log.info(f"Read {len(attempts)} finished releases and rollbacks.")

    deployed = {
        a.commit for a in attempts if a.kind == "release" and a.commit and a.ended_at in window
    }
    commit_times = _commit_times(context, git, deployed)
    result = compute(attempts, commit_times, window, [service.name for service in services])
    if not result.overall.releases:
        context.log.warning(f"No release finished from {_iso(window.start)} to {_iso(window.end)}.")
    return dg.MaterializeResult(metadata=report.metadata(result))


def _commit_times(context, git: GitResource, commits: set[str]) -> dict[str, float]:
    """Commit times from the platform repository; without it lead times are unknown."""
    try:
        return git.commit_times(commits)
    except ReleaseError as exc:
        context.log.warning(f"Lead times are unknown: {redact_known(str(exc))}")
        return {}


dora_job = dg.define_asset_job(
    JOB_NAME,
    selection=dg.AssetSelection.assets(DORA_KEY),
    description="Computes the platform's DORA metrics.",
    # Not a service's job: it reads every service's history, for the whole platform.
    tags={"release/scope": "platform"},
    executor_def=dg.in_process_executor,
)


@dg.schedule(
    name=SCHEDULE_NAME,
    job=dora_job,
    cron_schedule=CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Materializes platform/dora for the week that ended at the scheduled time.",
)
def dora_weekly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    end = context.scheduled_execution_time.astimezone(UTC).isoformat()
    return dg.RunRequest(
        run_key=f"dora-{end}",
        run_config={"ops": {DORA_KEY.to_python_identifier(): {"config": {"end": end}}}},
        tags={"release/trigger": "schedule"},
    )


def dora_definitions() -> dg.Definitions:
    """The asset, its job and its weekly schedule (``git`` comes from the code location)."""
    return dg.Definitions(assets=[dora], jobs=[dora_job], schedules=[dora_weekly])


def _parse_end(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReleaseInputError(
            f"end {text!r} is not an ISO time; write it like 2026-03-02T06:00:00+01:00."
        ) from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="minutes")
