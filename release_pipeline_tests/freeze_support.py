"""A catalog whose freeze window covers the present moment in the sandbox's environment.

The shipped market hours freeze production only, so the tests pass at any hour; a
test that needs a freeze points the code location at a copy of the catalog
(``RELEASE_CATALOG``) whose window runs from an hour ago to an hour from now. The
zone has a half-hour offset, and the window crosses midnight when the test runs
near it, so the real arithmetic is exercised either way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

from release_pipeline.catalog import CATALOG_ENV, CATALOG_PATH, default_catalog
from release_pipeline.freeze import WEEKDAYS, FreezeWindow

ZONE = "Asia/Kolkata"


@contextmanager
def frozen_now(env: dict[str, str], directory: Path) -> Iterator[FreezeWindow]:
    """While inside, every service of this sandbox is in the freeze window it yields."""
    here = datetime.now(UTC).astimezone(ZoneInfo(ZONE))
    window = FreezeWindow(
        name="test_freeze",
        weekdays=list(WEEKDAYS),
        start=f"{here - timedelta(hours=1):%H:%M}",
        end=f"{here + timedelta(hours=1):%H:%M}",
        timezone=ZONE,
        environments=[env["RELEASE_ENVIRONMENT"]],
    )
    raw = yaml.safe_load(CATALOG_PATH.read_text())
    raw["platform"]["freeze_windows"] = [window.model_dump(mode="json")]
    path = directory / "frozen_catalog.yaml"
    path.write_text(yaml.safe_dump(raw))

    saved = os.environ.get(CATALOG_ENV)
    os.environ[CATALOG_ENV] = str(path)
    default_catalog.cache_clear()
    try:
        yield window
    finally:
        if saved is None:
            os.environ.pop(CATALOG_ENV, None)
        else:
            os.environ[CATALOG_ENV] = saved
        default_catalog.cache_clear()
