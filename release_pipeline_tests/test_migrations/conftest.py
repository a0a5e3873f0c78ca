"""Fixtures of the migration tests: a database of their own per test, a platform repository."""

import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from dagster_aws.s3 import S3Resource

from release_pipeline.resources.git import GitResource
from release_pipeline.resources.pagerduty import PagerDutyResource
from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline.resources.slack import SlackResource
from sandbox import slack_reset
from sandbox.pagerduty import pagerduty_reset

EXAMPLE_MIGRATIONS = (
    Path(__file__).resolve().parents[2] / "examples/trading-platform/apps/database/migrations"
)
MIGRATIONS_DIR = "apps/database/migrations"


class Platform:
    """A git repository holding the example platform's migrations, changed commit by commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        shutil.copytree(EXAMPLE_MIGRATIONS, path / MIGRATIONS_DIR)
        self._git("init", "-q", "-b", "main")
        self.commit("the example migrations")

    def write(self, files: dict[str, str | None]) -> str:
        """Writes (or with None deletes) migration files on main; returns the commit."""
        for name, text in files.items():
            target = self.path / MIGRATIONS_DIR / name
            if text is None:
                target.unlink()
            else:
                target.write_text(text)
        return self.commit(f"change {', '.join(files)}")

    def commit(self, message: str) -> str:
        self._git("add", "-A")
        self._git("commit", "-qm", message)
        return self._git("rev-parse", "HEAD").strip()

    def _git(self, *args: str) -> str:
        identity = ["-c", "user.name=test", "-c", "user.email=test@example.com"]
        command = ["git", "-C", str(self.path), *identity, *args]
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def database(sandbox_env):
    """The URL of an empty database of this test's own in the sandbox's target cluster."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(sandbox_env["DATABASE_URL"], autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    parts = urlsplit(sandbox_env["DATABASE_URL"])
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(sandbox_env["DATABASE_URL"], autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def platform(tmp_path):
    return Platform(tmp_path / "platform")


@pytest.fixture
def resources(sandbox_env, database, platform, tmp_path):
    """The migration jobs' resources, pointed at this test's database and repository."""
    slack_reset(sandbox_env)
    pagerduty_reset(sandbox_env)
    return {
        "target_db": PostgresTargetResource(url=database, lock_wait_seconds=3),
        "git": GitResource(repo_url=str(platform.path), work_dir=str(tmp_path / "work")),
        "backup_s3": S3Resource(endpoint_url=sandbox_env["S3_ENDPOINT_URL"]),
        "slack": SlackResource(
            token=sandbox_env["SLACK_BOT_TOKEN"], base_url=sandbox_env["SLACK_API_URL"]
        ),
        "pagerduty": PagerDutyResource(
            routing_key=sandbox_env["PAGERDUTY_ROUTING_KEY"],
            events_url=sandbox_env["PAGERDUTY_EVENTS_URL"],
        ),
    }
