"""Rolling update: replace N instances behind nginx one at a time, at most one unavailable.

Each instance leaves the upstream before it is replaced, so nginx never sends
a request to a container that is going away; it comes back once healthy with
the new version, on the host port it had, so the upstream ends as it began.
If anything stops the rollout (an instance that never gets healthy, an engine
error, a failed final verification), every instance already replaced or taken
out goes back to the previous image and the upstream file is written back byte
for byte. An instance that cannot be restored is left out of the upstream.
"""

import time
from dataclasses import dataclass, field

from release_pipeline.catalog import Rolling, Service
from release_pipeline.errors import DeploymentFailed, ReleaseError
from release_pipeline.resources.docker_engine import RunningContainer
from release_pipeline.resources.nginx import Backend, UpstreamState
from release_pipeline.strategies.checks import run_smoke_checks, wait_until_healthy
from release_pipeline.strategies.deployment import Deployer, Deployment, live_facts


@dataclass(frozen=True)
class RollingRelease:
    service: Service
    image: str
    version: str
    commit: str
    env: dict[str, str] = field(repr=False)
    params: Rolling
    rollback_of: str | None = None  # the version a rollback replaces


class InstanceUnhealthy(Exception):
    """Internal: one instance did not get healthy; the caller restores and refuses."""


def deploy(deployer: Deployer, release: RollingRelease) -> Deployment:
    """Replaces every instance in turn; raises DeploymentFailed after restoring on failure."""
    name = release.service.name
    before = deployer.lb.read_state(name)
    original = current_instances(deployer, release.service, release.params.instances)
    instances = list(original)  # what runs in each slot
    serving = list(original)  # what nginx sends traffic to, slot by slot
    started = time.monotonic()
    deployer.log.info(f"Rolling {name} to {release.version} over {len(instances)} instances.")

    try:
        for index in range(len(instances)):
            replace_instance(deployer, release, instances, serving, index, before)
        failures = verify_through_lb(deployer, release)
    except Exception as stopped:
        # Whatever stopped the rollout, the fleet must not stay half replaced.
        outcome = restore(deployer, release, before, original, instances, serving)
        if isinstance(stopped, InstanceUnhealthy):
            raise DeploymentFailed(f"{stopped} {outcome}") from None
        if isinstance(stopped, ReleaseError):
            raise DeploymentFailed(
                f"The rollout of {name} {release.version} stopped at an error ({stopped})."
                f" {outcome}"
            ) from stopped
        raise
    if failures:
        outcome = restore(deployer, release, before, original, instances, serving)
        raise DeploymentFailed(
            f"{name} {release.version} failed verification through the load balancer within"
            f" {release.params.verify_timeout_seconds:.0f} s: {'; '.join(failures)}. {outcome}"
        )

    replaced = UpstreamState({}) if release.rollback_of else before
    facts = live_facts(
        "rolling", release.version, release.image, release.commit, f"{len(instances)}", replaced
    )
    if release.rollback_of:
        facts["rolled_back_from"] = release.rollback_of
    deployer.lb.apply(name, backends(serving), facts)
    elapsed = time.monotonic() - started
    return Deployment(
        f"{len(instances)} instances", before.get("version"), release.version, release.image,
        elapsed, release.commit,
    )  # fmt: skip


def current_instances(
    deployer: Deployer, service: Service, count: int
) -> list[RunningContainer | None]:
    return [
        deployer.runtime.find(instance_name(deployer, service, index), service.port)
        for index in range(count)
    ]


def instance_name(deployer: Deployer, service: Service, index: int) -> str:
    return deployer.runtime.container_name(service.name, str(index))


def backends(serving: list[RunningContainer | None]) -> list[Backend]:
    return [Backend(container.address) for container in serving if container is not None]


def take_out(
    deployer: Deployer,
    name: str,
    serving: list[RunningContainer | None],
    index: int,
    before: UpstreamState,
) -> None:
    if serving[index] is None:
        return
    serving[index] = None
    deployer.lb.apply(name, backends(serving), before.facts)
    deployer.log.info(f"Took {name} instance {index} out of the load balancer.")


def replace_instance(
    deployer: Deployer,
    release: RollingRelease,
    instances: list[RunningContainer | None],
    serving: list[RunningContainer | None],
    index: int,
    before: UpstreamState,
) -> None:
    """Takes one instance out, drains it, replaces it, waits healthy, puts it back.

    ``instances`` is updated as soon as the new container exists, so a restore
    knows what it touched; ``serving`` only once the new one is healthy.
    """
    name = release.service.name
    old = instances[index]
    if old is not None:
        take_out(deployer, name, serving, index, before)
        time.sleep(release.params.drain_seconds)

    started = time.monotonic()
    new = start_instance(deployer, release, index, old.host_port if old else None)
    instances[index] = new
    result = wait_until_healthy(
        deployer.probe,
        release.service,
        new.url,
        release.version,
        release.params.health_retries,
        release.params.health_interval_seconds,
    )
    if not result.ok:
        raise InstanceUnhealthy(
            f"{name} instance {index} (version {release.version}) did not become healthy after"
            f" {release.params.health_retries} checks. Last health answer: {result.detail}."
        )

    serving[index] = new
    deployer.lb.apply(name, backends(serving), before.facts)
    deployer.log.info(
        f"Replaced {name} instance {index} with version {release.version}"
        f" in {time.monotonic() - started:.1f} s."
    )


