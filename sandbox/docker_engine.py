"""Docker engine: reuse a running one, or start dockerd and stop it only if we started it.

One dockerd serves every stack on the machine. Each stack registers itself while it uses
the engine, and the stack that started dockerd leaves it running if another live stack is
still registered: stopping it would kill that stack's containers mid-test. A stack counts
as live while the process that started it runs, so one brought up by `python -m sandbox up`
(which exits) is not protected.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker

from ._common import Record, ServerError, log, spawn, terminate, wait_ready

SERVER = "docker"
DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_HOST = f"unix://{DEFAULT_SOCKET}"
START_TIMEOUT = 60.0
PING_TIMEOUT = 5
API_TIMEOUT = 300
LOCK_FILE = Path("/tmp/release-sandbox-dockerd.lock")
# One file per stack using the engine, named "<pid>-<random>", removed when the stack stops.
USERS_DIR = Path("/tmp/release-sandbox-dockerd.users")
ENV_LABEL = "release_pipeline.environment"


@contextmanager
def client(docker_host: str, timeout: int = API_TIMEOUT) -> Iterator[docker.DockerClient]:
    """Docker SDK client for docker_host (keeps TLS settings from the environment)."""
    api = docker.from_env(environment={**os.environ, "DOCKER_HOST": docker_host}, timeout=timeout)
    try:
        yield api
    finally:
        api.close()


def _answers(docker_host: str) -> bool:
    try:
        with client(docker_host, PING_TIMEOUT) as probe:
            return bool(probe.ping())
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return False


@contextmanager
def _start_lock() -> Iterator[None]:
    """Only one stack at a time may decide to start dockerd (only one may run per machine)."""
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def start(record: Record, state_dir: Path) -> None:
    """Use $DOCKER_HOST or the default socket if it answers; else start dockerd."""
    given = os.environ.get("DOCKER_HOST")
    if given:
        if not _answers(given):
            raise ServerError(SERVER, f"DOCKER_HOST={given} is set but does not answer a ping")
        _use_existing(record, given)
        return
    with _start_lock():
        _register_user(record)
        if _answers(DEFAULT_HOST):
            _use_existing(record, DEFAULT_HOST)
            return
        _start_dockerd(record, state_dir / "docker")


def _register_user(record: Record) -> None:
    USERS_DIR.mkdir(exist_ok=True)
    user = USERS_DIR / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    user.touch()
    record["user_file"] = str(user)


def other_live_users(users_dir: Path, mine: str | None) -> list[str]:
    """Registered users other than ``mine`` whose process still runs; forgets the dead ones."""
    live = []
    for user in sorted(users_dir.glob("*-*")):
        if str(user) == mine:
            continue
        if _process_runs(int(user.name.split("-")[0])):
            live.append(user.name)
        else:
            user.unlink(missing_ok=True)
    return live


def _process_runs(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _use_existing(record: Record, host: str) -> None:
    log.info("docker: using the running engine at %s (it will not be stopped)", host)
    record.update(started=False, docker_host=host, env={"DOCKER_HOST": host})


def _start_dockerd(record: Record, work: Path) -> None:
    dockerd = shutil.which("dockerd") or "/usr/sbin/dockerd"
    if os.geteuid() != 0:
        raise ServerError(SERVER, f"no engine answers at {DEFAULT_SOCKET} and dockerd needs root")
    work.mkdir(parents=True, exist_ok=True)
    pidfile = work / "dockerd.pid"
    pidfile.unlink(missing_ok=True)
    log.info("docker: starting dockerd (log %s)", work / "dockerd.log")
    record.update(spawn([dockerd, "--pidfile", str(pidfile)], work / "dockerd.log"))
    record.update(started=True, docker_host=DEFAULT_HOST, env={"DOCKER_HOST": DEFAULT_HOST})
    wait_ready(SERVER, record, lambda: _answers(DEFAULT_HOST), START_TIMEOUT)


def remove_containers(docker_host: str, environment: str) -> None:
    """Remove every container labelled release_pipeline.environment=<environment>."""
    if not environment or not _answers(docker_host):
        return
    with client(docker_host) as api:
        found = api.containers.list(all=True, filters={"label": f"{ENV_LABEL}={environment}"})
        for container in found:
            log.info("docker: removing container %s (%s)", container.name, environment)
            container.remove(force=True)


def remove_images(docker_host: str, registry_url: str) -> None:
    """Remove the image tags that point at this stack's registry, which dies with it."""
    if not registry_url or not _answers(docker_host):
        return
    with client(docker_host) as api:
        for image in api.images.list():
            for tag in image.tags:
                if tag.startswith(f"{registry_url}/"):
                    api.images.remove(tag, noprune=False)


def stop(record: Record, environment: str, registry_url: str = "") -> None:
    """Remove this environment's containers and images; stop dockerd only if we started it."""
    host = record.get("docker_host")
    if host:
        try:
            remove_containers(host, environment)
            remove_images(host, registry_url)
        except Exception as exc:  # noqa: BLE001 - still stop dockerd below
            log.warning("docker: could not remove containers of %s: %s", environment, exc)
    with _start_lock():
        mine = record.pop("user_file", None)
        if mine:
            Path(mine).unlink(missing_ok=True)
        if not record.get("started"):
            return
        others = other_live_users(USERS_DIR, mine)
        if others:
            log.info("docker: leaving dockerd running for the stacks still using it: %s", others)
            return
        terminate(record, SERVER)
