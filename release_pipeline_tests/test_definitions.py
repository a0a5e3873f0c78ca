"""Every generated job, tag and asset, as a readable snapshot: a catalog change shows as a diff.

Run with UPDATE_SNAPSHOTS=1 to accept a deliberate change.
"""

import json
import os
from pathlib import Path

from release_pipeline.definitions import defs

SNAPSHOT = Path(__file__).with_name("snapshots") / "definitions.json"


def describe_definitions() -> dict:
    repository = defs.get_repository_def()
    jobs = {
        job.name: {
            "tags": dict(job.tags),
            "steps": [node.name for node in job.graph.nodes_in_topological_order],
            "executor": job.executor_def.name,
        }
        for job in sorted(repository.get_all_jobs(), key=lambda job: job.name)
        if not job.name.startswith("__")
    }
    assets = sorted(key.to_user_string() for key in repository.asset_graph.get_all_asset_keys())
    schedules = {
        schedule.name: {
            "job": schedule.job_name,
            "cron": schedule.cron_schedule,
            "timezone": schedule.execution_timezone,
        }
        for schedule in repository.schedule_defs
    }
    sensors = {
        sensor.name: sorted(target.job_name for target in sensor.targets)
        for sensor in repository.sensor_defs
    }
    return {"jobs": jobs, "assets": assets, "schedules": schedules, "sensors": sensors}


def test_generated_definitions_match_the_snapshot():
    current = json.dumps(describe_definitions(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(current)

    assert current == SNAPSHOT.read_text()


def test_every_job_of_a_service_carries_its_tag():
    for name, job in describe_definitions()["jobs"].items():
        # database_migration_plan belongs to database: a tag value is the name's prefix.
        tagged = [value for value in job["tags"].values() if name.startswith(f"{value}_")]
        assert tagged, f"{name} has no tag naming its service"
