"""docker-registry (distribution 2.8) on 127.0.0.1 with htpasswd (bcrypt) auth."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import yaml

from ._common import Record, free_port, run, spawn, terminate, wait_ready

SERVER = "registry"
REGISTRY_BIN = "/usr/bin/docker-registry"
USERNAME = "release"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 2.0


def _config(work: Path, port: int) -> dict[str, object]:
    return {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {
            "filesystem": {"rootdirectory": str(work / "data")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": secrets.token_hex(16)},
        "auth": {"htpasswd": {"realm": "release-sandbox", "path": str(work / "htpasswd")}},
    }


def _answers(url: str, password: str) -> bool:
    """GET /v2/ is 401 without credentials and 200 with them."""
    anonymous = httpx.get(f"http://{url}/v2/", timeout=HTTP_TIMEOUT)
    authed = httpx.get(f"http://{url}/v2/", auth=(USERNAME, password), timeout=HTTP_TIMEOUT)
    return anonymous.status_code == 401 and authed.status_code == 200


def start(record: Record, state_dir: Path) -> None:
    """Write htpasswd and config under state_dir/registry, start it, wait for auth to work."""
    work = state_dir / "registry"
    (work / "data").mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(16)
    htpasswd = run(["htpasswd", "-Bbn", USERNAME, password], SERVER).stdout
    (work / "htpasswd").write_text(htpasswd.strip() + "\n")
    port = free_port()
    config = work / "config.yml"
    config.write_text(yaml.safe_dump(_config(work, port), sort_keys=False))
    url = f"127.0.0.1:{port}"
    record.update(spawn([REGISTRY_BIN, "serve", str(config)], work / "registry.log"))
    record["env"] = {
        "REGISTRY_URL": url,
        "REGISTRY_USERNAME": USERNAME,
        "REGISTRY_PASSWORD": password,
    }
    wait_ready(SERVER, record, lambda: _answers(url, password), START_TIMEOUT)


def stop(record: Record) -> None:
    """SIGTERM the recorded registry process."""
    terminate(record, SERVER)
