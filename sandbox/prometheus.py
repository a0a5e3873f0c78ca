"""Prometheus (Debian's) on 127.0.0.1, scraping this sandbox's containers every second.

Targets come from Docker service discovery: only containers labelled
``release_pipeline.environment=<this sandbox>``, scraped on the port they
publish on 127.0.0.1. Their labels ``release_pipeline.service``, ``.color``
(the track: blue, green, stable, canary) and ``.version`` become the metric
labels ``service``, ``track`` and ``version``, so a query can be scoped to a
canary. Servers that are not containers (the database's exporter) are static
targets labelled with the ``service`` they measure.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from ._common import Record, free_port, spawn, terminate, wait_ready

SERVER = "prometheus"
PROMETHEUS_BIN = "/usr/bin/prometheus"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 2.0
SCRAPE_INTERVAL = "1s"
ENV_LABEL = "release_pipeline.environment"
META = "__meta_docker_container_label_release_pipeline_"
# container label (after "release_pipeline.") -> metric label
TARGET_LABELS = {"service": "service", "color": "track", "version": "version"}


def config(
    docker_host: str, environment: str, static_targets: dict[str, str] | None = None
) -> dict[str, object]:
    """The prometheus.yml of one sandbox; ``static_targets`` maps a service to an address."""
    public_ip = {"source_labels": ["__meta_docker_port_public_ip"], "regex": "127\\.0\\.0\\.1"}
    relabel: list[dict[str, object]] = [
        {**public_ip, "action": "keep"},
        {
            "source_labels": ["__meta_docker_port_public"],
            "regex": "(.+)",
            "target_label": "__address__",
            "replacement": "127.0.0.1:$1",
        },
    ]
    relabel += [
        {"source_labels": [META + source], "target_label": target}
        for source, target in TARGET_LABELS.items()
    ]
    return {
        "global": {
            "scrape_interval": SCRAPE_INTERVAL,
            "scrape_timeout": SCRAPE_INTERVAL,
            "evaluation_interval": SCRAPE_INTERVAL,
        },
        "scrape_configs": [
            {
                "job_name": "sandbox_containers",
                "docker_sd_configs": [
                    {
                        "host": docker_host,
                        "refresh_interval": SCRAPE_INTERVAL,
                        "filters": [{"name": "label", "values": [f"{ENV_LABEL}={environment}"]}],
                    }
                ],
                "relabel_configs": relabel,
            },
            *(
                {
                    "job_name": f"sandbox_{service}",
                    "static_configs": [{"targets": [address], "labels": {"service": service}}],
                }
                for service, address in (static_targets or {}).items()
            ),
        ],
    }


def start(
    record: Record,
    state_dir: Path,
    docker_host: str,
    environment: str,
    static_targets: dict[str, str] | None = None,
) -> None:
    """Write the config, start prometheus on a free port with its data under state_dir."""
    work = state_dir / "prometheus"
    (work / "data").mkdir(parents=True, exist_ok=True)
    config_file = work / "prometheus.yml"
    settings = config(docker_host, environment, static_targets)
    config_file.write_text(yaml.safe_dump(settings, sort_keys=False))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        PROMETHEUS_BIN,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={work / 'data'}",
        "--storage.tsdb.retention.time=1d",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    record.update(spawn(cmd, work / "prometheus.log"))
    record.update(url=url, env={"PROMETHEUS_URL": url})
    wait_ready(SERVER, record, lambda: _ready(url), START_TIMEOUT)


def _ready(url: str) -> bool:
    return httpx.get(f"{url}/-/ready", timeout=HTTP_TIMEOUT).status_code == 200


def stop(record: Record) -> None:
    """SIGTERM the recorded prometheus process."""
    terminate(record, SERVER)
