"""The catalog's integration test, run against a container of the new image."""

import time

import dagster as dg

from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.shell import ShellResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import Image, release_step, service_of

READY_TIMEOUT_SECONDS = 60.0
READY_POLL_SECONDS = 0.5


@dg.op(description="Starts the new image in a throwaway container and runs the integration test.")
@release_step
def integration_test(
    context: dg.OpExecutionContext,
    image: Image,
    docker_engine: DockerResource,
    shell: ShellResource,
    probe: HttpProbeResource,
) -> Image:
    service = service_of(context)
    test = service.integration_test
    if test is None:
        context.log.info(f"{service.name} declares no integration test.")
        return image

    env = {**service.env, **read_secrets(service.secrets), "APP_VERSION": image.source.version}
    env.update(APP_COLOR="test", APP_COMMIT=image.source.commit)
    name = docker_engine.container_name(service.name, f"test-{context.run_id[:8]}")
    labels = {"release_pipeline.service": service.name, "release_pipeline.color": "test"}
    container = docker_engine.run(
        image.tags[0], name=name, port=service.port, labels=labels, env=env
    )
    try:
        _wait_ready(probe, container.url + (service.health.path if service.health else "/"))
        shell.run(
            test.command,
            cwd=image.source.source_dir,
            timeout_seconds=test.timeout_seconds,
            env={test.url_env: container.url},
            label=f"{service.name} integration test",
        )
    finally:
        docker_engine.remove(name)
    context.log.info(f"Integration test of {image.tags[0]} passed against {container.name}.")
    return image


def _wait_ready(probe: HttpProbeResource, url: str) -> None:
    """Gives the container time to listen; the test itself judges the answers."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if probe.check(url).status is not None:
            return
        time.sleep(READY_POLL_SECONDS)
