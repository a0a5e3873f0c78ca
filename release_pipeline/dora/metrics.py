"""The four DORA metrics from a release history: plain records in, numbers out.

Definitions, per service over a window (and overall, the services pooled):

- deployment frequency: successful release runs that ended in the window;
- lead time: from the deployed commit's committer time to the moment it went
  live (its deployment record), median over the window's deployments; commits
  the repository no longer has are counted as unknown;
- change failure rate: failed releases plus successful releases later rolled
  back (a rollback ran before the next release went live), over all releases
  of the window; a release that failed after recording its deployment (a
  breach in ``verify_release``) is live until the rollback, so that rollback is
  its own and not the previous release's;
- time to restore: an incident opens when a release fails (when it went live,
  if it deployed before failing), or when a release that was later rolled back
  went live, and closes when a release or rollback next succeeds; median over
  the incidents closed in the window. Incidents still open at the window's end
  are counted apart.

Refusals (a busy deploy lock, bad input) changed nothing and count nowhere.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

DAY_SECONDS = 86400.0
ALL_SERVICES = "all services"


@dataclass(frozen=True)
class Attempt:
    """One finished release or rollback run of one service."""

    service: str
    kind: Literal["release", "rollback"]
    succeeded: bool
    ended_at: float
    run_id: str = ""
    commit: str = ""  # the commit a successful release put live
    deployed_at: float | None = None  # when its deployment was recorded
    refused: bool = False  # failed without changing anything

    @property
    def live_at(self) -> float:
        return self.deployed_at if self.deployed_at is not None else self.ended_at

    @property
    def went_live(self) -> bool:
        """A release that put its version live: it succeeded, or failed after its deployment
        (a breach found by ``verify_release`` leaves the new version serving)."""
        return self.kind == "release" and (self.succeeded or self.deployed_at is not None)


@dataclass(frozen=True)
class Window:
    """Half-open interval [start, end) in Unix seconds.

    ``calendar_days`` is how many days it covers when it runs from a local time to the
    same local time days later (23 or 25 hours long across a DST change); 0 means
    its length in 24-hour days.
    """

    start: float
    end: float
    calendar_days: int = 0

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ValueError(f"A window must end after it starts ({self.start} >= {self.end}).")

    @property
    def days(self) -> float:
        return float(self.calendar_days) or (self.end - self.start) / DAY_SECONDS

    def __contains__(self, moment: float) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class Metrics:
    """The DORA figures of one service (or of all of them) over one window."""

    service: str
    deployments: int = 0
    releases: int = 0
    change_failures: int = 0
    lead_times: tuple[float, ...] = ()
    lead_time_unknown: int = 0
    restore_times: tuple[float, ...] = ()
    open_incidents: int = 0
    daily_deployments: tuple[int, ...] = field(default=())

    def per_day(self, window: Window) -> float:
        return self.deployments / window.days

    @property
    def change_failure_rate(self) -> float | None:
        return self.change_failures / self.releases if self.releases else None

    @property
    def lead_time_median(self) -> float | None:
        return statistics.median(self.lead_times) if self.lead_times else None

    @property
    def time_to_restore_median(self) -> float | None:
        return statistics.median(self.restore_times) if self.restore_times else None


@dataclass(frozen=True)
class DoraReport:
    window: Window
    services: tuple[Metrics, ...]
    overall: Metrics


def compute(
    attempts: Iterable[Attempt],
    commit_times: Mapping[str, float],
    window: Window,
    services: Iterable[str] = (),
) -> DoraReport:
    """Per-service and overall metrics of ``window``; earlier attempts give context only.

    ``services`` get a row even when they have no attempt at all.
    """
    by_service: dict[str, list[Attempt]] = {name: [] for name in services}
    for attempt in attempts:
        if not attempt.refused:
            by_service.setdefault(attempt.service, []).append(attempt)
    rows = tuple(
        service_metrics(name, history, commit_times, window)
        for name, history in sorted(by_service.items())
    )
    return DoraReport(window, rows, pooled(rows, window))


def service_metrics(
    service: str, history: Sequence[Attempt], commit_times: Mapping[str, float], window: Window
) -> Metrics:
    history = sorted(history, key=lambda attempt: attempt.ended_at)
    rolled_back = rolled_back_releases(history)
    releases = [a for a in history if a.kind == "release" and a.ended_at in window]
    deployed = [a for a in releases if a.succeeded]
    lead_times = [
        max(0.0, a.live_at - commit_times[a.commit]) for a in deployed if a.commit in commit_times
    ]
    incidents = incident_spans(history, rolled_back)
    return Metrics(
        service=service,
        deployments=len(deployed),
        releases=len(releases),
        change_failures=sum(1 for a in releases if not a.succeeded or a.run_id in rolled_back),
        lead_times=tuple(lead_times),
        lead_time_unknown=len(deployed) - len(lead_times),
        restore_times=tuple(
            closed - opened
            for opened, closed in incidents
            if closed is not None and closed in window
        ),
        open_incidents=sum(
            1
            for opened, closed in incidents
            if opened < window.end and (closed is None or closed >= window.end)
        ),
        daily_deployments=daily_counts((a.live_at for a in deployed), window),
    )


def rolled_back_releases(history: Sequence[Attempt]) -> set[str]:
    """Run ids of the releases live when a rollback ran against them (in time order).

    A release that failed after recording its deployment is live too: the rollback that
    follows it is pinned on it, not on the healthy release before it.
    """
    rolled_back: set[str] = set()
    live_release: Attempt | None = None
    for attempt in history:
        if attempt.went_live:
            live_release = attempt
        elif attempt.kind == "rollback" and live_release is not None:
            rolled_back.add(live_release.run_id)
            if attempt.succeeded:
                live_release = None  # what serves now is older than any release seen since
    return rolled_back


def incident_spans(
    history: Sequence[Attempt], rolled_back: set[str]
) -> list[tuple[float, float | None]]:
    """(opened, closed or None) of each stretch between a failure and the next recovery."""
    marks: list[tuple[float, bool]] = []  # (moment, True when something broke there)
    for attempt in history:
        if attempt.kind == "release" and not attempt.succeeded:
            # broken from when it went live if it deployed, else from when it failed
            marks.append((attempt.live_at, True))
        elif attempt.succeeded:
            marks.append((attempt.live_at, attempt.run_id in rolled_back))
    spans: list[tuple[float, float | None]] = []
    opened: float | None = None
    for moment, broke in sorted(marks):
        if broke and opened is None:
            opened = moment
        elif not broke and opened is not None:
            spans.append((opened, moment))
            opened = None
    if opened is not None:
        spans.append((opened, None))
    return spans


def daily_counts(moments: Iterable[float], window: Window) -> tuple[int, ...]:
    """How many ``moments`` fall on each day of the window, counted from its start."""
    counts = [0] * max(1, math.ceil(window.days))
    for moment in moments:
        if moment in window:  # a DST hour past the last 24 hours belongs to the last day
            counts[min(int((moment - window.start) // DAY_SECONDS), len(counts) - 1)] += 1
    return tuple(counts)


def pooled(services: Sequence[Metrics], window: Window) -> Metrics:
    days = max(1, math.ceil(window.days))
    return Metrics(
        service=ALL_SERVICES,
        deployments=sum(m.deployments for m in services),
        releases=sum(m.releases for m in services),
        change_failures=sum(m.change_failures for m in services),
        lead_times=tuple(t for m in services for t in m.lead_times),
        lead_time_unknown=sum(m.lead_time_unknown for m in services),
        restore_times=tuple(t for m in services for t in m.restore_times),
        open_incidents=sum(m.open_incidents for m in services),
        daily_deployments=tuple(
            sum(m.daily_deployments[day] for m in services if day < len(m.daily_deployments))
            for day in range(days)
        ),
    )
