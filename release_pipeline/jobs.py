"""Release and rollback jobs, generated from the catalog in one loop."""

from __future__ import annotations

import dagster as dg

from release_pipeline.catalog import Catalog, Service
from release_pipeline.guards import guard_release
from release_pipeline.steps.build import (
    build_image,
    checkout,
    push_image,
    run_stages,
    scan_image,
)
from release_pipeline.steps.canary import deploy_canary, rollback_canary
from release_pipeline.steps.context import SERVICE_TAG
from release_pipeline.steps.deploy import (
    deploy_blue_green,
    rollback_blue_green,
    scale_down_previous,
)
from release_pipeline.steps.image_test import test_image
from release_pipeline.steps.integration import integration_test
from release_pipeline.steps.models import fetch_models, store_models, train_models
from release_pipeline.steps.notify import ROLLBACK_TAG, announce_release, slack_on_failure
from release_pipeline.steps.rolling import deploy_rolling, rollback_rolling
from release_pipeline.steps.static_site import publish_site, rollback_site
from release_pipeline.steps.verify import verify_release


@dg.graph(description="Checkout, guards, stages, build, integration test, scan, push, blue/green.")
def blue_green_release():
    source = run_stages(guard_release(checkout()))
    image = push_image(scan_image(integration_test(build_image(source))))
    # The old color stays warm through the bake, so a rollback after a breach is a flip.
    deployment = verify_release(deploy_blue_green(image))
    announce_release(deployment)
    scale_down_previous(deployment)


@dg.graph(description="Back to the previous color while warm, else the previous image.")
def blue_green_rollback():
    deployment = rollback_blue_green()
    announce_release(deployment)
    scale_down_previous(deployment)


@dg.graph(description="Checkout, guards, stages, build, integration test, scan, push, roll out.")
def rolling_release():
    source = run_stages(guard_release(checkout()))
    image = push_image(scan_image(integration_test(build_image(source))))
    announce_release(verify_release(deploy_rolling(image)))


@dg.graph(description="Every instance back to the image that served before, one at a time.")
def rolling_rollback():
    announce_release(rollback_rolling())


@dg.graph(description="Checkout, guards, stages (they build the site), publish, switch production.")
def static_site_release():
    announce_release(publish_site(run_stages(guard_release(checkout()))))


@dg.graph(description="Production pointer back to the deployment before the live one.")
def static_site_rollback():
    announce_release(rollback_site())


@dg.graph(description="Checkout, guards, models, stages, build, test in image, scan, push, canary.")
def canary_release():
    source = run_stages(fetch_models(guard_release(checkout())))
    image = push_image(scan_image(test_image(build_image(source))))
    announce_release(verify_release(deploy_canary(image)))


@dg.graph(description="Stable back to the image that served before, without analysis.")
def canary_rollback():
    announce_release(rollback_canary())


@dg.graph(description="Checkout, train, the service's stages on the new models, store in S3.")
def retrain():
    store_models(run_stages(train_models(checkout())))


# The release and rollback graph of each strategy. A catalog service whose
# strategy is not here yet is declared but gets no jobs.
RELEASE_GRAPHS: dict[str, tuple[dg.GraphDefinition, dg.GraphDefinition]] = {
    "blue_green": (blue_green_release, blue_green_rollback),
    "rolling": (rolling_release, rolling_rollback),
    "static_site": (static_site_release, static_site_rollback),
    "canary": (canary_release, canary_rollback),
}


def released_services(catalog: Catalog) -> list[Service]:
    return [svc for svc in catalog.services.values() if svc.strategy.kind in RELEASE_GRAPHS]


def release_jobs(catalog: Catalog) -> list[dg.JobDefinition]:
    jobs = []
    for service in released_services(catalog):
        release_graph, rollback_graph = RELEASE_GRAPHS[service.strategy.kind]
        jobs.append(
            release_graph.to_job(
                name=f"{service.name}_release",
                description=f"Release {service.name}: {service.description}.",
                tags={SERVICE_TAG: service.name},
                hooks={slack_on_failure},
                executor_def=dg.in_process_executor,
            )
        )
        jobs.append(
            rollback_graph.to_job(
                name=f"{service.name}_rollback",
                description=f"Roll {service.name} back to the version that served before.",
                tags={ROLLBACK_TAG: service.name},
                hooks={slack_on_failure},
                executor_def=dg.in_process_executor,
            )
        )
    return jobs


def retrain_jobs(catalog: Catalog) -> list[dg.JobDefinition]:
    """``<service>_retrain`` for every released service that declares its training."""
    return [
        retrain.to_job(
            name=f"{service.name}_retrain",
            description=f"Retrain the {service.name} models and store them in S3.",
            tags={SERVICE_TAG: service.name},
            hooks={slack_on_failure},
            executor_def=dg.in_process_executor,
        )
        for service in released_services(catalog)
        if service.training is not None
    ]
