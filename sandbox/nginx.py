"""nginx load balancer: one server per load-balanced service, upstreams owned by the pipeline."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import httpx

from ._common import Record, free_port, run, spawn, terminate, wait_ready

SERVER = "nginx"
START_TIMEOUT = 15.0
HTTP_TIMEOUT = 2.0
WORKER_PROCESSES = 2
TEMP_DIRS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
PLACEHOLDER = """\
# release_pipeline: active=none
upstream {service} {{ server 127.0.0.1:9 down; }}
"""

MAIN_CONF = """\
{user}worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log info;

events {{
    worker_connections 512;
}}

http {{
    access_log {prefix}/logs/access.log;
    keepalive_timeout 65;
{temp_paths}
    include {upstream_dir}/*.conf;
{servers}}}
"""

SERVER_BLOCK = """
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{service};
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout http_502;
        }}
    }}
"""


# A static site's production pointer is the `current` symlink of its directory;
# nginx resolves it per request, so replacing the link switches every new request.
STATIC_BLOCK = """
    server {{
        listen 127.0.0.1:{port};
        root {sites_dir}/{service}/current;
        location = /health {{ default_type application/json; }}
    }}
"""


def nginx_bin() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def write_placeholders(upstream_dir: Path, services: list[str]) -> None:
    """The contract's 'no deploy yet' upstream file for every service."""
    upstream_dir.mkdir(parents=True, exist_ok=True)
    for service in services:
        (upstream_dir / f"{service}.conf").write_text(PLACEHOLDER.format(service=service))


def write_static_roots(sites_dir: Path, sites: list[str]) -> None:
    """An empty placeholder deployment per site, so nginx starts before the first publish."""
    for site in sites:
        placeholder = sites_dir / site / "deployments" / "none"
        placeholder.mkdir(parents=True, exist_ok=True)
        current = sites_dir / site / "current"
        if not current.is_symlink():
            current.symlink_to(placeholder)


def _main_conf(
    prefix: Path, upstream_dir: Path, ports: dict[str, int], static_ports: dict[str, int]
) -> str:
    temp_paths = "".join(f"    {name}_temp_path {prefix}/temp/{name};\n" for name in TEMP_DIRS)
    servers = "".join(SERVER_BLOCK.format(port=p, service=s) for s, p in ports.items())
    servers += "".join(
        STATIC_BLOCK.format(port=p, service=s, sites_dir=prefix / "sites")
        for s, p in static_ports.items()
    )
    return MAIN_CONF.format(
        user="user root root;\n" if os.geteuid() == 0 else "",
        workers=WORKER_PROCESSES,
        prefix=prefix,
        temp_paths=temp_paths,
        upstream_dir=upstream_dir,
        servers=servers,
    )


def _answers(ports: dict[str, int]) -> bool:
    """Every server answers (502 is expected while upstreams are placeholders)."""
    return all(
        httpx.get(f"http://127.0.0.1:{port}/", timeout=HTTP_TIMEOUT).status_code > 0
        for port in ports.values()
    )


def start(record: Record, state_dir: Path, services: list[str], sites: list[str]) -> None:
    """Write prefix, main conf and placeholder upstreams; `nginx -t`; start; record master pid."""
    prefix = state_dir / "nginx"
    conf = prefix / "conf" / "nginx.conf"
    upstream_dir = prefix / "upstreams"
    for sub in ("conf", "logs", *(f"temp/{name}" for name in TEMP_DIRS)):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    write_placeholders(upstream_dir, services)
    write_static_roots(prefix / "sites", sites)
    ports = {service: free_port() for service in services}
    static_ports = {site: free_port() for site in sites}
    conf.write_text(_main_conf(prefix, upstream_dir, ports, static_ports))
    base = [nginx_bin(), "-p", str(prefix), "-c", str(conf)]
    run([*base, "-t"], SERVER)
    record.update(spawn(base, prefix / "logs" / "nginx.out"))
    record["log"] = str(prefix / "logs" / "error.log")  # startup errors land here
    record["env"] = {
        "NGINX_BIN": nginx_bin(),
        "NGINX_PREFIX": str(prefix),
        "NGINX_CONF": str(conf),
        "NGINX_UPSTREAM_DIR": str(upstream_dir),
        "LB_URLS": ",".join(
            f"{s}=http://127.0.0.1:{p}" for s, p in {**ports, **static_ports}.items()
        ),
        "SITES_DIR": str(prefix / "sites"),
        "FRONTEND_PUBLISHER": "directory",
    }
    wait_ready(SERVER, record, lambda: _answers(ports), START_TIMEOUT)


def stop(record: Record) -> None:
    """SIGQUIT (graceful shutdown) to the recorded master pid."""
    terminate(record, SERVER, signal.SIGQUIT)
