"""What every strategy reports once traffic is on the new version."""

from dataclasses import dataclass


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
