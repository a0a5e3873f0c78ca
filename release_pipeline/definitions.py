"""The release_pipeline code location: jobs, assets and resources, built from the catalog."""

from __future__ import annotations

import os

import dagster as dg
from dagster_aws.s3 import S3Resource

from release_pipeline.assets import asset_specs
from release_pipeline.catalog import default_catalog
from release_pipeline.dora import dora_definitions
from release_pipeline.jobs import release_jobs, released_services, retrain_jobs
from release_pipeline.migrations.definitions import migration_definitions
from release_pipeline.paging import paging_definitions
from release_pipeline.resources.deploy_lock import DeployLockResource
from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.email import EmailResource
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.prometheus import PrometheusResource
from release_pipeline.resources.registry import RegistryResource
from release_pipeline.resources.shell import ShellResource
from release_pipeline.resources.slack import SlackResource
from release_pipeline.resources.static_hosting import StaticHostingResource
from release_pipeline.resources.trivy import TrivyResource
from release_pipeline.schedules import catalog_schedules
from release_pipeline.sensors import catalog_sensors


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
        "prometheus": PrometheusResource(url=dg.EnvVar("PROMETHEUS_URL")),
        # Credentials and region come from boto3's usual environment variables.
        "s3": S3Resource(endpoint_url=dg.EnvVar("S3_ENDPOINT_URL")),
        "static_hosting": StaticHostingResource(
            cloudflare_api_token=dg.EnvVar("CLOUDFLARE_API_TOKEN")
        ),
        "slack": SlackResource(
            token=dg.EnvVar("SLACK_BOT_TOKEN"), base_url=dg.EnvVar("SLACK_API_URL")
        ),
        # Post-deploy breaches the catalog routes to email.
        "email": EmailResource(
            host=dg.EnvVar("SMTP_HOST"),
            port=dg.EnvVar.int("SMTP_PORT"),
            sender=dg.EnvVar("SMTP_FROM"),
            recipients=dg.EnvVar("SMTP_TO"),
            username=dg.EnvVar("SMTP_USERNAME"),
            password=dg.EnvVar("SMTP_PASSWORD"),
            tls=dg.EnvVar("SMTP_TLS"),
            ca_file=dg.EnvVar("SMTP_CA_FILE"),
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
    jobs = release_jobs(catalog) + retrain_jobs(catalog)
    services = [service.name for service in released_services(catalog)]
    release_definitions = dg.Definitions(
        jobs=jobs,
        schedules=catalog_schedules(catalog, jobs),
        sensors=catalog_sensors(catalog, jobs),
        assets=asset_specs(catalog, services),
        resources=build_resources(),
    )
    migrations = migration_definitions(catalog)
    paging = paging_definitions([*jobs, *(migrations.jobs or [])])
    return dg.Definitions.merge(release_definitions, migrations, paging, dora_definitions())


defs = build_definitions()
