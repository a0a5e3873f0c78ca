from release_pipeline.resources.nginx import UpstreamState
from release_pipeline.strategies.deployment import live_facts


def test_live_facts_name_what_was_replaced():
    before = UpstreamState({"active": "blue", "version": "6", "image": "r/a@sha256:6"})

    facts = live_facts("green", "7", "r/a@sha256:7", "c7", "backend-green", before)

    assert (facts["active"], facts["previous"], facts["previous_version"]) == ("green", "blue", "6")


def test_releasing_the_live_version_again_keeps_the_rollback_target():
    # A re-run after a crash mid-switch: version 7 is already in the header.
    after_crash = UpstreamState(
        {"active": "green", "version": "7", "previous": "blue", "previous_version": "6"}
    )

    facts = live_facts("blue", "7", "r/a@sha256:7", "c7", "backend-blue", after_crash)

    assert facts["previous_version"] == "6"
    assert facts["previous"] == "none", "the new color cannot be its own previous"
