"""The platform's services as typed data, loaded from ``catalog.yaml``.

A broken catalog fails to load with a message that names the service and the
field, so a typo never turns into a half-configured job.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from release_pipeline.errors import CatalogError

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Model):
    """One command of a service's build, run in its source directory."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    command: str = Field(min_length=1)
    branches: list[str] | None = None
    timeout_seconds: int = Field(default=900, gt=0)

    def runs_on(self, git_ref: str) -> bool:
        return self.branches is None or git_ref in self.branches


class IntegrationTest(_Model):
    """A command run against a container of the freshly built image."""

    command: str = Field(min_length=1)
    url_env: str = Field(default="API_URL", pattern=ENV_NAME.pattern)
    timeout_seconds: int = Field(default=300, gt=0)


class Image(_Model):
    name: str = Field(pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
    dockerfile: str = "Dockerfile"
    build_args: dict[str, str] = {}


class HttpCheck(_Model):
    """An HTTP request and what a passing answer looks like."""

    path: str = Field(pattern=r"^/")
    method: Literal["GET", "POST"] = "GET"
    json_body: dict[str, Any] | None = Field(default=None, alias="json")
    api_key_secret: str | None = None
    expect_status: int = 200
    expect_json: dict[str, Any] = {}


class BlueGreen(_Model):
    kind: Literal["blue_green"]
    health_retries: int = Field(default=30, gt=0)
    health_interval_seconds: float = Field(default=2, ge=0)
    scale_down_delay_seconds: float = Field(default=30, ge=0)


class Canary(_Model):
    kind: Literal["canary"]
    steps: list[Annotated[int, Field(gt=0, le=100)]] = [10, 100]


class Rolling(_Model):
    kind: Literal["rolling"]
    instances: int = Field(default=3, gt=0)
    max_unavailable: int = Field(default=1, gt=0)


class StaticSite(_Model):
    kind: Literal["static_site"]
    project: str
    branch: str = "production"
    output_dir: str = "dist"


class Migrations(_Model):
    kind: Literal["migrations"]
    migrations_dir: str = "migrations"
    backup_bucket: str
    backup_prefix: str = "db/"
    approval_ttl_hours: float = Field(default=4, gt=0)
    expected_tables: list[str] = []
    smoke_queries: list[str] = []


Strategy = Annotated[
    BlueGreen | Canary | Rolling | StaticSite | Migrations, Field(discriminator="kind")
]
AlertRoute = Literal["slack", "pagerduty", "email"]


class Schedule(_Model):
    jenkins_spec: str
    timezone: str
    job: Literal["release", "retrain"] = "release"


class Service(_Model):
    """Everything the pipeline needs to release one service."""

    name: str
    description: str = ""
    source_dir: str
    port: int = Field(gt=0, lt=65536)
    stages: list[Stage] = []
    integration_test: IntegrationTest | None = None
    image: Image | None = None
    strategy: Strategy
    health: HttpCheck | None = None
    smoke: list[HttpCheck] = []
    env: dict[str, str] = {}
    secrets: list[str] = []
    alerts: dict[str, AlertRoute | list[AlertRoute]] = {}
    schedule: Schedule | None = None

    @field_validator("secrets")
    @classmethod
    def _secret_names_are_env_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"secret names must look like ENV_NAMES, got {bad}")
        return names


class Platform(_Model):
    repository: str
    slack_channel: str = "#deployments"


class Catalog(_Model):
    platform: Platform
    services: dict[str, Service]

    def service(self, name: str) -> Service:
        """Returns the named service, or raises naming the services that exist."""
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services))
            raise CatalogError(
                f"Unknown service {name!r}. The catalog declares: {known}."
            ) from None

    def secret_names(self) -> list[str]:
        return sorted({name for svc in self.services.values() for name in svc.secrets})


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Reads and validates a catalog file, naming the service and field of any error."""
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise CatalogError(f"Cannot read catalog {path}: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("services"), dict):
        raise CatalogError(f"{path}: expected a mapping with a 'services' mapping at the top.")

    services = {name: _parse_service(path, name, body) for name, body in raw["services"].items()}
    try:
        return Catalog(platform=raw.get("platform") or {}, services=services)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_describe(exc)}") from None


@cache
def default_catalog() -> Catalog:
    return load_catalog()


def _parse_service(path: Path, name: object, body: object) -> Service:
    if not isinstance(name, str) or not SERVICE_NAME.match(name):
        raise CatalogError(
            f"{path}: service name {name!r} must be lower case letters, digits and underscores."
        )
    if not isinstance(body, dict):
        raise CatalogError(f"{path}: service {name!r} must be a mapping of fields.")
    try:
        return Service(name=name, **body)
    except ValidationError as exc:
        raise CatalogError(f"{path}: service {name!r}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or "(top level)"
        parts.append(f"field {field!r}: {error['msg']}")
    return "; ".join(parts)
