"""The rolling restore keeps going when one instance cannot be put back (in-memory doubles;
the restore against the real engine is in test_rolling.py)."""

import logging

import pytest

from release_pipeline.catalog import default_catalog
from release_pipeline.errors import DeploymentFailed, DockerError
from release_pipeline.resources.docker_engine import RunningContainer
from release_pipeline.resources.http_probe import ProbeResult
from release_pipeline.resources.nginx import UpstreamState
from release_pipeline.strategies import rolling
from release_pipeline.strategies.deployment import Deployer

SERVICE = default_catalog().service("data_service")
LIVE = {"active": "rolling", "version": "v1", "commit": "a" * 40, "image": "ds:v1"}


class Engine:
    """Three v1 instances; refuses to start the images and slots in ``refuse``."""

    def __init__(self, refuse: set[tuple[str, str]]) -> None:
        self.refuse = refuse
        self.running = {
            f"ds-{i}": RunningContainer(f"id{i}", f"ds-{i}", f"127.0.0.1:{7000 + i}", {})
            for i in range(3)
        }
        self.versions = dict.fromkeys(self.running, "v1")

    def container_name(self, service, role):
        return f"ds-{role}"

    def find(self, name, port):
        return self.running.get(name)

    def remove(self, name):
        self.versions.pop(name, None)
        return self.running.pop(name, None) is not None

    def run(self, image, *, name, port, labels, env, host_port=None, **limits):
        self.remove(name)
        if (image, name) in self.refuse:
            raise DockerError(f"Could not start container {name} from {image}: port is taken")
        self.running[name] = RunningContainer("new", name, f"127.0.0.1:{host_port}", labels)
        self.versions[name] = env["APP_VERSION"]
        return self.running[name]


class Upstream:
    def __init__(self) -> None:
        self.facts, self.addresses = dict(LIVE), []

    def read_state(self, name):
        return UpstreamState(dict(self.facts))

    def apply(self, name, backends, facts):
        self.facts, self.addresses = dict(facts), [b.address for b in backends]
        return True

    def lb_url(self, name):
        return "http://lb"


class Healthy:
    def check(self, url, **kwargs):
        return ProbeResult(True, 200, {}, "ok")


def test_an_instance_that_cannot_be_restored_stays_out_and_the_others_are_restored():
    engine, upstream = Engine({("ds:v2", "ds-2"), ("ds:v1", "ds-0")}), Upstream()
    params = SERVICE.strategy.model_copy(update={"drain_seconds": 0, "health_interval_seconds": 0})
    release = rolling.RollingRelease(SERVICE, "ds:v2", "v2", "b" * 40, {}, params)
    deployer = Deployer(engine, upstream, Healthy(), logging.getLogger("test_rolling_restore"))

    with pytest.raises(DeploymentFailed) as refused:
        rolling.deploy(deployer, release)

    assert "instance 0: Could not start container ds-0 from ds:v1" in str(refused.value)
    assert engine.versions == {"ds-1": "v1", "ds-2": "v1"}
    assert upstream.addresses == ["127.0.0.1:7001", "127.0.0.1:7002"]
    assert upstream.facts == LIVE
