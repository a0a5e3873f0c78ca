"""The guards of a production change: never older than what is live, never inside a freeze.

Never older: a release whose commit is a strict ancestor of the live commit is
refused unless the run is tagged ``release/force=true``. Releasing the live commit
again and releasing another line of history both pass. When the live commit is
unknown, or the repository does not hold it or only a shallow history of it, the
release passes with a warning.

Freeze windows (the catalog's ``platform.freeze_windows`` plus the service's own):
inside a window that names this environment (``RELEASE_ENVIRONMENT``, taken as
``production`` when unset) a production change is refused unless the run is tagged
``release/emergency=true``. Rollbacks and restores never pass through here: they
are how an incident is mended.

A release is checked twice: by ``guard_release`` right after checkout, so a refused
release builds nothing, and under the deploy lock right before traffic moves, since a
newer release may have gone live, or a window opened, while this one was building.
"""

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import dagster as dg

from release_pipeline.assets import site_key
from release_pipeline.catalog import Service, default_catalog
from release_pipeline.errors import ReleaseInputError, ReleaseRefused
from release_pipeline.freeze import Freeze, active_freezes
from release_pipeline.resources.git import GitResource
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.steps.context import Source, release_step, service_named
from release_pipeline.steps.verify import check_verify_config

FORCE_TAG = "release/force"
EMERGENCY_TAG = "release/emergency"
ENVIRONMENT_VARIABLE = "RELEASE_ENVIRONMENT"
DEFAULT_ENVIRONMENT = "production"
COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
Moment = Literal["build", "traffic"]
UNCHANGED = {
    "build": "Nothing was built and the live version keeps serving.",
    "traffic": "Traffic did not move: the live version keeps serving.",
}


@dataclass(frozen=True)
class Verdict:
    """What the guards saw, and which of them a tag overrode."""

    live_commit: str | None
    environment: str
    forced_over: str | None = None
    emergency_during: str | None = None

    def metadata(self) -> dict[str, str]:
        return {
            "live_commit": self.live_commit or "unknown",
            "environment": self.environment,
            **self.overrides(),
        }

    def overrides(self) -> dict[str, str]:
        """Only the overrides that mattered, for the deployment's record."""
        facts = {"forced_over_commit": self.forced_over, "emergency_during": self.emergency_during}
        return {key: value for key, value in facts.items() if value}


@dg.op(description="Refuses a commit older than the live one, and any release in a freeze window.")
@release_step
def guard_release(
    context: dg.OpExecutionContext, source: Source, git: GitResource, nginx: NginxResource
) -> Source:
    check_run_config(context, source)
    verdict = check_release(context, source, git, nginx, "build")
    context.add_output_metadata(verdict.metadata())
    return source


def check_run_config(context: dg.OpExecutionContext, source: Source) -> None:
    """Refuses run config that a later step would only reject after traffic moved."""
    try:
        check_verify_config(context.run_config, service_named(source.service))
    except ReleaseInputError as exc:
        raise ReleaseInputError(
            f"{exc} Nothing was built or deployed: fix the run's config and launch it again."
        ) from None


def check_release(
    context: dg.OpExecutionContext,
    source: Source,
    git: GitResource,
    nginx: NginxResource,
    moment: Moment,
) -> Verdict:
    """Both guards for a release; raises ReleaseRefused, or says which override was used."""
    service = service_named(source.service)
    emergency = check_freeze(context, service, f"release of {source.version}", UNCHANGED[moment])
    live = live_commit(context, service, nginx)
    forced_over = check_not_older(context, service, source, git, live, moment)
    return Verdict(live, environment(), forced_over, emergency)


def check_freeze(
    context: dg.OpExecutionContext, service: Service, change: str, unchanged: str
) -> str | None:
    """Refuses ``change`` inside a freeze window unless the run is an emergency.

    Returns the names of the windows an emergency went through, None outside any.
    """
    emergency = is_tagged(context, EMERGENCY_TAG)
    freezes = freezes_now(service)
    if not freezes:
        return None
    described = describe(freezes)
    if not emergency:
        raise ReleaseRefused(
            f"{service.name}: {change} refused: {environment()} is inside {described}."
            f" {unchanged} Rollbacks and restores are not frozen. In an emergency, launch the"
            f" run again with the tag {EMERGENCY_TAG}=true (Jenkins: the RELEASE_EMERGENCY"
            " build parameter)."
        )
    context.log.warning(
        f"EMERGENCY: {service.name} {change} goes ahead inside {described}, because the run"
        f" is tagged {EMERGENCY_TAG}=true."
    )
    return ", ".join(freeze.window.name for freeze in freezes)


