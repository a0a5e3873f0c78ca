"""Start/stop the fake Slack receiver, and helpers to read and steer it from tests."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ._common import REPO_ROOT, Record, free_port, spawn, terminate, wait_ready

SERVER = "slack receiver"
START_TIMEOUT = 15.0
HTTP_TIMEOUT = 5.0


def start(record: Record, state_dir: Path) -> None:
    """Run `python -m sandbox.slack_receiver` on a free port with a random bot token."""
    work = state_dir / "slack"
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    token = f"xoxb-sandbox-{secrets.token_hex(12)}"
    messages = work / "messages.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "sandbox.slack_receiver",
        "--port",
        str(port),
        "--token",
        token,
        "--log",
        str(messages),
    ]
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    record.update(spawn(cmd, work / "receiver.log", env={**os.environ, "PYTHONPATH": path}))
    record["messages"] = str(messages)
    api_url = f"http://127.0.0.1:{port}/api/"
    record["env"] = {"SLACK_API_URL": api_url, "SLACK_BOT_TOKEN": token}
    wait_ready(SERVER, record, lambda: _answers(api_url, token), START_TIMEOUT)


def _answers(api_url: str, token: str) -> bool:
    reply = httpx.post(
        f"{api_url}auth.test", headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT
    )
    return bool(reply.json().get("ok"))


def stop(record: Record) -> None:
    """SIGTERM the recorded receiver process."""
    terminate(record, SERVER)


def _root(env: Mapping[str, str]) -> str:
    return env["SLACK_API_URL"].removesuffix("/").removesuffix("/api")


def slack_messages(env: Mapping[str, str] = os.environ) -> list[dict[str, Any]]:
    """Messages the receiver accepted (channel, text, blocks, attachments, ts)."""
    reply = httpx.get(f"{_root(env)}/_received", timeout=HTTP_TIMEOUT)
    reply.raise_for_status()
    return list(reply.json())


def slack_control(
    env: Mapping[str, str] = os.environ, mode: str = "ok", count: int = 1, retry_after: int = 1
) -> None:
    """Answer the next `count` API calls with 429 ('ratelimit') or 500 ('error'); 'ok' clears."""
    body = {"mode": mode, "count": count, "retry_after": retry_after}
    httpx.post(f"{_root(env)}/_control", json=body, timeout=HTTP_TIMEOUT).raise_for_status()


def slack_reset(env: Mapping[str, str] = os.environ) -> None:
    """Forget received messages and return to mode ok."""
    httpx.post(f"{_root(env)}/_reset", timeout=HTTP_TIMEOUT).raise_for_status()
