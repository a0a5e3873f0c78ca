"""Start/stop the fake PagerDuty receiver, and helpers to read and steer it from tests."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ._common import REPO_ROOT, Record, free_port, spawn, terminate, wait_ready

SERVER = "pagerduty receiver"
START_TIMEOUT = 15.0
HTTP_TIMEOUT = 5.0


def start(record: Record, state_dir: Path) -> None:
    """Run `python -m sandbox.pagerduty_receiver` on a free port with a random routing key."""
    work = state_dir / "pagerduty"
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    routing_key = secrets.token_hex(16)
    events = work / "events.jsonl"
    cmd = [sys.executable, "-m", "sandbox.pagerduty_receiver", "--port", str(port)]
    cmd += ["--routing-key", routing_key, "--log", str(events)]
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    record.update(spawn(cmd, work / "receiver.log", env={**os.environ, "PYTHONPATH": path}))
    record["events"] = str(events)
    root = f"http://127.0.0.1:{port}"
    record["env"] = {
        "PAGERDUTY_EVENTS_URL": f"{root}/v2/enqueue",
        "PAGERDUTY_ROUTING_KEY": routing_key,
    }
    wait_ready(
        SERVER, record, lambda: httpx.get(f"{root}/_received", timeout=2).is_success, START_TIMEOUT
    )


def stop(record: Record) -> None:
    """SIGTERM the recorded receiver process."""
    terminate(record, SERVER)


def _root(env: Mapping[str, str]) -> str:
    return env["PAGERDUTY_EVENTS_URL"].removesuffix("/v2/enqueue")


def pagerduty_events(env: Mapping[str, str] = os.environ) -> list[dict[str, Any]]:
    """Events the receiver accepted (routing_key, event_action, dedup_key, payload)."""
    reply = httpx.get(f"{_root(env)}/_received", timeout=HTTP_TIMEOUT)
    reply.raise_for_status()
    return list(reply.json())


def pagerduty_control(
    env: Mapping[str, str] = os.environ, mode: str = "ok", count: int = 1
) -> None:
    """Answer the next `count` events with 429 ('ratelimit') or 500 ('error'); 'ok' clears."""
    body = {"mode": mode, "count": count}
    httpx.post(f"{_root(env)}/_control", json=body, timeout=HTTP_TIMEOUT).raise_for_status()


def pagerduty_reset(env: Mapping[str, str] = os.environ) -> None:
    """Forget received events and return to mode ok."""
    httpx.post(f"{_root(env)}/_reset", timeout=HTTP_TIMEOUT).raise_for_status()
