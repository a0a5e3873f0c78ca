"""page_on_critical_failure under dagster-daemon, for a rollback Jenkins ran on its agent.

jenkins/release.sh runs a job with ``dagster job execute``, so the run belongs to no code
location, while the daemon ticks the sensor inside the release_pipeline location. Only a
sensor that watches the runs of every location sees such a run fail.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from release_pipeline.catalog import default_catalog
from release_pipeline.paging import PAGED_TAG, SENSOR_NAME
from release_pipeline.run_facts import live_key
from sandbox.pagerduty import pagerduty_events, pagerduty_reset

pytestmark = pytest.mark.sandbox

REPO = Path(__file__).resolve().parents[2]
ROLLBACK_TIMEOUT_SECONDS = 300
PAGE_TIMEOUT_SECONDS = 90


def test_a_failed_rollback_jenkins_ran_on_its_agent_is_paged_once_by_the_daemon(
    sandbox_env, dagster_services, tmp_path
):
    dagster_services.wait_for_sensor_tick(SENSOR_NAME)
    pagerduty_reset(sandbox_env)
    build = f"paging-{uuid.uuid4().hex[:8]}"
    with dg.DagsterInstance.get() as instance:
        dedup_key = f"backend-{live_version(instance, 'backend')}"

    agent = rollback_on_agent(tmp_path, build, dagster_services.url)

    assert agent.returncode != 0
    assert "there is nothing to roll back to" in agent.stdout, agent.stdout[-3000:]
    with dg.DagsterInstance.get() as instance:
        [run] = instance.get_runs(dg.RunsFilter(tags={"jenkins/build": build}))
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert run.remote_job_origin is None  # started outside any code location
        pages = wait_for_page(instance, run.run_id, dedup_key, dagster_services)
    [page] = pages
    assert page["payload"]["summary"].endswith(f"{dagster_services.url}/runs/{run.run_id}")
    assert page["payload"]["custom_details"]["step"] == "rollback_blue_green"


def live_version(instance: dg.DagsterInstance, service: str) -> str:
    """The version the instance last recorded live for ``service``, as the dedup key names it."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=live_key(default_catalog().service(service))), limit=1
    ).records
    if not records:
        return "unknown"
    return str(records[0].asset_materialization.metadata["version"].value)


def rollback_on_agent(tmp_path: Path, build: str, webserver_url: str):
    """The Jenkins stage `jenkins/release.sh backend_rollback`, against a load balancer whose
    upstream directory holds no deployment, so there is nothing to roll back to."""
    workspace = tmp_path / "workspace"
    upstreams = tmp_path / "upstreams"
    workspace.mkdir()
    upstreams.mkdir()
    env = {
        **os.environ,
        "RELEASE_PIPELINE_HOME": str(REPO),
        "BUILD_NUMBER": build,
        "NGINX_UPSTREAM_DIR": str(upstreams),
        "DAGSTER_WEBSERVER_URL": webserver_url,
    }
    return subprocess.run(
        [str(REPO / "jenkins" / "release.sh"), "backend_rollback"],
        cwd=workspace,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=ROLLBACK_TIMEOUT_SECONDS,
    )


def wait_for_page(instance, run_id: str, dedup_key: str, services) -> list[dict]:
    """The PagerDuty events keyed ``dedup_key``, once the sensor has tagged the run paged."""
    deadline = time.monotonic() + PAGE_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if instance.get_run_by_id(run_id).tags.get(PAGED_TAG) == dedup_key:
            return [e for e in pagerduty_events() if e["dedup_key"] == dedup_key]
        time.sleep(1)
    raise AssertionError(
        f"run {run_id} was not paged as {dedup_key} within {PAGE_TIMEOUT_SECONDS} s; PagerDuty"
        f" received {pagerduty_events()}\n{services.log_tails()}"
    )