def freezes_now(service: Service) -> list[Freeze]:
    """The freeze windows of ``service`` in this environment that cover the present moment."""
    windows = default_catalog().platform.freeze_windows + service.freeze_windows
    return active_freezes(windows, environment(), datetime.now(UTC))


def describe(freezes: list[Freeze]) -> str:
    return "; ".join(freeze.describe() for freeze in freezes)


def check_not_older(
    context: dg.OpExecutionContext,
    service: Service,
    source: Source,
    git: GitResource,
    live: str | None,
    moment: Moment,
) -> str | None:
    """Refuses an ancestor of the live commit unless forced; returns the commit forced over."""
    commit, forced = source.commit, is_tagged(context, FORCE_TAG)
    if live is None:
        context.log.warning(
            f"The live commit of {service.name} is unknown, so nobody can tell whether"
            f" {commit[:12]} is older: releasing it without the never-older check."
        )
        return None
    if live == commit:
        context.log.info(f"{service.name} {commit[:12]} is the live commit: a redeploy.")
        return None

    older = git.is_ancestor(source.path, commit, live)
    if older is None:
        context.log.warning(
            f"The live commit {live[:12]} of {service.name} is not in the repository, or its"
            f" history there is cut short (a shallow clone), so nobody can tell whether"
            f" {commit[:12]} is older: releasing it without the check."
        )
        return None
    if not older:
        context.log.info(f"{service.name} {commit[:12]} is not older than live {live[:12]}.")
        return None

    if not forced:
        raise ReleaseRefused(_older_message(service, source, live, moment))
    context.log.warning(
        f"FORCED: releasing {service.name} {commit[:12]} although it is older than the live"
        f" commit {live[:12]}, because the run is tagged {FORCE_TAG}=true."
    )
    return live


def _older_message(service: Service, source: Source, live: str, moment: Moment) -> str:
    commit = source.commit[:12]
    why = (
        f"it is older than the live commit {live[:12]} (an ancestor of it)"
        if moment == "build"
        else f"commit {live[:12]} went live while this run was building, and {commit} is"
        " older (an ancestor of it)"
    )
    return (
        f"{service.name}: refused to release commit {commit} ({source.git_ref}, version"
        f" {source.version}): {why}. {UNCHANGED[moment]} To go back on purpose, prefer"
        f" {service.name}_rollback; to release this commit anyway, launch the run again with"
        f" the tag {FORCE_TAG}=true (Jenkins: the RELEASE_FORCE build parameter)."
    )


def live_commit(
    context: dg.OpExecutionContext, service: Service, nginx: NginxResource
) -> str | None:
    """The commit that serves ``service`` now, None when nothing says.

    Container strategies write it into the load balancer's header in the same step
    that moves traffic; a static site has no header, so its last recorded
    deployment (the ``<service>/site`` asset) says.
    """
    if service.strategy.kind == "static_site":
        event = context.instance.get_latest_materialization_event(site_key(service.name))
        recorded = event.asset_materialization.metadata.get("commit") if event else None
        commit = str(recorded.value) if recorded else ""
    else:
        commit = nginx.read_state(service.name).get("commit") or ""
    return commit if COMMIT.match(commit) else None


def is_tagged(context: dg.OpExecutionContext, tag: str) -> bool:
    """Whether the run carries ``tag=true``; any value but true or false is a mistake."""
    value = context.run.tags.get(tag)
    if value is None or value.strip().lower() == "false":
        return False
    if value.strip().lower() == "true":
        return True
    raise ReleaseInputError(f"Run tag {tag}={value!r} means nothing: set it to true, or remove it.")


def environment() -> str:
    """The environment this code location changes; production unless told otherwise."""
    return os.environ.get(ENVIRONMENT_VARIABLE) or DEFAULT_ENVIRONMENT
