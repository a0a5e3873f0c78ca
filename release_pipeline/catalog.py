"""The platform's services as typed data, loaded from ``catalog.yaml``.

A broken catalog fails to load with a message that names the service and the
field, so a typo never turns into a half-configured job.
"""

from __future__ import annotations

import math
import os
import re
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from release_pipeline.errors import CatalogError, ReleaseInputError
from release_pipeline.freeze import FreezeWindow
from release_pipeline.promql import (
    Condition,
    check_query_template,
    check_verification_query,
)
from release_pipeline.schedules import check_timezone, jenkins_to_cron

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")
# Points the code location at another catalog file (an absolute path); unset or empty means
# the packaged one.
CATALOG_ENV = "RELEASE_CATALOG"
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
QUALIFIED_NAME = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"


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


class ImageTest(_Model):
    """A command run inside a container of the freshly built image; exit 0 passes."""

    command: list[str] = Field(min_length=1)
    timeout_seconds: int = Field(default=120, gt=0)


class MinRequests(_Model):
    """Below ``threshold`` requests (``query``'s result) a measurement is not evidence."""

    query: str
    threshold: float = Field(gt=0)

    _query_is_scoped = field_validator("query")(check_query_template)


class AnalysisMetric(_Model):
    """One Prometheus metric that judges a canary (see release_pipeline.analysis)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    query: str
    success_condition: str
    interval_seconds: float = Field(default=60, gt=0)
    count: int | None = Field(default=None, gt=0)
    duration_seconds: float | None = Field(default=None, gt=0)
    failure_limit: int = Field(default=0, ge=0)
    consecutive_error_limit: int = Field(default=4, ge=0)
    inconclusive_limit: int = Field(default=0, ge=0)
    no_data: Literal["inconclusive", "failed"] = "inconclusive"
    min_requests: MinRequests | None = None

    _query_is_scoped = field_validator("query")(check_query_template)

    @field_validator("success_condition")
    @classmethod
    def _condition_parses(cls, text: str) -> str:
        Condition.parse(text)
        return text

    @model_validator(mode="after")
    def _count_or_duration(self) -> AnalysisMetric:
        if (self.count is None) == (self.duration_seconds is None):
            raise ValueError("set exactly one of count and duration_seconds")
        return self

    @property
    def measurement_count(self) -> int:
        if self.count is not None:
            return self.count
        return max(1, math.ceil(self.duration_seconds / self.interval_seconds))


class Canary(_Model):
    kind: Literal["canary"]
    steps: list[Annotated[int, Field(gt=0, le=100)]] = [10, 100]
    analysis: list[AnalysisMetric] = Field(min_length=1)
    health_retries: int = Field(default=30, gt=0)
    health_interval_seconds: float = Field(default=2, ge=0)
    scale_down_delay_seconds: float = Field(default=30, ge=0)

    @field_validator("steps")
    @classmethod
    def _steps_increase(cls, steps: list[int]) -> list[int]:
        if steps != sorted(set(steps)):
            raise ValueError(f"canary weights must strictly increase, got {steps}")
        return steps


class Rolling(_Model):
    kind: Literal["rolling"]
    instances: int = Field(default=3, gt=0)
    max_unavailable: int = Field(default=1, gt=0)
    drain_seconds: float = Field(default=5, ge=0)
    health_retries: int = Field(default=30, gt=0)
    health_interval_seconds: float = Field(default=2, ge=0)
    verify_timeout_seconds: float = Field(default=60, gt=0)
    verify_interval_seconds: float = Field(default=2, gt=0)


class StaticSite(_Model):
    kind: Literal["static_site"]
    project: str
    branch: str = "production"
    output_dir: str = "dist"
    keep_deployments: int = Field(default=10, ge=2)


class Migrations(_Model):
    """Numbered SQL files applied behind a backup and an approval; names are schema.name."""

    kind: Literal["migrations"]
    migrations_dir: str = "migrations"
    backup_bucket: str
    backup_prefix: str = "db/"
    approval_ttl_hours: float = Field(default=4, gt=0)
    expected_tables: list[Annotated[str, Field(pattern=QUALIFIED_NAME)]] = []
    expected_functions: list[Annotated[str, Field(pattern=QUALIFIED_NAME)]] = []
    smoke_queries: list[str] = []


Strategy = Annotated[
    BlueGreen | Canary | Rolling | StaticSite | Migrations, Field(discriminator="kind")
]
AlertRoute = Literal["slack", "pagerduty", "email"]


def _some_route(value: object) -> object:
    if isinstance(value, list) and not value:
        raise ValueError("an empty list alerts nobody; name slack, pagerduty or email")
    return value


# One route, or a non-empty list of them.
AlertRoutes = Annotated[AlertRoute | list[AlertRoute], BeforeValidator(_some_route)]


class Limits(_Model):
    """What one container of the service may use; memory and CPU checks are shares of it."""

    memory_mb: int = Field(gt=0)
    cpus: float = Field(gt=0)


class VerificationCheck(_Model):
    """One post-deploy threshold: a PromQL number, the condition it must meet, who hears.

    Measured like a canary metric (release_pipeline.analysis), with no data
    always Inconclusive: it is reported as not measured, never as a pass.
    """

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    query: str
    success_condition: str
    alert: AlertRoutes
    # "shared": the query measures a system the release uses, not the release itself.
    scope: Literal["release", "shared"] = "release"
    failure_limit: int = Field(default=0, ge=0)
    min_requests: MinRequests | None = None

    @field_validator("success_condition")
    @classmethod
    def _condition_parses(cls, text: str) -> str:
        Condition.parse(text)
        return text

    @model_validator(mode="after")
    def _queries_select_the_release(self) -> VerificationCheck:
        check_verification_query(self.query, shared=self.scope == "shared")
        if self.min_requests is not None:
            check_verification_query(self.min_requests.query)
        return self

    @property
    def routes(self) -> list[str]:
        return [self.alert] if isinstance(self.alert, str) else list(self.alert)

    @property
    def no_data(self) -> str:
        return "inconclusive"


class Verification(_Model):
    """The bake after a deploy: every check measured each interval for the whole window."""

    bake_seconds: float = Field(default=300, gt=0)
    interval_seconds: float = Field(default=30, gt=0)
    # How long to wait for Prometheus to scrape the new containers before the bake starts.
    scrape_wait_seconds: float = Field(default=60, ge=0)
    checks: list[VerificationCheck] = Field(min_length=1)

    @model_validator(mode="after")
    def _interval_fits_the_bake(self) -> Verification:
        if self.interval_seconds > self.bake_seconds:
            raise ValueError(
                f"interval_seconds ({self.interval_seconds:g}) is longer than bake_seconds"
                f" ({self.bake_seconds:g}): the bake would end before its first measurement"
            )
        return self

    @property
    def rounds(self) -> int:
        """Measurements of each check in the bake: one every interval until it ends."""
        return max(1, math.floor(self.bake_seconds / self.interval_seconds + 1e-9))

    @model_validator(mode="after")
    def _checks_can_breach(self) -> Verification:
        # A check breaches on more Failed measurements than its limit: a limit of at
        # least the bake's measurements would let it fail every one and never breach.
        rounds = self.rounds
        for check in self.checks:
            if check.failure_limit >= rounds:
                raise ValueError(
                    f"check {check.name}: failure_limit ({check.failure_limit}) must be less"
                    f" than the {rounds} measurement(s) of the bake (bake_seconds"
                    f" {self.bake_seconds:g} / interval_seconds {self.interval_seconds:g}),"
                    " or the check could never breach. Lower failure_limit or lengthen the bake."
                )
        return self

    @field_validator("checks")
    @classmethod
    def _names_are_unique(cls, checks: list[VerificationCheck]) -> list[VerificationCheck]:
        names = [check.name for check in checks]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"check names must be unique, repeated: {repeated}")
        return checks


class Training(_Model):
    """How a service's models are retrained, and where the model files are kept."""

    command: str = Field(min_length=1)
    timeout_seconds: int = Field(default=3600, gt=0)
    model_dir: str = "models"
    model_files: list[str] = Field(min_length=1)
    bucket: str
    prefix: str = ""


