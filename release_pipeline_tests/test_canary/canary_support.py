"""What the canary tests share: fast run config, prediction traffic, a deployer on the sandbox."""

from __future__ import annotations

import logging
import threading
import time

import docker
import httpx

from release_pipeline.analysis import Overrides
from release_pipeline.catalog import default_catalog
from release_pipeline.resources.nginx import NginxResource
from release_pipeline.resources.prometheus import PrometheusResource
from release_pipeline.secrets import read_secrets
from release_pipeline.strategies import canary
from release_pipeline_tests.support import (
    FAST_VERIFY,
    Traffic,
    lb_url,
    nginx_settings,
    sandbox_resources,
)

SERVICE = "ml_engine"
PREDICTION = {"symbol": "BTCUSDT", "horizon": 18}
# Short waits for the tests; the analysis still needs real traffic and real scrapes.
FAST_CANARY = {
    "health_retries": 10,
    "health_interval_seconds": 0.5,
    "scale_down_delay_seconds": 0,
    "analysis_interval_seconds": 2,
    "analysis_count": 4,
    "analysis_min_requests": 8,
}
log = logging.getLogger("test_canary")


def canary_config(version: str, git_ref: str = "main", **overrides: object) -> dict:
    return {
        "ops": {
            "checkout": {"config": {"git_ref": git_ref, "version": version}},
            "deploy_canary": {"config": {**FAST_CANARY, **overrides}},
            "verify_release": {"config": FAST_VERIFY},
        }
    }


def rollback_config() -> dict:
    fast = {key: value for key, value in FAST_CANARY.items() if not key.startswith("analysis")}
    return {"ops": {"rollback_canary": {"config": fast}}}


def prediction_traffic(env: dict[str, str]) -> Traffic:
    """Predictions through nginx, with the API key, as the platform's backend sends them."""
    return Traffic(
        lb_url(env, SERVICE) + "/predictions",
        json=PREDICTION,
        headers={"X-API-Key": env["ML_API_KEY"]},
    )


def live_health(env: dict[str, str]) -> dict:
    return httpx.get(lb_url(env, SERVICE) + "/health", timeout=5).json()


def upstream_state(env: dict[str, str]):
    return NginxResource(**nginx_settings(env)).read_state(SERVICE)


def deployer(env: dict[str, str], prometheus_url: str | None = None) -> canary.Deployer:
    resources = sandbox_resources(env)
    prometheus = PrometheusResource(url=prometheus_url or env["PROMETHEUS_URL"])
    return canary.Deployer(
        resources["docker_engine"], resources["nginx"], resources["probe"], prometheus, log
    )


def release_of_live_image(
    env: dict[str, str], version: str, steps: list[int] | None = None, **strategy: object
) -> canary.Release:
    """The live stable image under a new version label, with fast waits."""
    service = default_catalog().service(SERVICE)
    state = upstream_state(env)
    params = {"health_retries": 10, "health_interval_seconds": 0.5, "scale_down_delay_seconds": 0}
    params.update(strategy, **({"steps": steps} if steps else {}))
    return canary.Release(
        service=service,
        image=state.get("image"),
        version=version,
        commit=state.get("commit") or "none",
        env={**service.env, **read_secrets(service.secrets)},
        params=service.strategy.model_copy(update=params),
        overrides=Overrides(interval_seconds=2, count=2, min_requests=3),
    )


def ml_engine_containers(env: dict[str, str]) -> dict[str, str]:
    """track -> version of the ML engine containers running in this sandbox."""
    client = docker.DockerClient(base_url=env["DOCKER_HOST"])
    labels = [
        f"release_pipeline.service={SERVICE}",
        f"release_pipeline.environment={env['RELEASE_ENVIRONMENT']}",
    ]
    return {
        c.labels["release_pipeline.color"]: c.labels.get("release_pipeline.version", "")
        for c in client.containers.list(filters={"label": labels})
    }


class WeightWatcher:
    """Records every canary weight the upstream header shows while a rollout runs."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.weights: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> WeightWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        deadline = time.monotonic() + 300
        while not self._stop.is_set() and time.monotonic() < deadline:
            weight = upstream_state(self.env).get("canary_weight") or "0"
            if not self.weights or self.weights[-1] != weight:
                self.weights.append(weight)
            time.sleep(0.02)

    def wait_for(self, weight: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while weight not in self.weights:
            assert time.monotonic() < deadline, f"the canary never got {weight} %"
            time.sleep(0.05)
