#!/usr/bin/env bash
# Jenkins stage, queued variant: submits one release_pipeline job through the
# Dagster webserver's GraphQL API and waits for the run to end.
#
#   jenkins/submit.sh JOB        e.g. jenkins/submit.sh backend_release
#
# Needs BUILD_NUMBER and DAGSTER_WEBSERVER_URL; DAGSTER_API_TOKEN, when set, is
# sent as a bearer token to the proxy in front of the webserver. The run goes
# through Dagster's run queue (one release per service at a time) and executes
# where Dagster runs it, with Dagster's secrets; this build only waits and reports.
# Exit code 0 when the run succeeded, 1 otherwise.
set -euo pipefail
job="${1:?usage: jenkins/submit.sh JOB}"
home="${RELEASE_PIPELINE_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BUILD_NUMBER:?BUILD_NUMBER is not set; Jenkins sets it for every build}"
: "${DAGSTER_WEBSERVER_URL:?DAGSTER_WEBSERVER_URL is not set, e.g. https://dagster.trading.internal}"
exec "$home/.venv/bin/python" "$home/jenkins/submit_and_wait.py" "$job"
