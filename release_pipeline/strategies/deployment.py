"""What every strategy reports once traffic is on the new version."""

from dataclasses import dataclass

import dagster as dg

from release_pipeline.resources.docker_engine import DockerResource
from release_pipeline.resources.http_probe import HttpProbeResource
from release_pipeline.resources.nginx import NginxResource, UpstreamState


@dataclass(frozen=True)
class Deployer:
    """The systems a container strategy talks to, and where it reports progress."""

    runtime: DockerResource
    lb: NginxResource
    probe: HttpProbeResource
    log: dg.DagsterLogManager


@dataclass(frozen=True)
class Deployment:
    """The live state a strategy left behind, and how long the switch took.

    ``active`` is what serves: a color, a set of instances or a deployment id,
    depending on the strategy; ``previous`` is what served before, if anything.
    ``verification`` is the post-deploy bake's verdict (``passed``, ``incomplete``),
    empty when none ran; ``not_verified`` names each check it did not measure, and why.
    """

    active: str
    previous: str | None
    version: str
    image: str
    switch_seconds: float
    commit: str = ""
    verification: str = ""
    not_verified: str = ""


def live_facts(
    color: str, version: str, image: str, commit: str, container: str, replaced: UpstreamState
) -> dict[str, str]:
    """The upstream header after a switch: what is live now, and what it replaced.

    Re-running a release of the version that is already live (after a crash
    mid-switch, say) keeps the rollback target it had instead of pointing at itself.
    """
    if replaced.get("version") == version:
        previous = replaced.get("previous")
        return {
            **replaced.facts,
            "active": color,
            "image": image,
            "commit": commit,
            "container": container,
            "previous": previous if previous != color else "none",
        }
    return {
        "active": color,
        "version": version,
        "image": image,
        "commit": commit,
        "container": container,
        "previous": replaced.get("active") or "none",
        "previous_version": replaced.get("version") or "none",
        "previous_image": replaced.get("image") or "none",
        "previous_commit": replaced.get("commit") or "none",
    }
