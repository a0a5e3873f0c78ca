"""database_migration_plan against the sandbox's PostgreSQL, S3 server and Slack receiver."""

import boto3
import pytest

from release_pipeline.migrations.assets import backup_key
from release_pipeline.migrations.backup import find_backup, list_backup_keys, verify_backup
from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline_tests.support import failure_message
from release_pipeline_tests.test_migrations.runs import (
    apply,
    approved,
    materialization,
    plan,
    planned,
    query,
)
from sandbox import slack_messages

pytestmark = pytest.mark.sandbox
BUCKET = "trading-backups"
CONCURRENT_INDEX = (
    "CREATE INDEX CONCURRENTLY users_email_lower_idx ON public.users (lower(email));\n"
)


def s3_client(env):
    return boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"])


def approval_requests(database: str) -> list[tuple]:
    return query(database, "SELECT plan_hash, requested_by FROM release_pipeline_audit.approvals")


def test_plan_backs_up_dry_runs_and_requests_an_approval(sandbox_env, resources, database):
    result = plan(resources, requested_by="alice")

    assert result.success, failure_message(result)
    planned = result.output_for_node("plan_migrations")
    assert planned.file_names[0] == "001_create_users.sql" and len(planned.file_names) == 12
    backup = materialization(result, backup_key("database"))
    assert backup["uri"].startswith(f"s3://{BUCKET}/db/backup_")
    stored = find_backup(s3_client(sandbox_env), BUCKET, backup["uri"].split("/", 3)[3])
    assert (stored.size, stored.sha256) == (backup["size_bytes"], backup["sha256"])
    assert "TABLE" in verify_backup(resources["target_db"], s3_client(sandbox_env), stored)
    assert query(database, "SELECT to_regclass('public.users')") == [(None,)], "dry run kept"
    assert approval_requests(database) == [(planned.plan_hash, "alice")]
    text = slack_messages(sandbox_env)[-1]["text"]
    assert planned.plan_hash in text and "database_migration_approve" in text


def test_plan_without_a_requester_is_refused_before_any_backup(sandbox_env, resources):
    before = list_backup_keys(s3_client(sandbox_env), BUCKET, "db/")

    result = plan(resources, requested_by="")

    assert not result.success
    assert "requested_by" in failure_message(result)
    assert list_backup_keys(s3_client(sandbox_env), BUCKET, "db/") == before


def test_a_concurrent_index_is_flagged_at_validation(resources, platform):
    platform.write({"013_users_email_lower.sql": "-- case-insensitive login\n" + CONCURRENT_INDEX})

    result = plan(resources)

    assert result.success, failure_message(result)
    checks = {check.name: check for check in result.output_for_node("validate_migrations")}
    assert checks["013_users_email_lower.sql"].outside_transaction == (
        "line 2: CREATE INDEX CONCURRENTLY",
    )
    assert all(
        check.validated for name, check in checks.items() if name != "013_users_email_lower.sql"
    )
    summary = result.output_for_node("plan_migrations").summary()
    assert summary["outside_transaction"] == ["013_users_email_lower.sql"]


def test_an_error_in_a_pending_file_fails_the_dry_run_naming_file_and_line(
    resources, platform, database
):
    orders = (
        "CREATE TABLE public.orders (id BIGINT PRIMARY KEY);\n\n"
        "ALTER TABLE public.orders ADD COLUMN user_id BIGINT REFERENCES public.nobody (id);\n"
    )
    platform.write({"013_orders.sql": orders})

    result = plan(resources)

    assert not result.success
    assert "013_orders.sql line 3" in failure_message(result)
    assert 'relation "public.nobody" does not exist' in failure_message(result)
    assert approval_requests(database) == []
    assert query(database, "SELECT to_regclass('public.users')") == [(None,)]


def test_an_applied_file_whose_bytes_changed_stops_the_plan_naming_it(
    resources, platform, database
):
    approval_id = approved(resources, planned(resources).plan_hash)
    assert apply(resources, approval_id).success
    platform.write({"003_create_symbols.sql": "-- edited after it was applied\n"})

    result = plan(resources)

    assert not result.success
    assert "003_create_symbols.sql changed after" in failure_message(result)


def test_nothing_pending_takes_no_backup_and_asks_nothing(sandbox_env, resources):
    approval_id = approved(resources, planned(resources).plan_hash)
    assert apply(resources, approval_id).success
    before = list_backup_keys(s3_client(sandbox_env), BUCKET, "db/")

    result = plan(resources)

    assert result.success, failure_message(result)
    assert result.output_for_node("plan_migrations").is_empty
    assert list_backup_keys(s3_client(sandbox_env), BUCKET, "db/") == before


def test_a_failing_pg_dump_fails_the_plan_requests_nothing_and_deletes_no_backup(
    sandbox_env, resources, database
):
    planned(resources)  # an earlier backup, which must survive
    s3 = s3_client(sandbox_env)
    before = list_backup_keys(s3, BUCKET, "db/")
    query(
        database, "CREATE TABLE public.secrets (x int); REVOKE ALL ON public.secrets FROM trading"
    )

    result = plan(resources, requested_by="carol")

    assert not result.success
    assert "pg_dump" in failure_message(result) and "permission denied" in failure_message(result)
    assert list_backup_keys(s3, BUCKET, "db/") == before
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert [by for _, by in approval_requests(database)] == ["alice"]


def test_a_pg_dump_that_writes_nothing_fails_the_plan_and_requests_nothing(
    sandbox_env, resources, database, tmp_path
):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pg_dump").write_text("#!/bin/sh\nexit 0\n")
    (fake / "pg_dump").chmod(0o755)
    resources["target_db"] = PostgresTargetResource(url=database, pg_bin_dir=str(fake))
    before = list_backup_keys(s3_client(sandbox_env), BUCKET, "db/")

    result = plan(resources)

    assert not result.success
    assert "wrote nothing" in failure_message(result)
    assert list_backup_keys(s3_client(sandbox_env), BUCKET, "db/") == before
    assert approval_requests(database) == []
