"""A loopback mail server (aiosmtpd) that keeps what it receives, for the pipeline's email alerts.

Run: python -m sandbox.smtp_receiver --port P --http-port H --username U --password W
     --cert CERT --key KEY --log FILE

SMTP on 127.0.0.1:P as a submission server: STARTTLS with the given certificate,
then AUTH (PLAIN or LOGIN) with the one user, both required before MAIL.
A small HTTP API on 127.0.0.1:H lets tests read it:

- GET /_received: messages accepted since start or the last /_reset, each
  {mail_from, rcpt_tos, subject, from, to, body, tls, login}
- POST /_reset: forget them

Every accepted message is also appended to --log as a JSON line (never cleared).
"""

from __future__ import annotations

import argparse
import json
import ssl
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Mailbox:
    """Accepted messages, shared by the SMTP thread and the HTTP threads."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(message["Subject"] or ""),
            "from": str(message["From"] or ""),
            "to": str(message["To"] or ""),
            "body": body.get_content() if body is not None else "",
            "tls": session.ssl is not None,
            "login": (session.auth_data or b"").decode(errors="replace"),
        }
        with self.lock:
            self.received.append(record)
            with open(self.log_path, "a") as out:
                out.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.received)

    def reset(self) -> None:
        with self.lock:
            self.received.clear()


def authenticator(username: str, password: str):
    """Accepts exactly one user and password, like a submission server with one account."""

    def check(server, session, envelope, mechanism, auth_data) -> AuthResult:
        good = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=good, handled=False, auth_data=auth_data.login if good else None)

    return check


def control_server(port: int, mailbox: Mailbox) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's hook
            if self.path != "/_received":
                self._answer(404, {"error": "not found"})
                return
            self._answer(200, mailbox.snapshot())

        def do_POST(self) -> None:  # noqa: N802 - http.server's hook
            if self.path != "/_reset":
                self._answer(404, {"error": "not found"})
                return
            mailbox.reset()
            self._answer(200, {"ok": True})

        def _answer(self, status: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return ThreadingHTTPServer(("127.0.0.1", port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()

    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(args.cert, args.key)
    mailbox = Mailbox(args.log)
    smtp = Controller(
        mailbox,
        hostname="127.0.0.1",
        port=args.port,
        server_hostname="sandbox-smtp",
        tls_context=tls,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator(args.username, args.password),
    )
    smtp.start()
    try:
        control_server(args.http_port, mailbox).serve_forever()
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
