"""What every strategy reports once traffic is on the new version."""

from dataclasses import dataclass

from release_pipeline.resources.nginx import UpstreamState


@dataclass(frozen=True)
class Deployment:
    """The live state a strategy left behind, and how long the switch took.

    ``active`` is what serves: a color, a set of instances or a deployment id,
    depending on the strategy; ``previous`` is what served before, if anything.
    """

    active: str
    previous: str | None
    version: str
    image: str
    switch_seconds: float
    commit: str = ""


def live_facts(
    color: str, version: str, image: str, commit: str, container: str, replaced: UpstreamState
) -> dict[str, str]:
    """The upstream header after a switch: what is live now, and what it replaced."""
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
