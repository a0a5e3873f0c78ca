"""Releases run with canary secrets, as Jenkins runs them, and the places they leave text.

Every secret the catalog names gets a value that cannot occur by chance,
``leak-canary-<name>-<hex>``. The exception is DATABASE_URL: migrations must reach a real
database, so it keeps a working URL (of a database made for these runs). The platform's
own credentials (registry, Dagster's PostgreSQL, Slack, S3, PagerDuty: everything in
``PLATFORM_SECRETS``) keep the sandbox's working values where it sets them, canaries
otherwise. All of them are searched for; see ``Secrets.needles``.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import dagster as dg
import psycopg
import pytest

from release_pipeline.catalog import default_catalog
from release_pipeline.definitions import defs
from release_pipeline.paging import SENSOR_NAME
from release_pipeline.secrets import PLATFORM_SECRETS

REPO = Path(__file__).resolve().parents[1]
RUN_TAG = "leak_check/run"
RUN_TIMEOUT_SECONDS = 300
# Credentials of the systems the runs talk to, searched whatever PLATFORM_SECRETS says.
# They must work, so they keep the sandbox's values, as does any other platform secret the
# sandbox sets. AWS_ACCESS_KEY_ID is left out on purpose: it names a key and is no secret
# (AWS sends it in every signed request); the sandbox's is the plain word "sandbox".
WORKING_CREDENTIALS = (
    "REGISTRY_PASSWORD",
    "DAGSTER_PG_PASSWORD",
    "SLACK_BOT_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "PAGERDUTY_ROUTING_KEY",
)
DATABASE_URL = "DATABASE_URL"
MIGRATIONS = {
    "001_leak_notes.sql": "CREATE TABLE public.leak_notes (id BIGINT PRIMARY KEY);\n",
    # Flagged as non-transactional, so the plan's dry run skips it and the apply fails on it.
    "002_leak_index.sql": "CREATE INDEX CONCURRENTLY leak_idx ON public.no_such_table (id);\n",
}


@dataclass
class Secrets:
    """The values given to the runs, and what to search for, by secret name."""

    values: dict[str, str]
    canaries: dict[str, str]

    @classmethod
    def make(cls, env: dict[str, str], database_url: str) -> Secrets:
        """Canaries, except for DATABASE_URL and the credentials a sandbox server checks."""
        catalog = set(default_catalog().secret_names())
        names = catalog | set(PLATFORM_SECRETS) | set(WORKING_CREDENTIALS)
        working = {n: env[n] for n in names - catalog if env.get(n)}
        canaries = {
            name: f"leak-canary-{name.lower()}-{secrets.token_hex(8)}"
            for name in sorted(names - set(working) - {DATABASE_URL})
        }
        return cls({**canaries, **working, DATABASE_URL: database_url}, canaries)

    def needles(self) -> dict[str, list[str]]:
        """Each value, and also the part of it that would survive a cut or a changed case."""
        found = {name: [value] for name, value in self.values.items()}
        for name, value in self.canaries.items():
            found[name].append(value.rsplit("-", 1)[1])
        found[DATABASE_URL].append(urlsplit(self.values[DATABASE_URL]).password or "")
        return {name: [n for n in values if n] for name, values in found.items()}


@dataclass
class Run:
    """One ``dagster job execute`` of a job, and what it printed."""

    label: str
    job: str
    returncode: int
    output: str
    run_id: str = ""


@dataclass
class Releases:
    """What the runs left: the instance they recorded into and the runs themselves."""

    secrets: Secrets
    home: Path
    runs: dict[str, Run] = field(default_factory=dict)

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))

    def execute(self, label: str, job: str, config: dict, env: dict[str, str]) -> Run:
        """Runs ``job`` as jenkins/release.sh does: its own process, from an empty directory."""
        work = self.home.parent / f"run-{label}"
        work.mkdir()
        (work / "config.yaml").write_text(json.dumps(config))
        command = [sys.executable, "-m", "dagster", "job", "execute"]
        command += ["-m", "release_pipeline.definitions", "-j", job, "-c", "config.yaml"]
        command += ["--tags", json.dumps({RUN_TAG: label})]
        done = subprocess.run(
            command,
            cwd=work,
            env={**env, **self.secrets.values, "DAGSTER_HOME": str(self.home)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=RUN_TIMEOUT_SECONDS,
        )
        run = Run(label, job, done.returncode, done.stdout)
        with self.instance() as instance:
            found = instance.get_runs(dg.RunsFilter(tags={RUN_TAG: label}))
        assert len(found) == 1, f"{label}: {len(found)} runs recorded\n{done.stdout[-3000:]}"
        run.run_id = found[0].run_id
        self.runs[label] = run
        return run

    def tick_paging(self, cursor: str | None) -> str | None:
        """One tick of the paging sensor, in the environment the runs had.

        As in test_paging, the context names no code location, so the sensor takes runs
        started by ``dagster job execute`` too.
        """
        sensor = defs.resolve_sensor_def(SENSOR_NAME)
        with self.instance() as instance, pytest.MonkeyPatch.context() as patch:
            for name, value in self.secrets.values.items():
                patch.setenv(name, value)
            context = dg.build_sensor_context(
                instance=instance,
                cursor=cursor,
                resources={"pagerduty": defs.resources["pagerduty"]},
                definitions=defs,
            )
            return sensor.evaluate_tick(context).cursor


def dagster_home(path: Path) -> Path:
    """A DAGSTER_HOME holding the repository's dagster.yaml, as on a Jenkins agent."""
    path.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", path / "dagster.yaml")
    return path


@contextlib.contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """The URL of a new, empty database next to ``admin_url``'s, dropped afterwards."""
    name = f"leak_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def migrations_repository(path: Path) -> Path:
    """A platform repository whose second migration passes the plan and fails the apply."""
    directory = path / default_catalog().service("database").source_dir / "migrations"
    directory.mkdir(parents=True)
    for name, text in MIGRATIONS.items():
        (directory / name).write_text(text)
    git = ["git", "-C", str(path), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "migrations that fail to apply"], check=True)
    return path


def latest_approval(database_url: str) -> tuple[int, str]:
    """Id and plan hash of the latest approval request in the target database."""
    with psycopg.connect(database_url) as connection:
        row = connection.execute(
            "SELECT id, plan_hash FROM release_pipeline_audit.approvals ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row, "the plan recorded no approval request"
    return row[0], row[1]
