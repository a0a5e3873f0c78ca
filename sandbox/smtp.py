"""Start/stop the loopback mail server, and helpers to read it from tests.

It speaks SMTP the way a submission relay does (STARTTLS, then a login), with a
self-signed certificate for 127.0.0.1 made by ``openssl`` at start; the pipeline
checks it against that certificate (``SMTP_CA_FILE``), as it would a private CA.
"""

from __future__ import annotations

import os
import secrets
import smtplib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ._common import REPO_ROOT, Record, free_port, run, spawn, terminate, wait_ready

SERVER = "smtp receiver"
START_TIMEOUT = 15.0
HTTP_TIMEOUT = 5.0
CERT_DAYS = "7"


def start(record: Record, state_dir: Path) -> None:
    """Make a certificate, run `python -m sandbox.smtp_receiver` on two free ports."""
    work = state_dir / "smtp"
    work.mkdir(parents=True, exist_ok=True)
    cert, key = work / "cert.pem", work / "key.pem"
    run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", CERT_DAYS,
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        SERVER,
    )  # fmt: skip
    key.chmod(0o600)
    port, http_port = free_port(), free_port()
    username, password = "release-pipeline", secrets.token_hex(16)
    mails = work / "messages.jsonl"
    cmd = [sys.executable, "-m", "sandbox.smtp_receiver", "--port", str(port)]
    cmd += ["--http-port", str(http_port), "--username", username, "--password", password]
    cmd += ["--cert", str(cert), "--key", str(key), "--log", str(mails)]
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    record.update(spawn(cmd, work / "receiver.log", env={**os.environ, "PYTHONPATH": path}))
    record["messages"] = str(mails)
    control = f"http://127.0.0.1:{http_port}"
    record["env"] = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_FROM": "release-pipeline@sandbox.invalid",
        "SMTP_TO": "platform-team@sandbox.invalid",
        "SMTP_USERNAME": username,
        "SMTP_PASSWORD": password,
        "SMTP_TLS": "starttls",
        "SMTP_CA_FILE": str(cert),
        "SMTP_RECEIVER_URL": control,
    }
    wait_ready(SERVER, record, lambda: _answers(control, port), START_TIMEOUT)


def _answers(control: str, port: int) -> bool:
    with smtplib.SMTP("127.0.0.1", port, timeout=HTTP_TIMEOUT) as smtp:
        smtp.ehlo()
    return httpx.get(f"{control}/_received", timeout=HTTP_TIMEOUT).is_success


def stop(record: Record) -> None:
    """SIGTERM the recorded receiver process."""
    terminate(record, SERVER)


def smtp_messages(env: Mapping[str, str] = os.environ) -> list[dict[str, Any]]:
    """Messages the server accepted (mail_from, rcpt_tos, subject, from, to, body, tls, login)."""
    reply = httpx.get(f"{env['SMTP_RECEIVER_URL']}/_received", timeout=HTTP_TIMEOUT)
    reply.raise_for_status()
    return list(reply.json())


def smtp_reset(env: Mapping[str, str] = os.environ) -> None:
    """Forget received messages."""
    httpx.post(f"{env['SMTP_RECEIVER_URL']}/_reset", timeout=HTTP_TIMEOUT).raise_for_status()