class Schedule(_Model):
    name: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]*$")
    jenkins_spec: str
    timezone: str
    job: Literal["release", "retrain"] = "release"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            return check_timezone(value)
        except CatalogError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _spec_translates(self) -> Schedule:
        # The same translation the code location does, so a bad spec fails at load time
        # naming the service, not later when the schedules are built. H's hashed values
        # depend on the job name but always stay inside their field's range.
        try:
            jenkins_to_cron(self.jenkins_spec, self.name or self.job)
        except CatalogError as exc:
            raise ValueError(f"jenkins_spec: {exc}") from None
        return self


class Service(_Model):
    """Everything the pipeline needs to release one service."""

    name: str
    description: str = ""
    source_dir: str
    port: int = Field(gt=0, lt=65536)
    stages: list[Stage] = []
    integration_test: IntegrationTest | None = None
    image: Image | None = None
    image_test: ImageTest | None = None
    strategy: Strategy
    health: HttpCheck | None = None
    smoke: list[HttpCheck] = []
    env: dict[str, str] = {}
    secrets: list[str] = []
    build_secrets: list[str] = []
    alerts: dict[str, AlertRoutes] = {}
    schedule: Schedule | None = None
    training: Training | None = None
    limits: Limits | None = None
    verification: Verification | None = None
    # Added to the platform's windows: this service's production changes also wait in these.
    freeze_windows: list[FreezeWindow] = []

    @field_validator("secrets")
    @classmethod
    def _secret_names_are_env_names(cls, names: list[str]) -> list[str]:
        bad = [name for name in names if not ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"secret names must look like ENV_NAMES, got {bad}")
        return names

    def container_limits(self) -> dict[str, float]:
        """``memory_mb`` and ``cpus`` for the container runtime; empty when unlimited."""
        return self.limits.model_dump() if self.limits else {}

    def strategy_with(self, overrides: dict[str, Any]) -> Any:
        """The strategy with a run's overrides, validated like the catalog itself."""
        values = {**self.strategy.model_dump(), **overrides}
        try:
            return type(self.strategy).model_validate(values)
        except ValidationError as exc:
            raise ReleaseInputError(
                f"{self.name}: run config overrides are invalid: {_describe(exc)}"
            ) from None

    @model_validator(mode="after")
    def _api_keys_are_declared_secrets(self) -> Service:
        checks = [("health", self.health)] + [
            (f"smoke.{index}", check) for index, check in enumerate(self.smoke)
        ]
        for where, check in checks:
            if check is not None and check.api_key_secret not in (None, *self.secrets):
                raise ValueError(
                    f"{where}.api_key_secret {check.api_key_secret!r} is not among the"
                    f" service's secrets {self.secrets}: add it to secrets (so it is read"
                    " from the environment) or fix the name"
                )
        return self

    @field_validator("build_secrets")
    @classmethod
    def _build_secrets_are_declared(cls, names: list[str], info) -> list[str]:
        undeclared = [name for name in names if name not in info.data.get("secrets", [])]
        if undeclared:
            raise ValueError(f"build secrets must also be listed in secrets: {undeclared}")
        return names


