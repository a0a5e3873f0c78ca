"""The release guards against the sandbox: never older than what is live, never in a freeze.

The backend tests run in file order and build on its live state, as releases do: a
commit one ahead of main goes live as an emergency during a freeze, main is then
refused as older and released by force, a newer release overtakes an older build,
and a rollback during a freeze brings main back (so later tests can release main).
"""

import json
import subprocess
import threading
import time
from pathlib import Path

import dagster as dg
import pytest

from release_pipeline.assets import deployment_key
from release_pipeline.definitions import defs
from release_pipeline.guards import EMERGENCY_TAG, FORCE_TAG
from release_pipeline.resources.nginx import NginxResource
from release_pipeline_tests.freeze_support import frozen_now
from release_pipeline_tests.support import (
    commit_to_branch,
    failure_message,
    live_health,
    materialization,
    nginx_settings,
    release_config,
    rollback_config,
    run_job,
    site_config,
)

pytestmark = pytest.mark.sandbox
BUILD_STEPS = {"run_stages", "build_image", "push_image", "deploy_blue_green", "publish_site"}
PACKAGE_JSON = "apps/backend/package.json"


def release(version: str, git_ref: str = "main", tags: dict | None = None):
    """Runs backend_release with these run tags; returns its result and its log lines."""
    # Disposed where it was made: its in-memory SQLite belongs to this thread.
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def("backend_release").execute_in_process(
            run_config=release_config(version, git_ref),
            instance=instance,
            tags=tags or {},
            raise_on_error=False,
        )
        return result, [entry.user_message for entry in instance.all_logs(result.run_id)]


def live_state(env: dict[str, str]):
    return NginxResource(**nginx_settings(env)).read_state("backend")


def commit_of(env: dict[str, str], ref: str) -> str:
    command = ["git", "-C", env["RELEASE_GIT_URL"], "rev-parse", f"{ref}^{{commit}}"]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


def failed_steps(result) -> list[str]:
    return [event.step_key for event in result.get_step_failure_events()]


def steps_started(result) -> set[str]:
    return {event.step_key for event in result.all_events if event.is_step_start}


def serving(env: dict[str, str]) -> dict:
    return live_health(env) | {"uptime": 0}


@pytest.fixture(scope="module", autouse=True)
def main_is_live(sandbox_env):
    """The tests start from main serving the backend, as the backend tests leave it."""
    if live_state(sandbox_env).get("commit") != commit_of(sandbox_env, "main"):
        result, _ = release("g-0")
        assert result.success, failure_message(result)


def test_a_release_inside_a_freeze_window_is_refused_before_anything_is_built(
    sandbox_env, tmp_path
):
    before = serving(sandbox_env)
    branch = commit_to_branch(sandbox_env, "guard-newer", {"apps/backend/NOTES.md": "newer\n"})

    with frozen_now(sandbox_env, tmp_path) as window:
        result, _ = release("g-1", branch)

    message = failure_message(result)
    assert failed_steps(result) == ["guard_release"]
    assert f"is inside freeze window {window.describe()}, which ends at" in message
    assert f"{window.end:%H:%M} Asia/Kolkata (" in message and " UTC)." in message
    assert "Rollbacks and restores are not frozen" in message
    assert f"launch the run again with the tag {EMERGENCY_TAG}=true" in message
    assert not steps_started(result) & BUILD_STEPS
    assert serving(sandbox_env) == before


def test_an_emergency_tag_that_is_not_true_is_refused(sandbox_env, tmp_path):
    with frozen_now(sandbox_env, tmp_path):
        result, _ = release("g-1", "guard-newer", {EMERGENCY_TAG: "yes"})

    assert failed_steps(result) == ["guard_release"]
    assert f"Run tag {EMERGENCY_TAG}='yes' means nothing" in failure_message(result)


def test_the_emergency_tag_releases_inside_the_window_loudly_and_on_record(sandbox_env, tmp_path):
    with frozen_now(sandbox_env, tmp_path) as window:
        result, logs = release("g-1", "guard-newer", {EMERGENCY_TAG: "true"})

    assert result.success, failure_message(result)
    assert live_health(sandbox_env)["version"] == "g-1"
    assert materialization(result, deployment_key("backend"))["emergency_during"] == window.name
    loud = [line for line in logs if line.startswith("EMERGENCY: backend release of g-1")]
    assert len(loud) == 2, "logged when the guard passed and again before traffic moved"


