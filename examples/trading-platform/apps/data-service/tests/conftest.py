"""`handler` fixture: one raw HTTP request through server/handler.sh under
busybox sh, as the image runs it. Tests using it skip without busybox."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

APP_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str

    def json(self):
        return json.loads(self.body)


@pytest.fixture
def handler(tmp_path):
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox is not installed")

    def request(method, path, body=None, headers=None, env=None):
        payload = json.dumps(body).encode() if body is not None else b""
        lines = [f"{method} {path} HTTP/1.1", "Host: test"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if payload:
            lines.append(f"Content-Length: {len(payload)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        environment = {
            "PATH": "/usr/bin:/bin",
            "STATE_DIR": str(tmp_path),
            "RUNTIME_ENV": str(tmp_path / "runtime.env"),
            **(env or {}),
        }
        done = subprocess.run(
            [busybox, "sh", str(APP_ROOT / "server" / "handler.sh")],
            input=raw, capture_output=True, env=environment, timeout=20, check=True,
        )
        head, _, text = done.stdout.decode().partition("\r\n\r\n")
        status_line, *header_lines = head.split("\r\n")
        parsed = {k.lower(): v for k, _, v in (line.partition(": ") for line in header_lines)}
        assert int(parsed["content-length"]) == len(text.encode()), "Content-Length matches"
        return Answer(int(status_line.split()[1]), parsed, text)

    return request
