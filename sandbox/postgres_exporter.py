"""Debian's prometheus-postgres-exporter on 127.0.0.1, over the platform's database.

Prometheus scrapes it as the target of service ``database`` (sandbox/prometheus.py),
so the post-deploy check on database connections reads ``pg_stat_activity_count``
and ``pg_settings_max_connections`` of the real server the services are given.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

from ._common import Record, free_port, spawn, terminate, wait_ready

SERVER = "postgres exporter"
EXPORTER_BIN = "/usr/bin/prometheus-postgres-exporter"
START_TIMEOUT = 20.0
HTTP_TIMEOUT = 2.0


def start(record: Record, state_dir: Path, database_url: str) -> None:
    """Run the exporter on a free port; the connection string goes in its environment only."""
    work = state_dir / "postgres_exporter"
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    address = f"127.0.0.1:{port}"
    cmd = [EXPORTER_BIN, f"--web.listen-address={address}", "--log.level=warn"]
    # Loopback without TLS: say so, or the driver's default asks the server for TLS first.
    env = {**os.environ, "DATA_SOURCE_NAME": _without_tls(database_url)}
    record.update(spawn(cmd, work / "exporter.log", env=env))
    record["address"] = address
    wait_ready(SERVER, record, lambda: _connected(address), START_TIMEOUT)


def _without_tls(url: str) -> str:
    parts = urlsplit(url)
    query = "&".join(filter(None, [parts.query, "sslmode=disable"]))
    return urlunsplit(parts._replace(query=query))


def _connected(address: str) -> bool:
    """The exporter answers and reaches the database (``pg_up 1``)."""
    text = httpx.get(f"http://{address}/metrics", timeout=HTTP_TIMEOUT).text
    return any(line.strip() == "pg_up 1" for line in text.splitlines())


def stop(record: Record) -> None:
    """SIGTERM the recorded exporter process."""
    terminate(record, SERVER)
