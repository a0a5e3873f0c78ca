"""database_migration_apply inside a freeze window: nothing applied unless it is an emergency."""

import dagster as dg
import pytest

from release_pipeline.guards import EMERGENCY_TAG
from release_pipeline.migrations.assets import schema_key
from release_pipeline_tests.freeze_support import frozen_now
from release_pipeline_tests.support import failure_message
from release_pipeline_tests.test_migrations.runs import (
    apply,
    approved,
    ledger_names,
    materialization,
    planned,
    sensor_tick,
)

pytestmark = pytest.mark.sandbox


def test_an_approved_plan_waits_out_a_freeze_unless_applied_as_an_emergency(
    sandbox_env, resources, database, tmp_path
):
    approval_id = approved(resources, planned(resources).plan_hash)

    with frozen_now(sandbox_env, tmp_path) as window, dg.instance_for_test() as instance:
        tick = sensor_tick(resources, instance)
        refused = apply(resources, approval_id)
        applied_before = ledger_names(database)
        emergency = apply(resources, approval_id, tags={EMERGENCY_TAG: "true"})

    assert tick.run_requests == []
    assert f"Approval #{approval_id} waits for the end of freeze window test_freeze" in (
        tick.skip_message
    )
    assert f"tag {EMERGENCY_TAG}=true" in tick.skip_message
    message = failure_message(refused)
    assert [e.step_key for e in refused.get_step_failure_events()] == ["checkout_approved"]
    assert f"applying migrations refused: {sandbox_env['RELEASE_ENVIRONMENT']} is inside" in message
    assert f"Nothing was applied and approval #{approval_id} is unused" in message
    assert applied_before == []
    assert emergency.success, failure_message(emergency)
    assert len(ledger_names(database)) == 12
    schema = materialization(emergency, schema_key("database"))
    assert schema["emergency_during"] == window.name
