"""migration_approval_sensor: one apply per approval of the current plan, and why not otherwise."""

import logging

import dagster as dg
import pytest

from release_pipeline.resources.postgres_target import PostgresTargetResource
from release_pipeline_tests.test_migrations.runs import (
    apply,
    approved,
    planned,
    query,
    sensor_tick,
)

pytestmark = pytest.mark.sandbox
log = logging.getLogger("test_sensor")


@pytest.fixture
def instance():
    with dg.instance_for_test() as instance:
        yield instance


def test_an_approval_of_the_current_plan_requests_one_apply_run(resources, instance):
    plan = planned(resources)
    approval_id = approved(resources, plan.plan_hash)

    tick = sensor_tick(resources, instance)

    [request] = tick.run_requests
    assert request.run_key == f"migration-approval-{approval_id}"
    assert request.run_config["ops"]["checkout_approved"]["config"] == {"approval_id": approval_id}
    assert request.tags["release/plan_hash"] == plan.plan_hash
    assert request.tags["release/approver"] == "bob"


def test_each_approval_gets_its_own_run_key(resources, platform, instance):
    first = approved(resources, planned(resources).plan_hash)
    first_key = sensor_tick(resources, instance).run_requests[0].run_key
    assert apply(resources, first, instance=instance).success
    platform.write({"013_orders.sql": "CREATE TABLE public.orders (id BIGINT PRIMARY KEY);\n"})
    second = approved(resources, planned(resources).plan_hash)

    tick = sensor_tick(resources, instance)

    assert [request.run_key for request in tick.run_requests] == [f"migration-approval-{second}"]
    assert first_key != tick.run_requests[0].run_key


def test_a_plan_waiting_for_approval_launches_nothing(resources, instance):
    planned(resources)

    tick = sensor_tick(resources, instance)

    assert tick.run_requests == [] and tick.skip_message == "No unused migration approval."


def test_an_expired_approval_launches_nothing_and_says_so(resources, database, instance):
    approval_id = approved(resources, planned(resources).plan_hash)
    query(
        database,
        "UPDATE release_pipeline_audit.approvals SET expires_at = now() - interval '1 minute'",
    )

    tick = sensor_tick(resources, instance)

    assert tick.run_requests == []
    assert f"approval #{approval_id} by bob expired at" in tick.skip_message


def test_an_approval_of_a_superseded_plan_launches_nothing_and_says_so(
    resources, platform, instance
):
    old = approved(resources, planned(resources).plan_hash)
    platform.write({"013_orders.sql": "CREATE TABLE public.orders (id BIGINT PRIMARY KEY);\n"})
    newer = planned(resources)

    tick = sensor_tick(resources, instance)

    assert tick.run_requests == []
    assert f"approval #{old} is for plan" in tick.skip_message
    assert f"superseded by the newer plan {newer.plan_hash[:12]}" in tick.skip_message


def test_an_approval_made_stale_by_a_ledger_change_launches_nothing(resources, database, instance):
    approval_id = approved(resources, planned(resources).plan_hash)
    query(
        database,
        "INSERT INTO release_pipeline.ledger VALUES ('000_hand_made.sql', repeat('a', 64),"
        " now(), 'dba', 'manual', 'manual', 0)",
    )

    tick = sensor_tick(resources, instance)

    assert tick.run_requests == []
    assert f"approval #{approval_id} is stale: the ledger changed" in tick.skip_message


def test_an_apply_that_failed_before_using_its_approval_is_not_launched_again(
    resources, database, instance
):
    approval_id = approved(resources, planned(resources).plan_hash)
    request = sensor_tick(resources, instance).run_requests[0]
    resources["target_db"] = PostgresTargetResource(url=database, lock_wait_seconds=0.5)
    with resources["target_db"].migration_lock("another run", log):
        run = apply(resources, approval_id, instance=instance, tags=request.tags)

    tick = sensor_tick(resources, instance)

    assert not run.success
    assert tick.run_requests == []
    assert f"approval #{approval_id} was already launched as run {run.run_id} (FAILURE)" in (
        tick.skip_message
    )