class Platform(_Model):
    repository: str
    slack_channel: str = "#deployments"
    # Production changes of every service wait outside these (see release_pipeline.guards).
    freeze_windows: list[FreezeWindow] = []


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


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key written twice in one mapping.

    Plain YAML keeps the last value, so a second ``backend:`` or ``strategy:`` would
    silently replace the first.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[object, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # keys merged in with << may be overridden on purpose
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                    seen.setdefault(key, line)
                except TypeError:
                    continue  # an unhashable key: construct_mapping itself refuses it
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key!r} appears twice in the same mapping (lines {first} and"
                        f" {line}); keep one of them",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    """Reads and validates a catalog file, naming the service and field of any error."""
    try:
        raw = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # noqa: S506 (safe loader)
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
    """The catalog the code location serves: ``$RELEASE_CATALOG`` if set, else the packaged one."""
    return load_catalog(catalog_path())


def catalog_path() -> Path:
    """The file ``default_catalog`` reads, checked so a wrong setting names itself."""
    value = os.environ.get(CATALOG_ENV, "")
    if not value:
        return CATALOG_PATH
    path = Path(value)
    # The webserver, the daemon and each run start in different directories.
    if not path.is_absolute():
        raise CatalogError(
            f"{CATALOG_ENV}={value!r} is a relative path. Give the catalog file's absolute path,"
            f" or unset {CATALOG_ENV} to use {CATALOG_PATH}."
        )
    if not path.is_file():
        raise CatalogError(
            f"{CATALOG_ENV}={value!r} is not a file. Point it at a catalog YAML file,"
            f" or unset {CATALOG_ENV} to use {CATALOG_PATH}."
        )
    return path


def _parse_service(path: Path, name: object, body: object) -> Service:
    if not isinstance(name, str) or not SERVICE_NAME.match(name):
        raise CatalogError(
            f"{path}: service name {name!r} must be lower case letters, digits and underscores."
        )
    if not isinstance(body, dict):
        raise CatalogError(f"{path}: service {name!r} must be a mapping of fields.")
    for key in body:
        if not isinstance(key, str):
            raise CatalogError(
                f"{path}: service {name!r}: field {key!r} is not a field name; keys are words"
                " such as port or strategy."
            )
    if "name" in body:
        raise CatalogError(
            f"{path}: service {name!r}: remove field 'name'; a service is named by its key"
            " under services."
        )
    try:
        return Service(name=name, **body)
    except ValidationError as exc:
        raise CatalogError(f"{path}: service {name!r}: {_describe(exc)}") from None


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        # a check across fields (a model validator) names its fields in its message
        parts.append(f"field {field!r}: {error['msg']}" if field else error["msg"])
    return "; ".join(parts)
