"""Submits a release_pipeline job through the Dagster webserver and waits for the run to end.

    python jenkins/submit_and_wait.py JOB

The run goes through Dagster's run queue, so one release per service runs at a
time, and it executes where Dagster runs it. This script prints the run's URL,
each status change, and exits 0 when the run succeeded, 1 otherwise (failed,
canceled, refused, or still running at the deadline).

Environment: ``DAGSTER_WEBSERVER_URL`` (``http(s)://host[:port][/prefix]``), the
build's ``BUILD_NUMBER`` and the rest that ``run_config.py`` reads;
``DAGSTER_API_TOKEN`` (a bearer token for a proxy in front of the webserver),
``RELEASE_TIMEOUT_SECONDS`` (default 3600) and ``RELEASE_POLL_SECONDS`` (default 5).

Aborting the Jenkins build stops the waiting, not the run: a release stopped
halfway through a traffic switch is worse than one that finishes. Terminate it
in the UI if it must stop.
"""

from __future__ import annotations

import os
import sys
import time
from urllib.parse import urlsplit

from dagster import DagsterRunStatus
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError
from run_config import run_config, run_tags

LOCATION = "release_pipeline"
REPOSITORY = "__repository__"
FINISHED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
DEFAULT_TIMEOUT_SECONDS = 3600.0
DEFAULT_POLL_SECONDS = 5.0
# The webserver may restart while a release runs; give up after this many failed polls in a row.
MAX_POLL_ERRORS = 10


def client_for(url: str, token: str | None) -> DagsterGraphQLClient:
    """A GraphQL client for the webserver at ``url``, sending ``token`` if there is one."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SystemExit(f"DAGSTER_WEBSERVER_URL={url!r} is not an http(s) URL.")
    return DagsterGraphQLClient(
        parts.hostname,
        port_number=parts.port,
        use_https=parts.scheme == "https",
        path_prefix=parts.path.rstrip("/"),
        headers={"Authorization": f"Bearer {token}"} if token else None,
    )


def wait_for_end(
    client: DagsterGraphQLClient, run_id: str, timeout: float, poll: float
) -> DagsterRunStatus | None:
    """The run's final status, or None if it has not ended by the deadline."""
    deadline = time.monotonic() + timeout
    status, errors = None, 0
    while time.monotonic() < deadline:
        try:
            current = client.get_run_status(run_id)
            errors = 0
        except DagsterGraphQLClientError as exc:
            errors += 1
            if errors >= MAX_POLL_ERRORS:
                raise
            print(f"Could not read the run's status ({exc}); trying again.", flush=True)
            time.sleep(poll)
            continue
        if current != status:
            status = current
            print(f"{time.strftime('%H:%M:%S')} run {run_id} is {status.value}", flush=True)
        if status in FINISHED:
            return status
        time.sleep(poll)
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: submit_and_wait.py JOB", file=sys.stderr)
        return 2
    job, env = argv[0], dict(os.environ)
    url = env.get("DAGSTER_WEBSERVER_URL", "").rstrip("/")
    client = client_for(url, env.get("DAGSTER_API_TOKEN"))
    timeout = float(env.get("RELEASE_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_SECONDS))
    poll = float(env.get("RELEASE_POLL_SECONDS", DEFAULT_POLL_SECONDS))

    try:
        run_id = client.submit_job_execution(
            job,
            repository_location_name=LOCATION,
            repository_name=REPOSITORY,
            run_config=run_config(job, env),
            tags=run_tags(env),
        )
    except DagsterGraphQLClientError as exc:
        print(f"Dagster refused to launch {job}: {exc}", file=sys.stderr)
        return 1
    print(f"Submitted {job} as run {run_id}: {url}/runs/{run_id}", flush=True)

    status = wait_for_end(client, run_id, timeout, poll)
    if status is None:
        print(f"Run {run_id} has not ended after {timeout:.0f} s; it goes on in Dagster.")
        return 1
    print(f"Run {run_id} ended {status.value}: {url}/runs/{run_id}")
    return 0 if status == DagsterRunStatus.SUCCESS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
