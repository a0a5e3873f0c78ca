"""frontend_release (static site) and frontend_rollback against the sandbox's nginx."""

import json
import re
from pathlib import Path

import httpx
import pytest

from release_pipeline.assets import site_key
from release_pipeline_tests.support import (
    Traffic,
    commit_to_branch,
    failure_message,
    lb_url,
    materialization,
    run_job,
    site_config,
)

pytestmark = pytest.mark.sandbox


def site(env) -> Path:
    return Path(env["SITES_DIR"]) / "frontend"


def live_version(env) -> str:
    return httpx.get(lb_url(env, "frontend") + "/health").json()["version"]


def deployments(env) -> list[str]:
    return sorted(p.name for p in (site(env) / "deployments").iterdir() if p.name != "none")


def read_package_json(env) -> dict:
    path = Path(env["RELEASE_GIT_URL"]) / "apps/frontend/package.json"
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def first_site(sandbox_env):
    result = run_job("frontend_release", site_config("web-1"))
    assert result.success, failure_message(result)
    return result


def test_release_publishes_an_immutable_deployment_and_switches_production(sandbox_env, first_site):
    asset = materialization(first_site, site_key("frontend"))

    assert live_version(sandbox_env) == "web-1"
    assert asset["deployment_id"].endswith("-web-1")
    assert asset["deployment_id"] in deployments(sandbox_env)
    page = httpx.get(lb_url(sandbox_env, "frontend") + "/").text
    assert "https://api.trading.com" in page, "VITE_API_URL did not reach the build"
    assert sandbox_env["VITE_STRIPE_PUBLIC_KEY"] in page, "the build secret did not reach it"
    assert sandbox_env["CLOUDFLARE_API_TOKEN"] not in page


def test_a_second_release_switches_without_a_failed_request_and_keeps_the_first(
    sandbox_env, first_site
):
    first = materialization(first_site, site_key("frontend"))["deployment_id"]

    with Traffic(lb_url(sandbox_env, "frontend") + "/health") as traffic:
        result = run_job("frontend_release", site_config("web-2"))

    assert result.success, failure_message(result)
    assert live_version(sandbox_env) == "web-2"
    assert first in deployments(sandbox_env)
    assert traffic.sent > 50 and traffic.failed == 0, traffic.errors[:5]


def test_a_failing_lint_stops_before_anything_is_published(sandbox_env, first_site):
    before, live = deployments(sandbox_env), live_version(sandbox_env)
    branch = commit_to_branch(
        sandbox_env, "lint-fails", {"apps/frontend/src/broken.js": "export const x = 1;   \n"}
    )

    result = run_job("frontend_release", site_config("web-lint", git_ref=branch))

    assert [e.step_key for e in result.get_step_failure_events()] == ["run_stages"]
    assert "stage lint" in failure_message(result)
    assert deployments(sandbox_env) == before and live_version(sandbox_env) == live


def test_a_build_without_index_html_publishes_nothing(sandbox_env, first_site):
    before, live = deployments(sandbox_env), live_version(sandbox_env)
    package = read_package_json(sandbox_env)
    package["scripts"]["build"] = "BUILD_SKIP_INDEX=1 node scripts/build.js"
    branch = commit_to_branch(
        sandbox_env, "no-index", {"apps/frontend/package.json": json.dumps(package, indent=2)}
    )

    result = run_job("frontend_release", site_config("web-noindex", git_ref=branch))

    assert [e.step_key for e in result.get_step_failure_events()] == ["publish_site"]
    assert "no dist/index.html" in failure_message(result)
    assert deployments(sandbox_env) == before and live_version(sandbox_env) == live


def test_the_e2e_stage_runs_only_for_main(sandbox_env, first_site):
    branch = commit_to_branch(sandbox_env, "feature-x", {"apps/frontend/NOTES.md": "notes\n"})

    result = run_job("frontend_release", site_config("web-feature", git_ref=branch))

    assert result.success, failure_message(result)
    outputs = [
        e for e in result.all_events if e.is_successful_output and e.step_key == "run_stages"
    ]
    assert outputs[0].step_output_data.metadata["stages_skipped"].value == "e2e_tests"


def test_rollback_moves_production_back_to_the_previous_deployment(sandbox_env, first_site):
    live = live_version(sandbox_env)

    with Traffic(lb_url(sandbox_env, "frontend") + "/health") as traffic:
        result = run_job("frontend_rollback", {})

    assert result.success, failure_message(result)
    assert live_version(sandbox_env) != live
    assert traffic.failed == 0, traffic.errors[:5]
    restored = materialization(result, site_key("frontend"))
    commits = site(sandbox_env) / "commits"
    assert restored["commit"] == (commits / restored["deployment_id"]).read_text()
    assert re.fullmatch(r"[0-9a-f]{40}", restored["commit"]), restored["commit"]
