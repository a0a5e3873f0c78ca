"""No secret value reaches what a release leaves behind, whether the release succeeds or fails.

Six runs execute as Jenkins runs them (``dagster job execute`` with the repository's
dagster.yaml: PostgreSQL storage, compute logs in S3), with a canary value in every secret
the catalog names (see leak_runs.py): a backend release that goes live; one that fails its
integration test because the service echoes every secret it was given; a frontend release,
whose build secrets Vite embeds in the site; and a migration plan, approval and an apply
that fails and pages. Each place the runs left text is then searched for every value.
Each search first checks that it has the runs' text to search, so none passes on nothing.
"""

import json
import os
import subprocess

import boto3
import dagster as dg
import docker
import httpx
import psycopg
import pytest
from dagster._serdes import serialize_value

from release_pipeline.catalog import default_catalog
from release_pipeline.secrets import known_secret_names
from release_pipeline_tests.leak_runs import (
    WORKING_CREDENTIALS,
    Releases,
    Secrets,
    dagster_home,
    fresh_database,
    latest_approval,
    migrations_repository,
)
from release_pipeline_tests.support import commit_to_branch, lb_url, release_config, site_config
from sandbox import slack_messages, slack_reset
from sandbox.pagerduty import pagerduty_events, pagerduty_reset

pytestmark = pytest.mark.sandbox

COMPUTE_LOG_BUCKET = "dagster-compute-logs"
COMPUTE_LOG_PREFIX = "release_pipeline/storage"
BACKEND_VERSIONS = {"backend-live": "leak.1", "backend-echoes": "leak.2"}
FAILING = {"backend-echoes", "apply-fails"}
RUN_SUCCESS, RUN_FAILURE = dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE


def echo_every_secret() -> str:
    """A runtime.env whose /health answers 503 with every secret the backend was given."""
    names = default_catalog().service("backend").secrets
    return 'HEALTH_STATUS="echo:' + ":".join(f"${name}" for name in names) + '"\n'


