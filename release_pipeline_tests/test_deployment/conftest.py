import os
from collections.abc import Iterator

import pytest

from release_pipeline_tests.test_deployment.services import DagsterServices


@pytest.fixture(scope="package")
def dagster_services(sandbox_env, tmp_path_factory) -> Iterator[DagsterServices]:
    """dagster-webserver and dagster-daemon on the sandbox, shared by this package's tests."""
    services = DagsterServices(tmp_path_factory.mktemp("dagster-services"), dict(os.environ))
    try:
        yield services.start()
    finally:
        services.stop()
