"""ml_engine_release, ml_engine_rollback and ml_engine_retrain against the real sandbox servers.

The tests run in file order and build on each other's live state: a healthy
canary promoted under load, a failing canary refused, a rollback, then a
retrain whose models the sensor releases.
"""

import hashlib
import json
import re

import boto3
import dagster as dg
import pytest

from release_pipeline.assets import deployment_key, image_key, models_key
from release_pipeline.definitions import defs
from release_pipeline_tests.support import (
    FAST_VERIFY,
    commit_to_branch,
    failure_message,
    materialization,
    run_job,
    sandbox_resources,
)
from release_pipeline_tests.test_canary.canary_support import (
    FAST_CANARY,
    canary_config,
    live_health,
    ml_engine_containers,
    prediction_traffic,
    rollback_config,
    upstream_state,
)
from sandbox import slack_messages

pytestmark = pytest.mark.sandbox


def test_a_healthy_canary_under_steady_traffic_is_promoted_without_a_failed_request(
    sandbox_env, live_ml_engine
):
    before = live_health(sandbox_env)["version"]

    with prediction_traffic(sandbox_env) as traffic, prediction_traffic(sandbox_env) as more:
        result = run_job("ml_engine_release", canary_config("ml-2"))

    assert result.success, failure_message(result)
    deployment = materialization(result, deployment_key("ml_engine"))
    image = materialization(result, image_key("ml_engine"))
    assert (deployment["verdict"], deployment["weights"]) == ("promoted", "stable=100,canary=0")
    assert deployment["steps"] == "10 %: Successful, 100 %: Successful"
    assert (deployment["version"], deployment["previous"]) == ("ml-2", before)
    health = live_health(sandbox_env)
    assert (health["status"], health["version"], health["track"]) == ("ok", "ml-2", "stable")
    assert ml_engine_containers(sandbox_env) == {"stable": "ml-2"}
    assert stable_image(sandbox_env) == image["reference"] == deployment["image"]
    assert traffic.failed + more.failed == 0, (traffic.errors + more.errors)[:5]
    announced = [m["text"] for m in slack_messages(sandbox_env) if ":rocket:" in m["text"]]
    assert any("ml_engine" in text and "ml-2" in text for text in announced)


def test_a_canary_failing_a_fifth_of_predictions_is_aborted_and_stable_keeps_serving(
    sandbox_env, live_ml_engine
):
    before = live_health(sandbox_env)
    branch = commit_to_branch(
        sandbox_env, "ml-errors", {"apps/ml-engine/config/runtime.env": "ML_ERROR_RATE=20\n"}
    )

    with prediction_traffic(sandbox_env) as traffic, prediction_traffic(sandbox_env) as more:
        result = run_job("ml_engine_release", canary_config("ml-3", git_ref=branch))

    message = failure_message(result)
    assert [event.step_key for event in result.get_step_failure_events()] == ["deploy_canary"]
    assert "ml_engine canary ml-3 aborted at" in message
    assert "error_rate is Failed" in message
    assert re.search(r"error_rate=0\.\d+ Failed \(does not meet result < 0\.05\)", message)
    refused = failure_metadata(result)
    assert (refused["verdict"], refused["weights"]) == ("aborted", "stable=100,canary=0")
    failed = [m for m in refused["measurements"] if m["phase"] == "Failed"]
    assert failed and all(m["value"] >= 0.05 and 'version="ml-3"' in m["query"] for m in failed)
    assert live_health(sandbox_env)["version"] == before["version"]
    assert upstream_state(sandbox_env).get("version") == before["version"]
    assert ml_engine_containers(sandbox_env) == {"stable": before["version"]}
    assert set(traffic.errors + more.errors) <= {"500"}, "only the canary's own answers failed"


def test_rollback_puts_the_previous_stable_image_back_without_a_failed_request(
    sandbox_env, live_ml_engine
):
    previous = upstream_state(sandbox_env).get("previous_version")

    with prediction_traffic(sandbox_env) as traffic:
        result = run_job("ml_engine_rollback", rollback_config())

    assert result.success, failure_message(result)
    assert materialization(result, deployment_key("ml_engine"))["reason"] == "rollback"
    assert live_health(sandbox_env)["version"] == previous
    assert upstream_state(sandbox_env).get("previous_version") == "ml-2"
    assert ml_engine_containers(sandbox_env) == {"stable": previous}
    assert traffic.failed == 0, traffic.errors[:5]


def test_retrain_stores_versioned_models_and_its_sensor_releases_them(sandbox_env):
    with dg.instance_for_test() as instance:
        retrain = run_job(
            "ml_engine_retrain", {"ops": {"checkout": {"config": {"version": "m-1"}}}}, instance
        )
        assert retrain.success, failure_message(retrain)
        models = materialization(retrain, models_key("ml_engine"))
        request = evaluate_release_sensor(instance, retrain)

        config = request.run_config
        # The canary itself is tested above; one step is enough to ship the models.
        config["ops"]["deploy_canary"] = {"config": {**FAST_CANARY, "steps": [100]}}
        config["ops"]["verify_release"] = {"config": FAST_VERIFY}
        with prediction_traffic(sandbox_env) as traffic:
            release = run_job("ml_engine_release", config, instance)

    assert models["uri"] == "s3://trading-models/ml_engine/m-1/"
    stored = stored_models(sandbox_env, "ml_engine/m-1/")
    assert sorted(stored) == sorted([*models["files"], "manifest.json"])
    for relative, digest in models["files"].items():
        assert hashlib.sha256(stored[relative]).hexdigest() == digest
    assert request.tags["release/models_version"] == "m-1"
    assert config["ops"]["checkout"]["config"] == {"git_ref": models["commit"], "version": "m-1"}
    assert release.success, failure_message(release)
    trained = json.loads(stored["phase2/range_predictor/15m/model_high.json"])["version"]
    assert live_health(sandbox_env)["models_version"] == trained != "2.3.0"
    assert live_health(sandbox_env)["version"] == "m-1"
    assert traffic.failed == 0, traffic.errors[:5]


def test_the_weekly_retrain_keeps_the_seed_spec_in_an_explicit_time_zone():
    schedule = defs.resolve_schedule_def("ml_engine_retrain_schedule")

    assert schedule.job_name == "ml_engine_retrain"
    assert schedule.cron_schedule == "54 0 * * 0"  # Jenkins "H 0 * * 0" for ml_engine_retrain
    assert schedule.execution_timezone == "Europe/Madrid"


def evaluate_release_sensor(instance, retrain) -> dg.RunRequest:
    sensor = defs.resolve_sensor_def("ml_engine_release_after_retrain")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=retrain.dagster_run,
        dagster_event=retrain.get_run_success_event(),
    )
    request = sensor(context)
    assert isinstance(request, dg.RunRequest), request
    assert request.job_name in (None, "ml_engine_release")
    return request


def failure_metadata(result) -> dict:
    (event,) = result.get_step_failure_events()
    metadata = event.step_failure_data.user_failure_data.metadata
    return {name: value.value for name, value in metadata.items()}


def stable_image(env) -> str:
    runtime = sandbox_resources(env)["docker_engine"]
    container = runtime.client().containers.get(runtime.container_name("ml_engine", "stable"))
    return container.attrs["Config"]["Image"]


def stored_models(env, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=env["S3_ENDPOINT_URL"])
    listed = s3.list_objects_v2(Bucket="trading-models", Prefix=prefix)["Contents"]
    return {
        item["Key"].removeprefix(prefix): s3.get_object(Bucket="trading-models", Key=item["Key"])[
            "Body"
        ].read()
        for item in listed
    }
