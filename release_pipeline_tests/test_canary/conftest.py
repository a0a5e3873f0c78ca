import contextlib

import httpx
import pytest

from release_pipeline_tests.support import failure_message, run_job
from release_pipeline_tests.test_canary.canary_support import canary_config, live_health


@pytest.fixture(scope="session")
def live_ml_engine(sandbox_env) -> dict:
    """An ML engine whose stable serves; released once if the sandbox has none yet."""
    health = {}
    with contextlib.suppress(httpx.HTTPError, ValueError):
        health = live_health(sandbox_env)
    if health.get("status") != "ok":
        result = run_job("ml_engine_release", canary_config("ml-1"))
        assert result.success, failure_message(result)
        health = live_health(sandbox_env)
    assert health["track"] == "stable"
    return health
