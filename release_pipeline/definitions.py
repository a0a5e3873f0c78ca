"""The release_pipeline code location: jobs, assets and resources, built from the catalog."""

from __future__ import annotations

import os

import dagster as dg

from release_pipeline.assets import asset_specs
from release_pipeline.catalog import default_catalog
from release_pipeline.jobs import release_jobs, released_services
from release_pipeline.resources.deploy_lock import DeployLockResource
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.registry import RegistryResource
from release_pipeline.resources.shell import ShellResource
from release_pipeline.resources.slack import SlackResource
from release_pipeline.resources.trivy import TrivyResource


def build_resources() -> dict[str, dg.ConfigurableResource]:
    """Every external system, configured from the environment (secrets only via EnvVar)."""
    docker_engine = DockerResource(
        base_url=dg.EnvVar("DOCKER_HOST"),
        environment=dg.EnvVar("RELEASE_ENVIRONMENT"),
        base_image=dg.EnvVar("RELEASE_BASE_IMAGE"),
    )
    return {
        "shell": ShellResource(),
        "git": GitResource(
            repo_url=dg.EnvVar("RELEASE_GIT_URL"), work_dir=dg.EnvVar("RELEASE_WORK_DIR")
        ),
        "docker_engine": docker_engine,
        "registry": RegistryResource(
            url=dg.EnvVar("REGISTRY_URL"),
            username=dg.EnvVar("REGISTRY_USERNAME"),
            password=dg.EnvVar("REGISTRY_PASSWORD"),
            docker_engine=docker_engine,
        ),
        # Whether an unscanned image may ship is policy, not a secret: production sets it.
        "trivy": TrivyResource(require_scan=os.environ.get("RELEASE_REQUIRE_SCAN") == "true"),
        "nginx": NginxResource(
            nginx_bin=dg.EnvVar("NGINX_BIN"),
            prefix=dg.EnvVar("NGINX_PREFIX"),
            conf=dg.EnvVar("NGINX_CONF"),
            upstream_dir=dg.EnvVar("NGINX_UPSTREAM_DIR"),
            lb_urls=dg.EnvVar("LB_URLS"),
        ),
        "probe": HttpProbeResource(),
        "slack": SlackResource(
            token=dg.EnvVar("SLACK_BOT_TOKEN"), base_url=dg.EnvVar("SLACK_API_URL")
        ),
        "deploy_lock": DeployLockResource(
            host=dg.EnvVar("DAGSTER_PG_HOST"),
            port=dg.EnvVar.int("DAGSTER_PG_PORT"),
            user=dg.EnvVar("DAGSTER_PG_USER"),
            password=dg.EnvVar("DAGSTER_PG_PASSWORD"),
            dbname=dg.EnvVar("DAGSTER_PG_DB"),
        ),
    }


def build_definitions() -> dg.Definitions:
    catalog = default_catalog()
    services = [service.name for service in released_services(catalog)]
    return dg.Definitions(
        jobs=release_jobs(catalog),
        assets=asset_specs(catalog, services),
        resources=build_resources(),
    )


defs = build_definitions()
