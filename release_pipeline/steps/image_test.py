"""The catalog's in-image test: a command run inside a container of the freshly built image."""

import dagster as dg

from release_pipeline.errors import CommandError
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import Image, release_step, service_of

OUTPUT_TAIL_CHARACTERS = 2000


@dg.op(description="Runs the catalog's image_test command inside the built image.")
@release_step
def test_image(
    context: dg.OpExecutionContext, image: Image, docker_engine: DockerResource
) -> Image:
    service = service_of(context)
    test = service.image_test
    if test is None:
        context.log.info(f"{service.name} declares no in-image test.")
        return image

    env = {**service.env, **read_secrets(service.secrets), "APP_VERSION": image.source.version}
    name = docker_engine.container_name(service.name, f"image-test-{context.run_id[:8]}")
    code, output = docker_engine.run_once(
        image.tags[0], test.command, name=name, env=env, timeout=test.timeout_seconds
    )
    tail = output[-OUTPUT_TAIL_CHARACTERS:].strip()
    if code != 0:
        outcome = f"exited {code}" if code is not None else f"ran past {test.timeout_seconds} s"
        raise CommandError(
            f"In-image test {' '.join(test.command)} of {image.tags[0]} {outcome}: {tail}"
        )
    context.add_output_metadata({"image_test": " ".join(test.command), "output": tail})
    context.log.info(f"In-image test of {image.tags[0]} passed: {tail.splitlines()[-1:]}")
    return image
