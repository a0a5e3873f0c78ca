"""A static-site rollback records the commit it went back to, so the never-older guard
still sees the live commit afterwards (real publisher, real git, in-memory Dagster)."""

import subprocess
from pathlib import Path

import dagster as dg
import pytest

from release_pipeline import guards
from release_pipeline.catalog import default_catalog
from release_pipeline.errors import ReleaseRefused
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.http_probe import ProbeResult
from release_pipeline.resources.site_directory import DirectorySite
from release_pipeline.steps.context import Source
from release_pipeline.steps.static_site import _record, recorded_commit
from release_pipeline.strategies import static_site
from release_pipeline.strategies.deployment import Deployment

SERVICE = default_catalog().service("frontend")


class HealthyProbe:
    """Answers every health check as the site would once a deployment serves."""

    def check(self, url, **kwargs):
        return ProbeResult(True, 200, {"version": "web-1"}, "ok")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture
def history(tmp_path) -> tuple[Path, list[str]]:
    """A repository with commits c0 <- c1 <- c2, oldest first."""
    repo = tmp_path / "repo"
    git(tmp_path, "init", "-q", str(repo))
    for n in range(3):
        git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty",
            "-m", f"c{n}")  # fmt: skip
    return repo, [git(repo, "rev-parse", f"HEAD~{back}") for back in (2, 1, 0)]


def published_site(tmp_path, commits: list[str]) -> DirectorySite:
    """d1 built from c1 and d2 from c2, with d2 live."""
    site = DirectorySite(sites_dir=str(tmp_path / "sites"))
    build = tmp_path / "build"
    build.mkdir()
    (build / "index.html").write_text("<p>web</p>")
    site.publish("frontend", build, "d1", commit=commits[1])
    site.publish("frontend", build, "d2", commit=commits[2])
    site.activate("frontend", "d2")
    return site


def release_after_rollback(site: DirectorySite, repo: Path, commit: str) -> str:
    """Records d2's release, rolls back, then asks the guard about ``commit``."""

    @dg.op
    def release_d2(context):
        _record(context, SERVICE, Deployment("d2", "d1", "web-2", "", 0.1, commit=""), "release",
                "http://site")  # fmt: skip

    @dg.op(ins={"after": dg.In(dg.Nothing)})
    def rollback(context):
        deployer = static_site.Deployer(site, HealthyProbe(), "http://site", context.log)
        deployment = static_site.rollback(deployer, SERVICE)
        _record(context, SERVICE, deployment, "rollback", "http://site")

    @dg.op(ins={"after": dg.In(dg.Nothing)})
    def guard(context) -> str:
        live = guards.live_commit(context, SERVICE, nginx=None)
        source = Source("frontend", "web-0", "old", commit, repo)
        checkout = GitResource(repo_url=str(repo), work_dir=str(repo.parent / "work"))
        try:
            guards.check_not_older(context, SERVICE, source, checkout, live, "build")
        except ReleaseRefused as refused:
            return f"refused: {refused}"
        return f"passed, live commit {live}"

    @dg.job
    def release_rollback_release():
        guard(after=rollback(after=release_d2()))

    with dg.instance_for_test() as instance:
        result = release_rollback_release.execute_in_process(instance=instance)
    return result.output_for_node("guard")


def test_rollback_returns_the_commit_the_restored_deployment_was_built_from(tmp_path, history):
    repo, commits = history
    site = published_site(tmp_path, commits)
    deployer = static_site.Deployer(site, HealthyProbe(), "http://site", dg.get_dagster_logger())

    deployment = static_site.rollback(deployer, SERVICE)

    assert (deployment.active, deployment.commit) == ("d1", commits[1])


def test_a_release_older_than_the_rolled_back_to_commit_is_refused(tmp_path, history):
    repo, commits = history
    site = published_site(tmp_path, commits)

    outcome = release_after_rollback(site, repo, commits[0])

    assert outcome.startswith("refused:") and commits[1][:12] in outcome, outcome


def test_the_release_record_names_the_commit_of_a_deployment_published_without_one(history):
    _, commits = history

    @dg.op
    def release_then_roll_back_to_d1(context):
        _record(context, SERVICE, Deployment("d1", None, "web-1", "", 0.1, commits[1]),
                "release", "http://site")  # fmt: skip
        _record(context, SERVICE, Deployment("d1", "d2", "web-1", "", 0.1), "rollback",
                "http://site")  # fmt: skip

    @dg.op(ins={"after": dg.In(dg.Nothing)})
    def look_up(context) -> str:
        return recorded_commit(context, SERVICE, "d1")

    @dg.job
    def records():
        look_up(after=release_then_roll_back_to_d1())

    with dg.instance_for_test() as instance:
        result = records.execute_in_process(instance=instance)

    assert result.output_for_node("look_up") == commits[1]
