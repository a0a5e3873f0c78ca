"""Model files: retrain, validate, store versioned in S3, and fetch them into a release.

A stored version is a folder ``s3://<bucket>/<prefix><version>/`` holding the
catalog's model files and a ``manifest.json`` with their SHA-256, the commit
they were trained at and when. A release given ``models_version`` replaces the
committed model files with that version before its stages run, so the stages
validate and test exactly the files the image will ship.
"""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster_aws.s3 import S3Resource
from pydantic import Field

from release_pipeline.assets import models_key
from release_pipeline.catalog import Service, Training
from release_pipeline.errors import CommandError, ReleaseInputError
from release_pipeline.resources.shell import ShellResource
from release_pipeline.secrets import read_secrets
from release_pipeline.steps.context import VERSION, Source, release_step, service_of

MANIFEST = "manifest.json"


class ModelsConfig(dg.Config):
    models_version: str = Field(
        default="",
        description="Models stored by the retrain job in S3; empty keeps the committed ones.",
    )


def _training(service: Service) -> Training:
    if service.training is None:
        raise ReleaseInputError(f"{service.name} declares no training in the catalog.")
    return service.training


def model_problems(model_dir: Path, files: list[str]) -> list[str]:
    """What is wrong with the model files: missing, not JSON, or not a non-empty object."""
    problems = []
    for relative in files:
        path = model_dir / relative
        try:
            model = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            problems.append(f"{relative}: {type(exc).__name__}: {exc}")
            continue
        if not isinstance(model, dict) or not model:
            problems.append(f"{relative}: expected a non-empty JSON object")
    return problems


@dg.op(description="Runs the catalog's training command and checks the model files it wrote.")
@release_step
def train_models(context: dg.OpExecutionContext, source: Source, shell: ShellResource) -> Source:
    service = service_of(context)
    training = _training(service)
    context.log.info(f"Training {service.name} models: {training.command}")
    shell.run(
        training.command,
        cwd=source.source_dir,
        timeout_seconds=training.timeout_seconds,
        env={**service.env, **read_secrets(service.build_secrets)},
        label=f"{service.name} training",
    )
    problems = model_problems(source.source_dir / training.model_dir, training.model_files)
    if problems:
        raise CommandError(f"{service.name} training wrote invalid models: {'; '.join(problems)}")
    context.add_output_metadata({"model_files": len(training.model_files)})
    return source


@dg.op(description="Stores the validated model files in S3 under the run's version.")
@release_step
def store_models(context: dg.OpExecutionContext, source: Source, s3: S3Resource) -> str:
    service = service_of(context)
    training = _training(service)
    client, folder = s3.get_client(), f"{training.prefix}{source.version}/"
    files = {}
    for relative in training.model_files:
        body = (source.source_dir / training.model_dir / relative).read_bytes()
        client.put_object(Bucket=training.bucket, Key=folder + relative, Body=body)
        files[relative] = hashlib.sha256(body).hexdigest()
    manifest = {
        "version": source.version,
        "commit": source.commit,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    client.put_object(Bucket=training.bucket, Key=folder + MANIFEST, Body=json.dumps(manifest))
    uri = f"s3://{training.bucket}/{folder}"
    context.log_event(
        dg.AssetMaterialization(
            asset_key=models_key(service.name),
            description=f"{service.name} models {source.version} in {uri}",
            metadata={
                "models_version": source.version,
                "uri": uri,
                "commit": source.commit,
                "git_ref": source.git_ref,
                "files": files,
            },
        )
    )
    context.log.info(f"Stored {len(files)} {service.name} model files in {uri}.")
    return uri


@dg.op(description="Puts the models of models_version from S3 in place of the committed ones.")
@release_step
def fetch_models(
    context: dg.OpExecutionContext, config: ModelsConfig, source: Source, s3: S3Resource
) -> Source:
    service = service_of(context)
    if not config.models_version:
        context.log.info(f"{service.name} ships the models committed at {source.commit[:12]}.")
        return source
    if not VERSION.match(config.models_version):
        raise ReleaseInputError(f"models_version {config.models_version!r} is not a version.")

    training = _training(service)
    client, folder = s3.get_client(), f"{training.prefix}{config.models_version}/"
    manifest = _read_manifest(client, training.bucket, folder)
    for relative, digest in manifest["files"].items():
        body = client.get_object(Bucket=training.bucket, Key=folder + relative)["Body"].read()
        if hashlib.sha256(body).hexdigest() != digest:
            raise ReleaseInputError(f"s3://{training.bucket}/{folder}{relative} is corrupt.")
        target = source.source_dir / training.model_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    uri = f"s3://{training.bucket}/{folder}"
    context.add_output_metadata({"models_version": config.models_version, "uri": uri})
    context.log.info(f"Fetched {service.name} models {config.models_version} from {uri}.")
    return source


def _read_manifest(client, bucket: str, folder: str) -> dict:
    try:
        body = client.get_object(Bucket=bucket, Key=folder + MANIFEST)["Body"].read()
    except client.exceptions.NoSuchKey:
        raise ReleaseInputError(
            f"No models in s3://{bucket}/{folder}: run the retrain job, or pass a stored version."
        ) from None
    return json.loads(body)
