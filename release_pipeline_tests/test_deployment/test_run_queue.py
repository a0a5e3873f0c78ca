"""Releases launched through dagster-webserver and run by dagster-daemon, with dagster.yaml.

The instance is the repository's: PostgreSQL storage, the queued run coordinator with one
run per ``release/service`` value, and compute logs in S3 (the sandbox's S3 server).
"""

import os
import time

import boto3
import dagster as dg
import pytest

from release_pipeline.steps.context import SERVICE_TAG
from release_pipeline_tests.support import live_health, release_config

pytestmark = pytest.mark.sandbox

# The first release keeps its old color warm this long, so the second one has to wait.
FIRST_RELEASE_HOLD_SECONDS = 8
COMPUTE_LOG_BUCKET = "dagster-compute-logs"


@pytest.fixture(scope="module")
def two_releases(dagster_services):
    """Submits two backend releases back to back; records what the second did meanwhile."""
    first = dagster_services.submit(
        "backend_release",
        release_config("queue.1", scale_down_delay=FIRST_RELEASE_HOLD_SECONDS),
    )
    dagster_services.wait_for_status(first, {dg.DagsterRunStatus.STARTED})
    second = dagster_services.submit("backend_release", release_config("queue.2"))

    second_while_first_ran = []
    client = dagster_services.client()
    deadline = time.monotonic() + 300
    while client.get_run_status(first) not in {
        dg.DagsterRunStatus.SUCCESS,
        dg.DagsterRunStatus.FAILURE,
    }:
        assert time.monotonic() < deadline, dagster_services.log_tails()
        second_while_first_ran.append(client.get_run_status(second))
        time.sleep(0.5)

    dagster_services.wait_for_status(second, {dg.DagsterRunStatus.SUCCESS})
    return first, second, second_while_first_ran


def test_a_second_release_of_a_service_waits_in_the_queue_until_the_first_ends(two_releases):
    first, second, second_while_first_ran = two_releases

    with dg.DagsterInstance.get() as instance:
        first_record = instance.get_run_record_by_id(first)
        second_record = instance.get_run_record_by_id(second)

    assert second_while_first_ran and set(second_while_first_ran) == {dg.DagsterRunStatus.QUEUED}
    assert second_record.start_time >= first_record.end_time
    assert second_record.dagster_run.tags[SERVICE_TAG] == "backend"


def test_both_queued_releases_succeed_and_the_later_one_is_live(sandbox_env, two_releases):
    first, second, _ = two_releases

    with dg.DagsterInstance.get() as instance:
        statuses = [instance.get_run_by_id(run_id).status for run_id in (first, second)]

    assert statuses == [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.SUCCESS]
    assert live_health(sandbox_env)["version"] == "queue.2"


def test_what_the_stages_printed_is_stored_in_s3(sandbox_env, two_releases):
    first, _, _ = two_releases
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"])

    prefix = f"release_pipeline/storage/{first}/compute_logs/"
    listing = s3.list_objects_v2(Bucket=COMPUTE_LOG_BUCKET, Prefix=prefix)
    stdout_keys = [
        item["Key"] for item in listing.get("Contents", []) if item["Key"].endswith(".out")
    ]
    stdout = b"".join(
        s3.get_object(Bucket=COMPUTE_LOG_BUCKET, Key=key)["Body"].read() for key in stdout_keys
    )

    assert b"@trading/backend" in stdout and b"lint" in stdout, stdout[:500]
