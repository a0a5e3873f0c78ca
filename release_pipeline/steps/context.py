"""What ops pass to each other, and how an op finds its service."""

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import dagster as dg

from release_pipeline.catalog import Service, default_catalog
from release_pipeline.errors import ReleaseError
from release_pipeline.secrets import redact_known

SERVICE_TAG = "release/service"
F = TypeVar("F", bound=Callable)
# Docker tag rules: 1-128 characters, no leading dot or dash.
# "none" is what the load balancer's header writes for "no version".
VERSION = re.compile(r"^(?!none$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


@dataclass(frozen=True)
class Source:
    """A checked-out commit of one service, ready to build."""

    service: str
    version: str
    git_ref: str
    commit: str
    path: Path

    @property
    def source_dir(self) -> Path:
        return self.path / service_named(self.service).source_dir


@dataclass(frozen=True)
class Image:
    """A built image, then a pushed one once ``digest`` is set."""

    source: Source
    tags: tuple[str, ...]
    image_id: str
    scan: dict[str, object]
    digest: str = ""

    @property
    def reference(self) -> str:
        repository = self.tags[0].rsplit(":", 1)[0]
        return f"{repository}@{self.digest}" if self.digest else self.tags[0]

    def pushed(self, digest: str) -> "Image":
        return replace(self, digest=digest)


def service_named(name: str) -> Service:
    return default_catalog().service(name)


def service_of(context: dg.OpExecutionContext) -> Service:
    """The service this run releases, from its ``release/service`` tag."""
    name = context.run.tags.get(SERVICE_TAG) or context.run.tags.get("release/rollback", "")
    return service_named(name)


def default_version(run_id: str) -> str:
    """A sortable version for runs that were given none: UTC time plus the run id."""
    return f"{datetime.now(UTC):%Y%m%d%H%M%S}-{run_id[:8]}"


def release_step(fn: F) -> F:
    """Turns the pipeline's own errors into a Dagster Failure that shows their message.

    A refused release is an answer, not a crash: the UI and the CLI show the
    sentence that says what went wrong instead of a stack trace.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ReleaseError as exc:
            # Errors that carry facts (an analysis' measurements) show them on the failure.
            metadata = {"error": type(exc).__name__, **getattr(exc, "metadata", {})}
            # A service may echo a secret into an answer that ends up in the message.
            raise dg.Failure(description=redact_known(str(exc)), metadata=metadata) from None

    return wrapper


class StrategyOverrides(dg.Config):
    """Run config that overrides some of the catalog's strategy parameters (None keeps them)."""

    def resolve(self, service: Service):
        overrides = {key: value for key, value in self.model_dump().items() if value is not None}
        return service.strategy_with(overrides)
