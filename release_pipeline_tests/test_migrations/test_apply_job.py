"""database_migration_apply against the sandbox: file by file, under a lock, then verified."""

import logging
import multiprocessing

import dagster as dg
import pytest

from release_pipeline.migrations.assets import schema_key
from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline_tests.support import failure_message
from release_pipeline_tests.test_migrations.runs import (
    apply,
    approved,
    ledger_names,
    materialization,
    page_tick,
    planned,
    query,
    sensor_tick,
)
from sandbox import slack_messages
from sandbox.pagerduty import pagerduty_events

pytestmark = pytest.mark.sandbox
log = logging.getLogger("test_apply_job")
EXAMPLE_FILES = [f"{n:03d}" for n in range(1, 13)]
# Passes the plan's dry run on an empty users table, fails once two users share a name.
UNIQUE_NAMES = """-- orders of the trading desk
CREATE TABLE public.orders (id BIGINT PRIMARY KEY, user_id BIGINT NOT NULL);

-- display names become handles, unique from now on
ALTER TABLE public.users
    ADD CONSTRAINT users_display_name_key UNIQUE (display_name);
"""


def prefixes(names: list[str]) -> list[str]:
    return [name.split("_", 1)[0] for name in names]


def applied(resources, platform=None, files=None) -> tuple:
    """Plans (after writing ``files``), approves as bob, and applies; returns plan and result."""
    if files:
        platform.write(files)
    plan = planned(resources)
    return plan, apply(resources, approved(resources, plan.plan_hash))


def test_the_sensor_launched_apply_migrates_records_and_verifies(sandbox_env, resources, database):
    plan = planned(resources, requested_by="alice")
    approval_id = approved(resources, plan.plan_hash, approver="bob")
    with dg.instance_for_test() as instance:
        request = sensor_tick(resources, instance).run_requests[0]
        result = apply(resources, approval_id, instance=instance, tags=request.tags)

    assert result.success, failure_message(result)
    assert prefixes(ledger_names(database)) == EXAMPLE_FILES
    rows = query(
        database, "SELECT DISTINCT approver, plan_hash, run_id FROM release_pipeline.ledger"
    )
    assert rows == [("bob", plan.plan_hash, result.run_id)]
    schema = materialization(result, schema_key("database"))
    assert schema["ledger_head"] == "012_function_upsert_candle.sql"
    assert (schema["approved_by"], schema["schema_check"]) == ("bob", "passed")
    assert query(database, "SELECT market_data.latest_close('BTCUSDT')") == [(None,)]
    assert "database migrated" in slack_messages(sandbox_env)[-1]["text"]


def test_an_error_mid_file_rolls_it_back_keeps_earlier_files_and_pages(
    sandbox_env, resources, platform, database
):
    applied(resources)
    platform.write(
        {
            "013_symbols_note.sql": "ALTER TABLE market_data.symbols ADD COLUMN note TEXT;\n",
            "014_orders.sql": UNIQUE_NAMES,
            "015_later.sql": "CREATE TABLE public.later (x INT);\n",
        }
    )
    plan = planned(resources)
    approval_id = approved(resources, plan.plan_hash)
    query(
        database,
        "INSERT INTO public.users (email, password_hash, display_name)"
        " VALUES ('a@example.com', 'x', 'ann'), ('b@example.com', 'x', 'ann')",
    )

    with dg.instance_for_test() as instance:
        request = sensor_tick(resources, instance).run_requests[0]
        cursor = page_tick(resources, instance).cursor
        result = apply(resources, approval_id, instance=instance, tags=request.tags)
        page_tick(resources, instance, cursor)

    assert not result.success
    message = failure_message(result)
    assert "Migration 014_orders.sql failed: 014_orders.sql line 5" in message
    assert "Its transaction was rolled back" in message
    assert "Applied and recorded before it: 013_symbols_note.sql" in message
    assert "Not applied: 014_orders.sql, 015_later.sql" in message
    assert prefixes(ledger_names(database)) == [*EXAMPLE_FILES, "013"]
    tables = "SELECT to_regclass('public.orders'), to_regclass('public.later')"
    assert query(database, tables) == [(None, None)]
    [event] = pagerduty_events(sandbox_env)
    assert event["dedup_key"] == f"database-plan-{plan.plan_hash[:12]}"
    assert event["payload"]["severity"] == "critical"
    assert "014_orders.sql" in event["payload"]["summary"]
    assert "FAILED at apply_migrations" in slack_messages(sandbox_env)[-1]["text"]