def test_an_older_commit_is_refused_before_anything_is_built(sandbox_env):
    newer, main = live_state(sandbox_env).get("commit"), commit_of(sandbox_env, "main")
    before = serving(sandbox_env)

    result, _ = release("g-2")

    message = failure_message(result)
    assert failed_steps(result) == ["guard_release"]
    assert f"refused to release commit {main[:12]} (main, version g-2)" in message
    assert f"older than the live commit {newer[:12]}" in message
    assert "prefer backend_rollback" in message and f"tag {FORCE_TAG}=true" in message
    assert not steps_started(result) & BUILD_STEPS
    assert serving(sandbox_env) == before


def test_the_force_tag_releases_the_older_commit_and_records_what_it_went_past(sandbox_env):
    newer, main = live_state(sandbox_env).get("commit"), commit_of(sandbox_env, "main")

    result, logs = release("g-3", tags={FORCE_TAG: "true"})

    assert result.success, failure_message(result)
    assert live_health(sandbox_env)["version"] == "g-3"
    assert live_state(sandbox_env).get("commit") == main
    assert materialization(result, deployment_key("backend"))["forced_over_commit"] == newer
    assert any(line.startswith(f"FORCED: releasing backend {main[:12]}") for line in logs)


def test_a_newer_release_live_during_a_build_stops_the_older_build_at_the_switch(
    sandbox_env, tmp_path
):
    gate, reached = tmp_path / "gate", tmp_path / "reached"
    original = (Path(sandbox_env["RELEASE_GIT_URL"]) / PACKAGE_JSON).read_text()
    package = json.loads(original)
    lint = package["scripts"]["lint"]
    package["scripts"]["lint"] = (
        f"touch {reached}; while [ ! -e {gate} ]; do sleep 0.2; done; {lint}"
    )
    slow = commit_to_branch(sandbox_env, "guard-slow", {PACKAGE_JSON: json.dumps(package)})
    older = _release_in_a_thread("g-slow", slow)
    try:
        _wait_for(reached, older)
        # Pushed after the older run cloned: the guard must fetch it to compare.
        fast = commit_to_branch(sandbox_env, "guard-fast", {PACKAGE_JSON: original}, base=slow)
        newer, _ = release("g-fast", fast)
    finally:
        gate.touch()
        older.join(timeout=600)

    assert newer.success, failure_message(newer)
    message = failure_message(older.result)
    assert failed_steps(older.result) == ["deploy_blue_green"], message
    fast_commit, slow_commit = commit_of(sandbox_env, fast), commit_of(sandbox_env, slow)
    assert (
        f"commit {fast_commit[:12]} went live while this run was building, and"
        f" {slow_commit[:12]} is older"
    ) in message
    assert "Traffic did not move" in message
    assert live_health(sandbox_env)["version"] == "g-fast"
    assert live_state(sandbox_env).get("commit") == fast_commit


def test_a_rollback_inside_a_freeze_window_goes_back_to_the_older_commit(sandbox_env, tmp_path):
    before = live_state(sandbox_env)
    previous = before.get("previous_commit")

    with frozen_now(sandbox_env, tmp_path):
        result = run_job("backend_rollback", rollback_config())

    assert result.success, failure_message(result)
    assert previous == commit_of(sandbox_env, "main")
    assert live_state(sandbox_env).get("commit") == previous
    assert live_health(sandbox_env)["version"] == before.get("previous_version")


def test_a_static_site_reads_its_live_commit_from_its_site_asset(sandbox_env):
    branch = commit_to_branch(sandbox_env, "guard-site", {"apps/frontend/NOTES.md": "newer\n"})

    with dg.instance_for_test() as instance:
        newer = _site_release("web-g1", branch, instance)
        older = _site_release("web-g2", "main", instance)

    assert newer.success, failure_message(newer)
    assert failed_steps(older) == ["guard_release"]
    live = commit_of(sandbox_env, branch)
    assert f"older than the live commit {live[:12]}" in failure_message(older)


def _site_release(version: str, git_ref: str, instance: dg.DagsterInstance):
    return defs.resolve_job_def("frontend_release").execute_in_process(
        run_config=site_config(version, git_ref), instance=instance, raise_on_error=False
    )


class _ReleaseThread(threading.Thread):
    """A backend release building beside the test's own runs; ``result`` once joined."""

    def __init__(self, version: str, git_ref: str) -> None:
        super().__init__(daemon=True)
        self.version, self.git_ref, self.result = version, git_ref, None

    def run(self) -> None:
        self.result, _ = release(self.version, self.git_ref)


def _release_in_a_thread(version: str, git_ref: str) -> _ReleaseThread:
    thread = _ReleaseThread(version, git_ref)
    thread.start()
    return thread


def _wait_for(marker: Path, thread: threading.Thread, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not marker.exists():
        assert thread.is_alive(), failure_message(thread.result)
        assert time.monotonic() < deadline, f"{marker.name} never appeared"
        time.sleep(0.2)
