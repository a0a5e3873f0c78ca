"""A release that cannot take the traffic back raises SwitchBackFailed, which pages.

Small doubles stand in for a load balancer or publisher that refuses the way back;
the paging of such a run is proven against the sandbox's PagerDuty in test_paging.
"""

import logging
from types import SimpleNamespace

import pytest

from release_pipeline.catalog import default_catalog
from release_pipeline.errors import LoadBalancerError, PublishError, SwitchBackFailed
from release_pipeline.resources.docker_engine import RunningContainer
from release_pipeline.resources.nginx import UpstreamState
from release_pipeline.strategies import blue_green, canary, static_site
from release_pipeline.strategies.deployment import Deployer

LOG = logging.getLogger("test_switch_back")


class RefusingLoadBalancer:
    def lb_url(self, service: str) -> str:
        return "http://127.0.0.1:9"

    def apply(self, service, backends, facts) -> bool:
        raise LoadBalancerError("nginx -t rejected the upstream.")


class Runtime:
    def __init__(self) -> None:
        self.removed: list[str] = []

    def container_name(self, service: str, color: str) -> str:
        return f"{service}-{color}"

    def find(self, name: str, port: int) -> RunningContainer:
        return RunningContainer("id", name, "127.0.0.1:18080", {})

    def remove(self, name: str) -> None:
        self.removed.append(name)


def test_a_blue_green_switch_back_that_fails_raises_switch_back_failed_and_keeps_the_new_color():
    runtime = Runtime()
    deployer = Deployer(runtime=runtime, lb=RefusingLoadBalancer(), probe=None, log=LOG)
    release = SimpleNamespace(service=default_catalog().service("backend"), version="42")
    before = UpstreamState({"active": "blue", "version": "41"})

    with pytest.raises(SwitchBackFailed) as failed:
        blue_green.switch_back_and_remove(
            deployer, release, "green", before, "failed its smoke checks"
        )

    message = str(failed.value)
    assert "backend green (version 42) failed its smoke checks" in message
    assert "switching the traffic back to blue failed too: nginx -t rejected" in message
    assert "run backend_rollback" in message
    assert runtime.removed == []  # green may still serve: it stays


def test_a_canary_that_cannot_give_stable_the_traffic_back_raises_switch_back_failed():
    deployer = canary.Deployer(
        runtime=Runtime(), lb=RefusingLoadBalancer(), probe=None, prometheus=None, log=LOG
    )
    release = SimpleNamespace(service=default_catalog().service("ml_engine"), version="8")
    stable = RunningContainer("id", "ml_engine-stable", "127.0.0.1:18081", {})

    with pytest.raises(SwitchBackFailed, match="ml_engine canary 8 was aborted: too slow, and"):
        canary.back_to_stable(
            deployer, release, UpstreamState({"version": "7"}), stable, "was aborted: too slow"
        )


class RefusingPublisher:
    def activate(self, site: str, deployment_id: str) -> None:
        raise PublishError(f"could not point production at {deployment_id}.")


class FailingProbe:
    def check(self, url, **expectations):
        return SimpleNamespace(ok=False, detail=f"{url} answered 500")


def test_a_site_that_cannot_be_switched_back_raises_switch_back_failed():
    deployer = static_site.Deployer(
        publisher=RefusingPublisher(), probe=FailingProbe(), site_url="http://site", log=LOG
    )
    site = SimpleNamespace(service=default_catalog().service("frontend"), version="v2", env={})

    with pytest.raises(SwitchBackFailed, match="switching production back to d1 failed: could"):
        static_site.ensure_smoke_or_switch_back(deployer, site, "d1")
