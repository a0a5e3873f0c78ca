"""Checkout, the catalog's stages, image build, integration test, scan and push."""

import time

import dagster as dg
from pydantic import Field

from release_pipeline.assets import image_key
from release_pipeline.errors import ReleaseInputError, ScanError
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.registry import RegistryResource
from release_pipeline.resources.shell import ShellResource
from release_pipeline.resources.trivy import TrivyResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import (
    VERSION,
    Image,
    Source,
    default_version,
    release_step,
    service_of,
)


class ReleaseConfig(dg.Config):
    git_ref: str = Field(default="main", description="Branch, tag or commit to release.")
    version: str = Field(default="", description="Image tag; Jenkins passes its build number.")


@dg.op(description="Validates the request and checks out the source at git_ref.")
@release_step
def checkout(context: dg.OpExecutionContext, config: ReleaseConfig, git: GitResource) -> Source:
    service = service_of(context)
    version = config.version or default_version(context.run_id)
    if not VERSION.match(version):
        raise ReleaseInputError(
            f"Version {version!r} is not a valid image tag: use 1-128 letters, digits,"
            " '_', '.' or '-', not starting with '.' or '-' (for example 42 or 1.4.0)."
        )
    read_secrets(service.secrets)

    checkout = git.checkout(config.git_ref, name=context.run_id)
    source = Source(service.name, version, config.git_ref, checkout.commit, checkout.path)
    _require_buildable(service, source)
    context.add_output_metadata({"commit": checkout.commit, "version": version})
    context.log.info(f"Checked out {service.name} {config.git_ref} at {checkout.commit[:12]}.")
    return source


def _require_buildable(service, source: Source) -> None:
    if not source.source_dir.is_dir():
        raise ReleaseInputError(
            f"{service.name}: source directory {service.source_dir!r} is missing at commit"
            f" {source.commit[:12]}. Fix source_dir in catalog.yaml or the commit."
        )
    if service.image and not (source.source_dir / service.image.dockerfile).is_file():
        raise ReleaseInputError(
            f"{service.name}: {service.source_dir}/{service.image.dockerfile} does not exist at"
            f" commit {source.commit[:12]}; nothing was built."
        )


@dg.op(description="Runs the service's stages from the catalog, in order, in its source dir.")
@release_step
def run_stages(context: dg.OpExecutionContext, source: Source, shell: ShellResource) -> Source:
    service = service_of(context)
    env = {**service.env, **read_secrets(service.build_secrets)}
    env.update(RELEASE_VERSION=source.version, RELEASE_COMMIT=source.commit)
    durations, skipped = {}, []
    for stage in service.stages:
        if not stage.runs_on(source.git_ref):
            context.log.info(f"Skipped stage {stage.name}: it runs only on {stage.branches}.")
            skipped.append(stage.name)
            continue
        context.log.info(f"Running stage {stage.name}: {stage.command}")
        started = time.monotonic()
        shell.run(
            stage.command,
            cwd=source.source_dir,
            timeout_seconds=stage.timeout_seconds,
            env=env,
            label=f"{service.name} stage {stage.name}",
        )
        durations[f"{stage.name}_seconds"] = round(time.monotonic() - started, 2)
    context.add_output_metadata(
        {"stages_run": len(durations), "stages_skipped": ", ".join(skipped) or "none", **durations}
    )
    return source


@dg.op(description="Builds the image, tagged with the version and latest.")
@release_step
def build_image(
    context: dg.OpExecutionContext,
    source: Source,
    docker_engine: DockerResource,
    registry: RegistryResource,
) -> Image:
    service = service_of(context)
    repository = registry.repository(service.image.name)
    tags = (f"{repository}:{source.version}", f"{repository}:latest")
    labels = {
        "org.opencontainers.image.revision": source.commit,
        "org.opencontainers.image.version": source.version,
        "release_pipeline.service": service.name,
    }
    image_id = docker_engine.build(source.source_dir, service.image.dockerfile, list(tags), labels)
    context.log.info(f"Built {tags[0]} ({image_id[:19]}).")
    return Image(source=source, tags=tags, image_id=image_id, scan={})


@dg.op(description="Scans the image with Trivy and gates on the severity threshold.")
@release_step
def scan_image(context: dg.OpExecutionContext, image: Image, trivy: TrivyResource) -> Image:
    report = trivy.scan(image.tags[0])
    if not report.scanned:
        context.log.warning(f"{image.tags[0]} was NOT scanned: Trivy is not installed here.")
    elif report.blocking:
        raise ScanError(
            f"{image.tags[0]} has {report.blocking} vulnerabilities at or above"
            f" {report.threshold}: {report.counts}. Fix them or raise the threshold."
        )
    context.add_output_metadata(report.metadata())
    return Image(image.source, image.tags, image.image_id, report.metadata())


@dg.op(description="Pushes the version and latest tags; records the registry's digest.")
@release_step
def push_image(context: dg.OpExecutionContext, image: Image, registry: RegistryResource) -> Image:
    service = service_of(context)
    # Only the version tag: `latest` moves once the release is live (see promote_latest).
    pushed = image.pushed(registry.push(service.image.name, image.source.version, context.log))
    context.log_event(
        dg.AssetMaterialization(
            asset_key=image_key(service.name),
            description=f"Pushed {image.tags[0]}",
            metadata={
                "digest": pushed.digest,
                "reference": pushed.reference,
                "tag": image.source.version,
                "version": image.source.version,
                "commit": image.source.commit,
                "git_ref": image.source.git_ref,
                **image.scan,
            },
        )
    )
    context.log.info(f"Pushed {pushed.reference}.")
    return pushed
