"""Helpers the integration tests share: releases, commits and traffic."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import httpx

from release_pipeline.definitions import defs

# What every Traffic run sent and lost, printed at the end of the session.
TRAFFIC_REPORTS: list[str] = []
FAST_HEALTH = {"health_retries": 10, "health_interval_seconds": 0.5}
# The post-deploy bake, shortened: it still measures, twice, and warns on what it cannot.
# The wait ends as soon as Prometheus has scraped the new containers (about 1 s here);
# without it a first release can end before any check could be measured: unverified.
FAST_VERIFY = {"bake_seconds": 1, "interval_seconds": 0.5, "scrape_wait_seconds": 15}


def release_config(
    version: str, git_ref: str = "main", scale_down_delay: float = 0, **health: float
) -> dict:
    return {
        "ops": {
            "checkout": {"config": {"git_ref": git_ref, "version": version}},
            "deploy_blue_green": {"config": {**FAST_HEALTH, **health}},
            "verify_release": {"config": FAST_VERIFY},
            # FAST_VERIFY cannot measure the traffic checks (no traffic, 1 s), so the bake is
            # incomplete; these tests are about the deploy, which then stops the old color.
            # test_verification/test_unverified.py shows it kept warm by default.
            "scale_down_previous": {
                "config": {
                    "scale_down_delay_seconds": scale_down_delay,
                    "scale_down_unverified": True,
                }
            },
        }
    }


def rollback_config(scale_down_delay: float = 0) -> dict:
    return {
        "ops": {
            "rollback_blue_green": {"config": FAST_HEALTH},
            "scale_down_previous": {"config": {"scale_down_delay_seconds": scale_down_delay}},
        }
    }


def run_job(name: str, run_config: dict, instance: dg.DagsterInstance | None = None):
    job = defs.resolve_job_def(name)
    return job.execute_in_process(
        run_config=run_config,
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )


def failure_message(result) -> str:
    """The messages of every failed step, as the UI shows them."""
    messages = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:
            messages.append(data.user_failure_data.description)
            continue
        error = data.error
        while error is not None:
            messages.append(error.message)
            error = error.cause
    return "\n".join(messages)


def commit_to_branch(
    env: dict[str, str], branch: str, files: dict[str, str | None], base: str = "main"
) -> str:
    """Commits ``files`` (None deletes) on a new branch from ``base`` of the sandbox's repo."""
    repo = Path(env["RELEASE_GIT_URL"])
    git = ["git", "-C", str(repo), "-c", "user.name=test", "-c", "user.email=test@example.com"]
    subprocess.run([*git, "checkout", "-q", "-B", branch, base], check=True)
    for relative, content in files.items():
        path = repo / relative
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", f"test change on {branch}"], check=True)
    subprocess.run([*git, "checkout", "-q", "main"], check=True)
    return branch


def lb_url(env: dict[str, str], service: str = "backend") -> str:
    urls = dict(pair.split("=", 1) for pair in env["LB_URLS"].split(","))
    return urls[service]


def live_health(env: dict[str, str]) -> dict:
    return httpx.get(lb_url(env) + "/health", timeout=5).json()


@dataclass
class Traffic:
    """Sends requests through nginx from a thread until stopped; counts the failures."""

    url: str
    label: str = ""
    json: dict | None = None  # a POST with this body instead of a GET
    headers: dict[str, str] = field(default_factory=dict)
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Traffic:
        self.label = self.label or os.environ.get("PYTEST_CURRENT_TEST", self.url).split(" ")[0]
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        TRAFFIC_REPORTS.append(f"{self.label}: sent {self.sent}, failed {self.failed}")

    def _loop(self) -> None:
        # New connection per request: a client reusing a connection that nginx
        # closes on reload would count a client-side race, not a failed request.
        limits = httpx.Limits(max_keepalive_connections=0)
        deadline = time.monotonic() + 600
        with httpx.Client(timeout=5, limits=limits) as client:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.sent += 1
                try:
                    method = "POST" if self.json is not None else "GET"
                    response = client.request(
                        method, self.url, json=self.json, headers=self.headers
                    )
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status = f"{type(exc).__name__}"
                if status != 200:
                    self.failed += 1
                    self.errors.append(str(status))
                time.sleep(0.005)


def sandbox_resources(env: dict[str, str]) -> dict:
    """The pipeline's resources with the sandbox's values, for tests below the job level."""
    from release_pipeline.resources.deploy_lock import DeployLockResource
    from release_pipeline.resources.docker_engine import DockerResource
    from release_pipeline.resources.http_probe import HttpProbeResource
    from release_pipeline.resources.nginx import NginxResource

    return {
        "docker_engine": DockerResource(
            base_url=env["DOCKER_HOST"],
            environment=env["RELEASE_ENVIRONMENT"],
            base_image=env["RELEASE_BASE_IMAGE"],
        ),
        "nginx": NginxResource(**nginx_settings(env)),
        "probe": HttpProbeResource(),
        "deploy_lock": DeployLockResource(
            host=env["DAGSTER_PG_HOST"],
            port=int(env["DAGSTER_PG_PORT"]),
            user=env["DAGSTER_PG_USER"],
            password=env["DAGSTER_PG_PASSWORD"],
            dbname=env["DAGSTER_PG_DB"],
            wait_seconds=1,
        ),
    }


def nginx_settings(env: dict[str, str]) -> dict[str, str]:
    return {
        "nginx_bin": env["NGINX_BIN"],
        "prefix": env["NGINX_PREFIX"],
        "conf": env["NGINX_CONF"],
        "upstream_dir": env["NGINX_UPSTREAM_DIR"],
        "lb_urls": env["LB_URLS"],
    }


def rolling_config(version: str, git_ref: str = "main", **overrides: float) -> dict:
    fast = {
        "drain_seconds": 0.5,
        "health_retries": 10,
        "health_interval_seconds": 0.5,
        "verify_timeout_seconds": 10,
        "verify_interval_seconds": 0.5,
    }
    return {
        "ops": {
            "checkout": {"config": {"git_ref": git_ref, "version": version}},
            "deploy_rolling": {"config": {**fast, **overrides}},
            "verify_release": {"config": FAST_VERIFY},
        }
    }


def site_config(version: str, git_ref: str = "main") -> dict:
    return {"ops": {"checkout": {"config": {"git_ref": git_ref, "version": version}}}}


def materialization(result, key: dg.AssetKey) -> dict:
    events = [m for m in result.get_asset_materialization_events() if m.asset_key == key]
    assert events, f"no materialization of {key.to_user_string()}"
    metadata = events[-1].materialization.metadata
    return {name: value.value for name, value in metadata.items()}
