"""database_migration_approve: who approved which plan hash, and who may not."""

import dagster as dg
import pytest

from release_pipeline_tests.support import failure_message
from release_pipeline_tests.test_migrations.runs import approve, planned, query, sensor_tick
from sandbox import slack_messages

pytestmark = pytest.mark.sandbox


def approvals(database: str) -> list[tuple]:
    return query(
        database,
        "SELECT requested_by, approved_by, round(extract(epoch FROM expires_at - approved_at))"
        " FROM release_pipeline_audit.approvals ORDER BY id",
    )


def test_an_approval_records_who_approved_what_until_when(sandbox_env, resources, database):
    plan = planned(resources, requested_by="alice")

    result = approve(resources, plan.plan_hash, approver="bob")

    assert result.success, failure_message(result)
    assert approvals(database) == [("alice", "bob", 4 * 3600)]
    assert "bob approved database migration" in slack_messages(sandbox_env)[-1]["text"]


def test_the_requester_alone_cannot_approve_and_nothing_is_launched(resources, database):
    plan = planned(resources, requested_by="alice")

    result = approve(resources, plan.plan_hash, approver=" Alice ")

    assert not result.success
    assert "cannot approve it alone" in failure_message(result)
    assert approvals(database) == [("alice", None, None)]
    with dg.instance_for_test() as instance:
        assert sensor_tick(resources, instance).run_requests == []


def test_an_approval_of_an_older_plan_is_refused(resources, platform, database):
    older = planned(resources)
    platform.write({"013_orders.sql": "CREATE TABLE public.orders (id BIGINT PRIMARY KEY);\n"})
    newer = planned(resources)

    result = approve(resources, older.plan_hash)

    assert not result.success
    assert f"the latest migration request: that is {newer.plan_hash[:12]}" in failure_message(
        result
    )
    assert approvals(database) == [("alice", None, None), ("alice", None, None)]


def test_an_unknown_hash_or_a_second_approval_is_refused(resources, database):
    plan = planned(resources)
    assert approve(resources, plan.plan_hash, approver="bob").success

    unknown = approve(resources, "0" * 64, approver="carol")
    again = approve(resources, plan.plan_hash, approver="carol")

    assert not unknown.success and "not the latest migration request" in failure_message(unknown)
    assert not again.success and "already approved by bob" in failure_message(again)
    assert approvals(database) == [("alice", "bob", 4 * 3600)]
