#!/usr/bin/env bash
# Jenkins stage: runs one release_pipeline job on this agent with `dagster job execute`.
#
#   jenkins/release.sh JOB        e.g. jenkins/release.sh backend_release
#
# Needs BUILD_NUMBER (the version and the jenkins/build tag), DAGSTER_HOME (the
# production dagster.yaml, so the run is recorded and shows up in the UI), and
# the pipeline's variables and secrets in the environment. See run_config.py for
# GIT_REF and RELEASE_CONFIG_OVERRIDES. Exit code 0 when the run succeeded,
# non-zero when it failed; the reason is at the end of the output and in the UI.
#
# The run executes in this process and bypasses Dagster's run queue; the deploy
# step's lock still keeps two releases of one service apart.
set -euo pipefail
job="${1:?usage: jenkins/release.sh JOB}"
home="${RELEASE_PIPELINE_HOME:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BUILD_NUMBER:?BUILD_NUMBER is not set; Jenkins sets it for every build}"
: "${DAGSTER_HOME:?DAGSTER_HOME is not set; point it at the directory of the production dagster.yaml}"

# Dagster's CLI reads a .env file from its working directory and lets it override
# the environment; the build's workspace may hold one, so run from an empty directory.
run_dir="$(mktemp -d)"
trap 'rm -rf "$run_dir"' EXIT
"$home/.venv/bin/python" "$home/jenkins/run_config.py" config "$job" > "$run_dir/release.yaml"
tags="$("$home/.venv/bin/python" "$home/jenkins/run_config.py" tags)"
cd "$run_dir"
"$home/.venv/bin/dagster" job execute -m release_pipeline.definitions -j "$job" \
  -c release.yaml --tags "$tags"
