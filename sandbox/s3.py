"""An S3 API server (moto) on 127.0.0.1, with the platform's buckets created."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

import boto3
import httpx

from ._common import Record, free_port, spawn, terminate, wait_ready

SERVER = "s3"
START_TIMEOUT = 30.0
REGION = "eu-central-1"
BUCKETS = ("trading-backups", "trading-models", "dagster-compute-logs")


def start(record: Record, state_dir: Path) -> None:
    """Run `python -m moto.server` on a free port and create the platform's buckets."""
    work = state_dir / "s3"
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    record.update(spawn(cmd, work / "moto.log"))
    endpoint = f"http://127.0.0.1:{port}"
    record["env"] = {
        "S3_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "sandbox",
        "AWS_SECRET_ACCESS_KEY": secrets.token_hex(16),
        "AWS_DEFAULT_REGION": REGION,
    }
    wait_ready(
        SERVER, record, lambda: httpx.get(endpoint, timeout=2).status_code < 500, START_TIMEOUT
    )
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=record["env"]["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=record["env"]["AWS_SECRET_ACCESS_KEY"],
    )
    for bucket in BUCKETS:
        client.create_bucket(
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION}
        )


def stop(record: Record) -> None:
    """SIGTERM the recorded moto server."""
    terminate(record, SERVER)