def test_a_concurrent_index_is_applied_outside_a_transaction(resources, platform, database):
    applied(resources)
    index = "CREATE INDEX CONCURRENTLY symbols_class_idx ON market_data.symbols (asset_class);\n"

    _, result = applied(resources, platform, {"013_symbols_class_idx.sql": index})

    assert result.success, failure_message(result)
    assert ledger_names(database)[-1] == "013_symbols_class_idx.sql"
    valid = "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass"
    assert query(database, valid, ("market_data.symbols_class_idx",)) == [(True,)]


def test_applying_again_with_nothing_pending_applies_nothing(resources, database):
    plan = planned(resources)
    approval_id = approved(resources, plan.plan_hash)
    assert apply(resources, approval_id).success
    before = query(database, "SELECT file_name, applied_at FROM release_pipeline.ledger ORDER BY 1")

    again = apply(resources, approval_id)

    assert again.success, failure_message(again)
    assert again.output_for_node("apply_migrations").applied == ()
    assert (
        query(database, "SELECT file_name, applied_at FROM release_pipeline.ledger ORDER BY 1")
        == before
    )


def test_an_approval_of_an_older_plan_applies_nothing(resources, platform, database):
    approval_id = approved(resources, planned(resources).plan_hash)
    platform.write({"013_orders.sql": "CREATE TABLE public.orders (id BIGINT PRIMARY KEY);\n"})
    newer = planned(resources)

    result = apply(resources, approval_id)

    assert not result.success
    assert f"superseded by the newer plan {newer.plan_hash[:12]}" in failure_message(result)
    assert ledger_names(database) == []


def test_an_approval_whose_plan_hash_no_longer_matches_applies_nothing(
    resources, platform, database
):
    plan = planned(resources)
    approval_id = approved(resources, plan.plan_hash)
    first = plan.pending[0]
    query(  # someone applied the first file by hand and recorded it
        database,
        "INSERT INTO release_pipeline.ledger VALUES (%s, %s, now(), 'dba', 'manual', 'manual', 0)",
        (first.name, first.sha256),
    )

    result = apply(resources, approval_id)

    assert not result.success
    assert f"is for plan {plan.plan_hash[:12]}, but the current plan is" in failure_message(result)
    assert ledger_names(database) == [first.name]


def test_an_expired_approval_applies_nothing_and_pages_nobody(sandbox_env, resources, database):
    approval_id = approved(resources, planned(resources).plan_hash)
    query(database, "UPDATE release_pipeline_audit.approvals SET expires_at = now()")

    with dg.instance_for_test() as instance:
        cursor = page_tick(resources, instance).cursor
        result = apply(resources, approval_id, instance=instance)
        page_tick(resources, instance, cursor)

    assert not result.success
    assert "expired at" in failure_message(result)
    assert ledger_names(database) == []
    assert pagerduty_events(sandbox_env) == []


def test_an_apply_fails_on_the_lock_another_one_holds_and_applies_nothing(resources, database):
    approval_id = approved(resources, planned(resources).plan_hash)
    resources["target_db"] = PostgresTargetResource(url=database, lock_wait_seconds=0.5)

    with resources["target_db"].migration_lock("the other apply", log):
        result = apply(resources, approval_id)

    assert not result.success
    assert "the other apply" in failure_message(result) and "still holds" in failure_message(result)
    assert ledger_names(database) == []


def _apply_in_child(resources: dict, approval_id: int, outcomes) -> None:
    result = apply(resources, approval_id)
    outcomes.put((result.success, len(result.output_for_node("apply_migrations").applied)))


def test_two_applies_at_once_apply_each_file_once(resources, database):
    approval_id = approved(resources, planned(resources).plan_hash)
    resources["target_db"] = PostgresTargetResource(url=database, lock_wait_seconds=60)
    fork = multiprocessing.get_context("fork")
    outcomes = fork.Queue()
    children = [
        fork.Process(target=_apply_in_child, args=(resources, approval_id, outcomes))
        for _ in range(2)
    ]

    for child in children:
        child.start()
    for child in children:
        child.join(120)

    assert sorted(outcomes.get(timeout=5) for _ in children) == [(True, 0), (True, 12)]
    assert prefixes(ledger_names(database)) == EXAMPLE_FILES