def start_instance(
    deployer: Deployer, release: RollingRelease, index: int, host_port: int | None
) -> RunningContainer:
    service = release.service
    labels = {
        "release_pipeline.service": service.name,
        "release_pipeline.color": f"instance-{index}",
        "release_pipeline.version": release.version,
        "release_pipeline.commit": release.commit,
    }
    env = {**release.env, "APP_VERSION": release.version, "APP_COLOR": f"instance-{index}"}
    env["APP_COMMIT"] = release.commit
    return deployer.runtime.run(
        release.image,
        name=instance_name(deployer, service, index),
        port=service.port,
        labels=labels,
        env=env,
        host_port=host_port,
        **service.container_limits(),
    )


def verify_through_lb(deployer: Deployer, release: RollingRelease) -> list[str]:
    """Polls the smoke checks through nginx until they pass or the deadline; returns failures."""
    url = deployer.lb.lb_url(release.service.name)
    deadline = time.monotonic() + release.params.verify_timeout_seconds
    while True:
        failures = run_smoke_checks(deployer.probe, release.service, url, release.env)
        if not failures or time.monotonic() > deadline:
            return failures
        time.sleep(release.params.verify_interval_seconds)


def restore(
    deployer: Deployer,
    release: RollingRelease,
    before: UpstreamState,
    original: list[RunningContainer | None],
    instances: list[RunningContainer | None],
    serving: list[RunningContainer | None],
) -> str:
    """Puts every touched instance back on the previous image, then the upstream as it was.

    Keeps going past an instance that cannot be restored, so one failure does not
    strand the others; returns a sentence saying how the fleet was left.
    """
    name = release.service.name
    lost: dict[int, str] = {}
    for index, was in enumerate(original):
        # A slot taken out but not yet replaced counts too: its old container may be gone.
        if instances[index] is was and serving[index] is was:
            continue
        try:
            restore_instance(deployer, release, before, was, instances, serving, index)
        except Exception as exc:
            lost[index] = str(exc)
            deployer.log.error(f"Could not restore {name} instance {index}: {exc}")

    kept = [None if index in lost else was for index, was in enumerate(original)]
    try:
        deployer.lb.apply(name, backends(kept), before.facts)
    except Exception as exc:
        deployer.log.error(f"Could not write the {name} upstream back: {exc}")
        return (
            f"Restoring {name} failed: the upstream could not be written back ({exc});"
            " check the instances and the load balancer by hand."
        )
    previous_version = before.get("version") or "none"
    if not lost:
        return (
            f"Every instance already replaced was restored to version {previous_version};"
            " the upstream is as before."
        )
    failed = "; ".join(f"instance {index}: {why}" for index, why in lost.items())
    return (
        f"Restoring {name} to version {previous_version} failed for {failed}. Those instances"
        " are out of the load balancer; the others serve the previous version."
    )


def restore_instance(
    deployer: Deployer,
    release: RollingRelease,
    before: UpstreamState,
    was: RunningContainer | None,
    instances: list[RunningContainer | None],
    serving: list[RunningContainer | None],
    index: int,
) -> None:
    """Puts one slot back as it was: the previous image, or nothing if it held nothing."""
    name = release.service.name
    previous_image, previous_version = before.get("image"), before.get("version")
    if serving[index] is not None:
        take_out(deployer, name, serving, index, before)
        time.sleep(release.params.drain_seconds)
    if was is None or not previous_image:
        deployer.runtime.remove(instance_name(deployer, release.service, index))
        instances[index] = None
        return

    previous = RollingRelease(
        release.service, previous_image, previous_version or "none",
        before.get("commit") or "none", release.env, release.params,
    )  # fmt: skip
    restored = start_instance(deployer, previous, index, was.host_port)
    instances[index] = restored
    wait_until_healthy(
        deployer.probe, release.service, restored.url, previous.version,
        release.params.health_retries, release.params.health_interval_seconds,
    )  # fmt: skip
    serving[index] = restored
    deployer.lb.apply(name, backends(serving), before.facts)
    deployer.log.warning(f"Restored {name} instance {index} to version {previous_version}.")
