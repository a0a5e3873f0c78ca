"""Sensors generated from the catalog.

``<service>_release_after_retrain`` watches the retrain job: when a retrain run
succeeds it requests a release of the models that run stored, built from the
commit they were trained at. It needs the Dagster daemon, like every sensor.
"""

from __future__ import annotations

import dagster as dg

from release_pipeline.assets import models_key
from release_pipeline.catalog import Catalog, Service

RETRAIN_TRIGGER = {"release/trigger": "retrain"}


def release_after_retrain_sensor(
    service: Service, retrain_job: dg.JobDefinition, release_job: dg.JobDefinition
) -> dg.SensorDefinition:
    """Requests ``release_job`` for the models each successful ``retrain_job`` run stored."""

    @dg.run_status_sensor(
        name=f"{service.name}_release_after_retrain",
        description=f"Releases {service.name} with the models of each successful retrain.",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[retrain_job],
        request_job=release_job,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def release_after_retrain(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        event = context.instance.get_latest_materialization_event(models_key(service.name))
        if event is None or event.run_id != run.run_id:
            return dg.SkipReason(f"Retrain run {run.run_id} stored no {service.name} models.")
        facts = {key: value.value for key, value in event.asset_materialization.metadata.items()}
        version = str(facts["models_version"])
        context.log.info(f"Requesting a {service.name} release of models {version}.")
        return dg.RunRequest(
            run_key=f"retrain-{run.run_id}",
            run_config={
                "ops": {
                    "checkout": {"config": {"git_ref": facts["commit"], "version": version}},
                    "fetch_models": {"config": {"models_version": version}},
                }
            },
            tags={**RETRAIN_TRIGGER, "release/models_version": version},
        )

    return release_after_retrain


def catalog_sensors(catalog: Catalog, jobs: list[dg.JobDefinition]) -> list[dg.SensorDefinition]:
    """One release-after-retrain sensor per service that has both jobs in this code location."""
    by_name = {job.name: job for job in jobs}
    sensors = []
    for service in catalog.services.values():
        retrain = by_name.get(f"{service.name}_retrain")
        release = by_name.get(f"{service.name}_release")
        if retrain is not None and release is not None:
            sensors.append(release_after_retrain_sensor(service, retrain, release))
    return sensors
