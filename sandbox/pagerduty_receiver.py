"""A fake PagerDuty Events API v2, enough for the pipeline's alerts.

Run: python -m sandbox.pagerduty_receiver --port P --routing-key K --log FILE

- POST /v2/enqueue: validated like Events v2; 202 {"status": "success", "dedup_key": ...}
- GET /_received: events accepted since start or the last /_reset
- POST /_control {"mode": "ok" | "ratelimit" | "error", "count": N}
- POST /_reset: forget received events and go back to mode ok
Every accepted event is also appended to --log as a JSON line (never cleared).
"""

from __future__ import annotations

import argparse
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


class State:
    """Received events and the failure mode, shared by the handler threads."""

    def __init__(self, routing_key: str, log_path: Path) -> None:
        self.routing_key = routing_key
        self.log_path = log_path
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.mode, self.count = "ok", 0

    def control(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.mode, self.count = str(body.get("mode", "ok")), int(body.get("count", 1))

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.mode, self.count = "ok", 0

    def take_failure(self) -> str | None:
        with self.lock:
            if self.mode == "ok" or self.count <= 0:
                return None
            self.count -= 1
            return self.mode

    def record(self, event: dict[str, Any]) -> None:
        with self.lock:
            self.received.append(event)
            with open(self.log_path, "a") as out:
                out.write(json.dumps(event) + "\n")


def problems(event: dict[str, Any], routing_key: str) -> list[str]:
    """What Events v2 would refuse in this event (an empty list when it is valid)."""
    errors = []
    if event.get("routing_key") != routing_key:
        errors.append("Invalid routing key")
    if event.get("event_action") not in ACTIONS:
        errors.append("'event_action' is invalid")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        errors += [
            f"'payload.{name}' is missing"
            for name in ("summary", "source")
            if not payload.get(name)
        ]
        if payload.get("severity") not in SEVERITIES:
            errors.append("'payload.severity' is invalid")
    elif not event.get("dedup_key"):
        errors.append("'dedup_key' is missing")
    return errors


class Handler(BaseHTTPRequestHandler):
    state: State  # set on the class by serve()
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        print(f"{self.address_string()} {format % args}", flush=True)

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if urlsplit(self.path).path == "/_received":
            with self.state.lock:
                self._reply(200, list(self.state.received))
        else:
            self._reply(404, {"status": "not found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._reply(400, {"status": "invalid event", "message": "Invalid JSON"})
            return
        if path == "/_control":
            self.state.control(body)
            self._reply(200, {"status": "ok"})
        elif path == "/_reset":
            self.state.reset()
            self._reply(200, {"status": "ok"})
        elif path == "/v2/enqueue":
            self._enqueue(body)
        else:
            self._reply(404, {"status": "not found"})

    def _enqueue(self, event: dict[str, Any]) -> None:
        failure = self.state.take_failure()
        if failure == "ratelimit":
            self._reply(
                429,
                {
                    "status": "throttle event",
                    "message": "Requests for this service are arriving too quickly.",
                },
            )
            return
        if failure == "error":
            self._reply(500, {"status": "error", "message": "Internal error"})
            return
        errors = problems(event, self.state.routing_key)
        if errors:
            self._reply(
                400,
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
            )
            return
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        self.state.record({**event, "dedup_key": dedup_key})
        self._reply(
            202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}
        )


def serve(port: int, routing_key: str, log_path: Path) -> None:
    """Serve forever on 127.0.0.1:port."""
    Handler.state = State(routing_key, log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.touch()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"pagerduty receiver listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--routing-key", required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.routing_key, args.log)


if __name__ == "__main__":
    main()
