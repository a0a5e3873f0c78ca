import os
from collections.abc import Iterator

import pytest

from release_pipeline.paging import INTERVAL_ENV
from release_pipeline_tests.test_deployment.services import DagsterServices

# The daemon's sensor loop runs every 5 s at best; the paging sensor need not wait 30 s more.
PAGING_INTERVAL_SECONDS = "2"


@pytest.fixture(scope="package")
def dagster_services(sandbox_env, tmp_path_factory) -> Iterator[DagsterServices]:
    """dagster-webserver and dagster-daemon on the sandbox, shared by this package's tests."""
    env = {**os.environ, INTERVAL_ENV: PAGING_INTERVAL_SECONDS}
    services = DagsterServices(tmp_path_factory.mktemp("dagster-services"), env)
    try:
        yield services.start()
    finally:
        services.stop()
