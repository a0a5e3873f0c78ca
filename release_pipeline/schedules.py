"""Jenkins trigger specs translated to Dagster cron strings, and the catalog's schedules.

Jenkins' ``H`` ("hash") spreads jobs over a range with a value that is stable
for a job name. Dagster has no equivalent, so the value is derived here from a
CRC-32 of the job name: the same in the webserver, the daemon and every code
server, unlike Python's per-process ``hash()``.
"""

import re
import zlib
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg

# Dagster's own test of a cron string (not exported at the top level): the catalog is
# refused at load time with exactly the strings ScheduleDefinition would refuse later.
from dagster._utils.schedules import is_valid_cron_string

from release_pipeline.errors import CatalogError

# (low, high) of each cron field, in order: minute, hour, day of month, month, day of week.
FIELD_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))
HASHED = re.compile(r"^H(?:\((\d+)-(\d+)\))?(?:/(\d+))?$")
PLAIN = re.compile(r"^[\d*,/-]+$|^[A-Za-z]{3}(?:-[A-Za-z]{3})?$")


def jenkins_to_cron(spec: str, job_name: str) -> str:
    """Translates a 5-field Jenkins spec such as ``H 2 * * *`` for ``job_name``."""
    fields = spec.split()
    if len(fields) != len(FIELD_RANGES):
        raise CatalogError(f"Jenkins spec {spec!r} must have 5 fields, it has {len(fields)}.")
    seed = zlib.crc32(job_name.encode())
    cron = " ".join(
        _translate(field, bounds, seed, spec)
        for field, bounds in zip(fields, FIELD_RANGES, strict=True)
    )
    if not is_valid_cron_string(cron):
        raise CatalogError(
            f"Jenkins spec {spec!r} gives the cron {cron!r}, which is not a valid schedule:"
            " each field must stay in its range (minute 0-59, hour 0-23, day of month 1-31,"
            " month 1-12, day of week 0-6) and the date must exist."
        )
    return cron


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CatalogError(
            f"Unknown time zone {name!r}; use an IANA name such as Europe/Madrid."
        ) from None
    return name


def _translate(field: str, bounds: tuple[int, int], seed: int, spec: str) -> str:
    match = HASHED.match(field)
    if match is None:
        if not PLAIN.match(field):
            raise CatalogError(f"Jenkins spec {spec!r}: cannot read field {field!r}.")
        return field
    low, high = (int(match[1]), int(match[2])) if match[1] else bounds
    if not bounds[0] <= low <= high <= bounds[1]:
        raise CatalogError(f"Jenkins spec {spec!r}: range {low}-{high} is outside {bounds}.")
    if match[3]:
        step = int(match[3])
        start = low + seed % min(step, high - low + 1)
        return f"{start}-{high}/{step}"
    return str(low + seed % (high - low + 1))


def catalog_schedules(catalog, jobs: list[dg.JobDefinition]) -> list[dg.ScheduleDefinition]:
    """One schedule per catalog ``schedule`` whose job exists in this code location."""
    by_name = {job.name: job for job in jobs}
    schedules = []
    for service in catalog.services.values():
        spec = service.schedule
        job = by_name.get(f"{service.name}_{spec.job}") if spec else None
        if job is None:
            continue
        name = spec.name or f"{job.name}_schedule"
        # H hashes the Jenkins job's name: the schedule's own name when the
        # catalog gives one, else the name of the job it starts.
        schedules.append(
            dg.ScheduleDefinition(
                name=name,
                job=job,
                cron_schedule=jenkins_to_cron(spec.jenkins_spec, spec.name or job.name),
                execution_timezone=check_timezone(spec.timezone),
                default_status=dg.DefaultScheduleStatus.RUNNING,
                tags={"release/trigger": "schedule"},
                description=f"Jenkins '{spec.jenkins_spec}' for {job.name}, in {spec.timezone}.",
            )
        )
    return schedules
