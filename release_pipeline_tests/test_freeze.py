"""Freeze windows: weekdays, times past midnight, time zones, and how the catalog refuses typos."""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from release_pipeline.catalog import CATALOG_PATH, load_catalog
from release_pipeline.errors import CatalogError
from release_pipeline.freeze import FreezeWindow, active_freezes

NEW_YORK = ZoneInfo("America/New_York")
MARKET_HOURS = {
    "name": "market_hours",
    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
    "start": "09:30",
    "end": "16:00",
    "timezone": "America/New_York",
}


def window(**fields) -> FreezeWindow:
    return FreezeWindow.model_validate({**MARKET_HOURS, **fields})


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """A wall-clock time in New York in March 2026 (the 2nd is a Monday)."""
    return datetime(2026, 3, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("moment", "ends"),
    [
        (ny(2, 9, 30), ny(2, 16)),  # opening minute is frozen
        (ny(2, 15, 59), ny(2, 16)),
        (ny(2, 16), None),  # closing minute is not
        (ny(2, 9, 29), None),
        (ny(7, 12), None),  # Saturday
        (datetime(2026, 3, 2, 14, 30, tzinfo=UTC), ny(2, 16)),  # 09:30 EST
        (datetime(2026, 3, 2, 14, 29, tzinfo=UTC), None),
    ],
)
def test_market_hours_cover_the_weekday_session_in_new_york_time(moment, ends):
    assert window().closing_time(moment) == ends


def test_a_window_follows_daylight_saving_time_of_its_zone():
    # 14:00 UTC is 09:00 in New York on Friday 6 March (EST) and 10:00 on Monday 9 March (EDT).
    before_the_change = datetime(2026, 3, 6, 14, tzinfo=UTC)
    after_the_change = datetime(2026, 3, 9, 14, tzinfo=UTC)

    assert window().closing_time(before_the_change) is None
    assert window().closing_time(after_the_change) == ny(9, 16)
    assert window().closing_time(after_the_change).astimezone(UTC).hour == 20


@pytest.mark.parametrize(
    ("moment", "ends"),
    [
        (datetime(2026, 3, 6, 23, tzinfo=UTC), datetime(2026, 3, 7, 2, tzinfo=UTC)),  # Fri
        (datetime(2026, 3, 7, 1, 59, tzinfo=UTC), datetime(2026, 3, 7, 2, tzinfo=UTC)),  # Sat
        (datetime(2026, 3, 7, 2, tzinfo=UTC), None),
        (datetime(2026, 3, 6, 1, tzinfo=UTC), None),  # Thursday's night is not listed
        (datetime(2026, 3, 7, 23, tzinfo=UTC), None),  # nor Saturday's
    ],
)
def test_a_window_past_midnight_belongs_to_the_weekday_it_starts_on(moment, ends):
    friday_night = window(weekdays=["fri"], start="22:00", end="02:00", timezone="UTC")

    assert friday_night.closing_time(moment) == ends


def test_the_weekday_is_the_one_of_the_windows_zone_not_utc():
    monday_morning = window(weekdays=["mon"], start="08:00", end="10:00", timezone="Asia/Tokyo")
    sunday_in_utc = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # Monday 08:30 in Tokyo

    ends = monday_morning.closing_time(sunday_in_utc)

    assert ends is not None and ends.astimezone(UTC) == datetime(2026, 3, 2, 1, tzinfo=UTC)


def test_a_window_freezes_only_the_environments_it_names():
    production_only = window(environments=["production"])

    assert active_freezes([production_only], "production", ny(2, 10))
    assert active_freezes([production_only], "sandbox-1234", ny(2, 10)) == []


def test_a_freeze_describes_the_window_and_when_it_ends_in_both_zones():
    (freeze,) = active_freezes([window()], "production", ny(2, 10))

    assert freeze.describe() == (
        "freeze window market_hours (mon,tue,wed,thu,fri 09:30-16:00 America/New_York),"
        " which ends at Mon 16:00 America/New_York (2026-03-02 21:00 UTC)"
    )


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware"):
        window().closing_time(datetime(2026, 3, 2, 10))


def test_the_shipped_windows_freeze_production_only_so_the_sandbox_tests_pass_at_any_hour():
    windows = load_catalog().platform.freeze_windows

    assert [w.name for w in windows] == ["market_hours"]
    assert all(w.environments == ["production"] for w in windows)


def write_catalog(tmp_path: Path, platform_window=None, backend_window=None) -> Path:
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    if platform_window is not None:
        raw["platform"]["freeze_windows"] = [{**MARKET_HOURS, **platform_window}]
    if backend_window is not None:
        raw["services"]["backend"]["freeze_windows"] = [{**MARKET_HOURS, **backend_window}]
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # What YAML makes of an unquoted 16:00 (sexagesimal 960).
        ({"end": 960}, "'platform.freeze_windows.0.end': Value error, got the number 960"),
        ({"start": "9:30"}, "'platform.freeze_windows.0.start'"),
        ({"start": "24:00"}, "'platform.freeze_windows.0.start'"),
        ({"timezone": "New_York"}, "'platform.freeze_windows.0.timezone': Value error, 'New_Y"),
        ({"timezone": "EST+5"}, "is not an IANA time zone"),
        ({"weekdays": ["monday"]}, "'platform.freeze_windows.0.weekdays.0'"),
        ({"weekdays": []}, "'platform.freeze_windows.0.weekdays'"),
        ({"end": "09:30"}, "start and end are both 09:30: the window is empty"),
        ({"timezone_name": "UTC"}, "'platform.freeze_windows.0.timezone_name': Extra inputs"),
    ],
)
def test_a_bad_platform_window_is_refused_naming_its_field(tmp_path, fields, expected):
    path = write_catalog(tmp_path, platform_window=fields)

    with pytest.raises(CatalogError) as refused:
        load_catalog(path)

    assert expected in str(refused.value)


def test_a_bad_service_window_is_refused_naming_the_service_and_field(tmp_path):
    path = write_catalog(tmp_path, backend_window={"timezone": "Mars/Olympus"})

    with pytest.raises(CatalogError) as refused:
        load_catalog(path)

    assert "service 'backend': field 'freeze_windows.0.timezone'" in str(refused.value)
    assert "'Mars/Olympus' is not an IANA time zone" in str(refused.value)


def test_a_service_window_adds_to_the_platform_ones(tmp_path):
    path = write_catalog(tmp_path, backend_window={"name": "month_end", "weekdays": ["sat"]})

    catalog = load_catalog(path)

    assert [w.name for w in catalog.platform.freeze_windows] == ["market_hours"]
    assert [w.name for w in catalog.service("backend").freeze_windows] == ["month_end"]
