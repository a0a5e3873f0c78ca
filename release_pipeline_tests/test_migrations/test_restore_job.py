"""database_restore: only after its own approval, and the database ends exactly as backed up."""

import re
import subprocess

import pytest

from release_pipeline.migrations.assets import backup_key, schema_key
from release_pipeline_tests.support import failure_message
from release_pipeline_tests.test_migrations.runs import (
    apply,
    approve,
    approved,
    materialization,
    plan,
    query,
    run,
)
from sandbox import slack_messages

pytestmark = pytest.mark.sandbox
# pg_dump 15.14+ opens and closes a plain dump with a random \restrict key.
RESTRICT_KEY = re.compile(r"^\\(?:un)?restrict \S+$", re.MULTILINE)
AUDIT = "--exclude-schema=release_pipeline_audit"


def plain_dump(url: str) -> str:
    output = subprocess.run(
        ["pg_dump", AUDIT, f"--dbname={url}"], check=True, capture_output=True, text=True
    )
    return RESTRICT_KEY.sub("", output.stdout)


def restore(resources: dict, backup: str = "", requested_by: str = "carol"):
    config = {"backup_key": backup, "requested_by": requested_by}
    return run("database_restore", resources, {"ops": {"choose_backup": {"config": config}}})


def restore_hash_of(sandbox_env) -> str:
    """The hash to approve, from the last restore request posted to Slack."""
    texts = [m["text"] for m in slack_messages(sandbox_env) if "asks to restore" in m["text"]]
    return re.search(r"plan_hash: ([0-9a-f]{64})", texts[-1])[1]


@pytest.fixture
def migrated(resources, database):
    """The example schema applied, with a user and a candle: the state the backup will hold."""
    first = plan(resources)
    approval_id = approved(resources, first.output_for_node("plan_migrations").plan_hash)
    assert apply(resources, approval_id).success
    query(
        database, "INSERT INTO public.users (email, password_hash) VALUES ('ann@example.com', 'x')"
    )
    query(
        database,
        "SELECT market_data.upsert_candle('BTCUSDT', now(), 1, 2, 0.5, 1.5, 10)",
    )


def test_a_restore_waits_for_an_approval_by_someone_else(
    sandbox_env, resources, database, migrated
):
    result = restore(resources, requested_by="carol")

    assert not result.success
    assert "needs an approval by someone other than carol" in failure_message(result)
    self_approval = approve(
        resources, restore_hash_of(sandbox_env), approver="carol", kind="restore"
    )
    assert not self_approval.success
    assert "cannot approve it alone" in failure_message(self_approval)
    assert not restore(resources, requested_by="carol").success


def test_a_restore_into_a_changed_database_ends_identical_to_the_backup(
    sandbox_env, resources, platform, database, migrated
):
    platform.write({"013_orders.sql": "CREATE TABLE public.orders (id BIGINT PRIMARY KEY);\n"})
    second = plan(resources)  # backs up the migrated database with its user and candle
    assert second.success, failure_message(second)
    backup = materialization(second, backup_key("database"))["uri"].split("/", 3)[3]
    at_backup = plain_dump(database)
    assert apply(
        resources, approved(resources, second.output_for_node("plan_migrations").plan_hash)
    ).success
    query(
        database, "INSERT INTO public.users (email, password_hash) VALUES ('bo@example.com', 'y')"
    )
    query(database, "ALTER TABLE public.users DROP COLUMN display_name")
    query(database, "CREATE SCHEMA scratch; CREATE TABLE scratch.notes (x TEXT)")
    assert plain_dump(database) != at_backup

    assert not restore(resources, backup).success  # asks for the approval
    approval = approve(resources, restore_hash_of(sandbox_env), approver="dave", kind="restore")
    assert approval.success, failure_message(approval)
    result = restore(resources, backup)

    assert result.success, failure_message(result)
    assert plain_dump(database) == at_backup
    assert materialization(result, schema_key("database"))["ledger_head"] == (
        "012_function_upsert_candle.sql"
    )
    audit = query(
        database, "SELECT kind, approved_by FROM release_pipeline_audit.approvals ORDER BY id"
    )
    assert audit == [("migration", "bob"), ("migration", "bob"), ("restore", "dave")]
    assert not restore(resources, backup).success, "an approval restores once"