@pytest.fixture(scope="module")
def releases(sandbox_env, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("leak")
    with fresh_database(sandbox_env["DATABASE_URL"]) as database:
        slack_reset(sandbox_env)
        pagerduty_reset(sandbox_env)
        done = Releases(Secrets.make(sandbox_env, database), dagster_home(tmp / "dagster_home"))
        _release(done, sandbox_env)
        _migrate(done, dict(os.environ, RELEASE_GIT_URL=str(migrations_repository(tmp / "db"))))
        yield done


def _release(done: Releases, env: dict[str, str]) -> None:
    echoes = commit_to_branch(
        env, "leak-echo", {"apps/backend/config/runtime.env": echo_every_secret()}
    )
    config = release_config(BACKEND_VERSIONS["backend-live"])
    done.execute("backend-live", "backend_release", config, dict(os.environ))
    config = release_config(BACKEND_VERSIONS["backend-echoes"], git_ref=echoes)
    done.execute("backend-echoes", "backend_release", config, dict(os.environ))
    done.execute("frontend-live", "frontend_release", site_config("leak-web"), dict(os.environ))


def _migrate(done: Releases, env: dict[str, str]) -> None:
    database = done.secrets.values["DATABASE_URL"]
    plan = {"git_ref": "main", "requested_by": "alice"}
    done.execute("plan", "database_migration_plan", _op_config("checkout_migrations", plan), env)
    approval_id, plan_hash = latest_approval(database)
    approve = {"plan_hash": plan_hash, "approver": "bob"}
    done.execute("approve", "database_migration_approve", _op_config("approve_plan", approve), env)
    cursor = done.tick_paging(None)  # a first tick only places the cursor, as in the daemon
    config = _op_config("checkout_approved", {"approval_id": approval_id})
    done.execute("apply-fails", "database_migration_apply", config, env)
    done.tick_paging(cursor)


def _op_config(op: str, config: dict) -> dict:
    return {"ops": {op: {"config": config}}}


def assert_no_secret(corpus: dict[str, str], releases: Releases) -> None:
    """Fails naming each secret found, where, and the text around it."""
    assert corpus and all(corpus.values()), f"nothing to search in {sorted(corpus)}"
    leaks = []
    for name, needles in releases.secrets.needles().items():
        for where, text in corpus.items():
            at = next((text.find(n) for n in needles if n in text), -1)
            if at >= 0:
                leaks.append(f"{name} in {where}: ...{text[max(0, at - 80) : at + 40]}...")
    assert not leaks, "\n".join(leaks)


def test_the_runs_ended_as_planned_with_the_canaries_in_use(sandbox_env, releases):
    outcomes = {label: run.returncode == 0 for label, run in releases.runs.items()}
    canaries = releases.secrets.canaries
    page = httpx.get(lb_url(sandbox_env, "frontend") + "/").text

    assert outcomes == {label: label not in FAILING for label in releases.runs}, {
        label: run.output[-2000:] for label, run in releases.runs.items()
    }
    # Where the secrets belong: the service's containers, and the site for Vite's public keys.
    assert f"JWT_SECRET={canaries['JWT_SECRET']}" in container_env(sandbox_env, "leak.1")
    assert canaries["VITE_STRIPE_PUBLIC_KEY"] in page
    assert canaries["CLOUDFLARE_API_TOKEN"] not in page


def container_env(env: dict[str, str], version: str) -> list[str]:
    """The environment of this sandbox's running containers of ``version``."""
    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    labels = [
        f"release_pipeline.version={version}",
        f"release_pipeline.environment={env['RELEASE_ENVIRONMENT']}",
    ]
    containers = client.containers.list(filters={"label": labels})
    return [variable for c in containers for variable in c.attrs["Config"]["Env"]]


def test_every_secret_the_pipeline_knows_is_searched_with_the_value_the_runs_had(
    sandbox_env, releases
):
    needles = releases.secrets.needles()

    assert set(known_secret_names()) | set(WORKING_CREDENTIALS) <= set(needles)
    for name in WORKING_CREDENTIALS:
        assert needles[name] == [sandbox_env[name]]


def test_no_secret_in_the_event_log(releases):
    with releases.instance() as instance:
        logs = {label: instance.all_logs(run.run_id) for label, run in releases.runs.items()}
    ends = {
        label: {RUN_SUCCESS, RUN_FAILURE} & {entry.dagster_event_type for entry in entries}
        for label, entries in logs.items()
    }
    corpus = {
        f"event log of {label}": "\n".join(serialize_value(entry) for entry in entries)
        for label, entries in logs.items()
    }

    assert ends == {
        label: {RUN_FAILURE if label in FAILING else RUN_SUCCESS} for label in releases.runs
    }
    assert_no_secret(corpus, releases)


def test_no_secret_in_the_stored_run_config_or_tags(releases):
    with releases.instance() as instance:
        stored = {label: instance.get_run_by_id(run.run_id) for label, run in releases.runs.items()}
    corpus = {f"run record of {label}": serialize_value(run) for label, run in stored.items()}

    assert stored["backend-live"].run_config["ops"]["checkout"]["config"]["version"] == "leak.1"
    assert_no_secret(corpus, releases)


def test_no_secret_in_the_failures_error_texts_or_the_command_output(releases):
    with releases.instance() as instance:
        errors = {
            f"errors of {label}": "\n".join(_error_texts(instance, run.run_id))
            for label, run in releases.runs.items()
            if label in FAILING
        }
    output = {f"output of {label}": run.output for label, run in releases.runs.items()}

    assert "echo:***" in errors["errors of backend-echoes"], "the secrets were not echoed"
    assert "no_such_table" in errors["errors of apply-fails"]
    assert_no_secret({**errors, **output}, releases)


def _error_texts(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    texts = []
    for entry in instance.all_logs(run_id):
        data = entry.dagster_event and entry.dagster_event.event_specific_data
        failure = getattr(data, "user_failure_data", None)
        if failure is not None:
            texts.append(failure.description or "")
        error = getattr(data, "error", None)
        while error is not None:
            texts += [error.message, *error.stack]
            error = error.cause
    return texts


def test_no_secret_in_the_compute_logs_in_s3(releases):
    s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"])
    corpus = {}
    for label, run in releases.runs.items():
        prefix = f"{COMPUTE_LOG_PREFIX}/{run.run_id}/"
        listing = s3.list_objects_v2(Bucket=COMPUTE_LOG_BUCKET, Prefix=prefix)
        for key in [item["Key"] for item in listing.get("Contents", [])]:
            body = s3.get_object(Bucket=COMPUTE_LOG_BUCKET, Key=key)["Body"].read()
            corpus[f"{key} ({label})"] = body.decode(errors="replace")

    stages = {
        label: "\n".join(t for k, t in corpus.items() if label in k) for label in releases.runs
    }
    assert "@trading/backend" in stages["backend-live"], sorted(corpus)
    assert "integration test FAILED" in stages["backend-echoes"], sorted(corpus)
    assert "build: dist/ written" in stages["frontend-live"], sorted(corpus)
    assert_no_secret({k: t for k, t in corpus.items() if t}, releases)


def test_no_secret_in_what_slack_received(sandbox_env, releases):
    messages = slack_messages(sandbox_env)
    texts = "\n".join(message["text"] for message in messages)

    assert "backend released leak.1" in texts
    assert "FAILED at integration_test" in texts
    assert "frontend released leak-web" in texts
    assert "FAILED at apply_migrations" in texts
    assert_no_secret({"slack messages": json.dumps(messages)}, releases)


def test_no_secret_in_what_pagerduty_received_besides_its_own_routing_key(sandbox_env, releases):
    events = pagerduty_events(sandbox_env)
    # The routing key is how Events API v2 authenticates: it belongs in each event's envelope.
    keys = {event.pop("routing_key") for event in events}

    assert keys == {sandbox_env["PAGERDUTY_ROUTING_KEY"]}
    assert any("database_migration_apply failed" in e["payload"]["summary"] for e in events)
    assert_no_secret({"pagerduty events": json.dumps(events)}, releases)


def test_no_secret_in_the_history_or_config_of_the_built_images(sandbox_env, releases):
    repository = f"{sandbox_env['REGISTRY_URL']}/backend-api"
    env = {**os.environ, "DOCKER_HOST": sandbox_env["DOCKER_HOST"]}
    corpus = {}
    for label, version in BACKEND_VERSIONS.items():
        image = f"{repository}:{version}"
        for command in (["history", "--no-trunc"], ["image", "inspect"]):
            shown = subprocess.run(
                ["docker", *command, image], env=env, capture_output=True, text=True, check=True
            )
            corpus[f"docker {command[0]} {image} ({label})"] = shown.stdout

    assert all("/app/start.sh" in text for text in corpus.values()), corpus
    assert_no_secret(corpus, releases)


def test_no_secret_in_the_step_outputs_stored_under_dagster_home(releases):
    corpus = {
        str(path.relative_to(releases.home)): path.read_bytes().decode(errors="replace")
        for run in releases.runs.values()
        for path in (releases.home / "storage" / run.run_id).rglob("*")
        if path.is_file()
    }

    assert any("push_image" in key for key in corpus), sorted(corpus)
    assert_no_secret(corpus, releases)


def test_no_secret_anywhere_in_dagsters_database(sandbox_env, releases):
    corpus = {}
    dsn = {
        "host": sandbox_env["DAGSTER_PG_HOST"],
        "port": sandbox_env["DAGSTER_PG_PORT"],
        "user": sandbox_env["DAGSTER_PG_USER"],
        "password": sandbox_env["DAGSTER_PG_PASSWORD"],
        "dbname": sandbox_env["DAGSTER_PG_DB"],
    }
    with psycopg.connect(**dsn) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
        for (table,) in tables:
            rows = connection.execute(f'SELECT t::text FROM "{table}" t').fetchall()
            corpus[f"table {table}"] = "\n".join(row[0] for row in rows)

    run_id = releases.runs["backend-echoes"].run_id
    assert run_id in corpus["table event_logs"]
    assert_no_secret({k: t for k, t in corpus.items() if t}, releases)
