"""Change freeze windows: weekly periods in which production changes wait.

A window is a wall-clock period on some weekdays in an explicit IANA time zone,
such as mon-fri 09:30-16:00 America/New_York. A window whose end is not after
its start runs past midnight and belongs to the weekday it starts on: fri
22:00-02:00 covers Saturday 01:00 but not Friday 01:00. A window freezes only
the environments it names (``RELEASE_ENVIRONMENT``), so the market hours of
production never stop a sandbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_serializer,
    field_validator,
    model_validator,
)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# Only quoted HH:MM strings are accepted: YAML 1.1 reads an unquoted 16:00 as the number 960.
CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class FreezeWindow(BaseModel):
    """A weekly period in which production changes of this environment are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    weekdays: list[Weekday] = Field(min_length=1)
    start: time
    end: time
    timezone: str
    environments: list[str] = Field(default=["production"], min_length=1)

    @field_validator("start", "end", mode="before")
    @classmethod
    def _quoted_clock_time(cls, value: object) -> object:
        if isinstance(value, int):
            raise ValueError(
                f"got the number {value}: YAML reads an unquoted time such as 16:00 as a number"
                " of minutes, so write it in quotes ('16:00')"
            )
        if not isinstance(value, str) or not CLOCK.match(value):
            raise ValueError(f"write a quoted 24-hour time such as '09:30', got {value!r}")
        return value

    @field_serializer("start", "end")
    def _clock_text(self, value: time) -> str:
        return f"{value:%H:%M}"

    @field_validator("environments")
    @classmethod
    def _lower_case_environments(cls, names: list[str]) -> list[str]:
        # Compared exactly with RELEASE_ENVIRONMENT: 'Production' would never freeze anything.
        bad = [name for name in names if name != name.lower()]
        if bad:
            raise ValueError(
                f"environment names are written in lower case (they are compared exactly with"
                f" RELEASE_ENVIRONMENT); got {bad}, write {[name.lower() for name in bad]}"
            )
        return names

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone; write one such as 'America/New_York'"
            ) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> FreezeWindow:
        if self.start == self.end:
            raise ValueError(f"start and end are both {self.start:%H:%M}: the window is empty")
        return self

    def closing_time(self, moment: datetime) -> datetime | None:
        """When the occurrence covering ``moment`` ends, in the window's zone; None outside."""
        if moment.tzinfo is None:
            raise ValueError("freeze windows are checked against an aware datetime")
        zone = ZoneInfo(self.timezone)
        # Wall-clock arithmetic: the window is what the clocks of that city say.
        local = moment.astimezone(zone).replace(tzinfo=None)
        for days_back in (0, 1):
            day = local.date() - timedelta(days=days_back)
            if WEEKDAYS[day.weekday()] not in self.weekdays:
                continue
            opens = datetime.combine(day, self.start)
            closes = datetime.combine(day, self.end)
            if self.end <= self.start:
                closes += timedelta(days=1)
            if opens <= local < closes:
                return closes.replace(tzinfo=zone)
        return None

    def describe(self) -> str:
        days = ",".join(self.weekdays)
        return f"{self.name} ({days} {self.start:%H:%M}-{self.end:%H:%M} {self.timezone})"


@dataclass(frozen=True)
class Freeze:
    """A window that covers now, and when it ends."""

    window: FreezeWindow
    ends: datetime

    def describe(self) -> str:
        utc = self.ends.astimezone(UTC)
        return (
            f"freeze window {self.window.describe()}, which ends at"
            f" {self.ends:%a %H:%M} {self.window.timezone} ({utc:%Y-%m-%d %H:%M} UTC)"
        )


def active_freezes(windows: list[FreezeWindow], environment: str, moment: datetime) -> list[Freeze]:
    """The windows of ``environment`` that cover ``moment``."""
    freezes = []
    for window in windows:
        if environment not in window.environments:
            continue
        ends = window.closing_time(moment)
        if ends is not None:
            freezes.append(Freeze(window, ends))
    return freezes
