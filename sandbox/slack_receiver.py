"""A fake Slack Web API, enough for slack_sdk's WebClient.

Run: python -m sandbox.slack_receiver --port P --token T --log FILE

- POST /api/chat.postMessage, /api/auth.test (Bearer token or `token` field must match)
- GET /_received: messages accepted since start or the last /_reset
- POST /_control {"mode": "ok" | "ratelimit" | "error", "count": N, "retry_after": S}
- POST /_reset: forget received messages and go back to mode ok
Every accepted message is also appended to --log as a JSON line (never cleared).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

MESSAGE_FIELDS = ("channel", "text", "blocks", "attachments", "thread_ts", "username")
JSON_FIELDS = ("blocks", "attachments")  # JSON strings when sent form-encoded


class State:
    """Received messages and the failure mode, shared by the handler threads."""

    def __init__(self, token: str, log_path: Path) -> None:
        self.token = token
        self.log_path = log_path
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []
        self.mode = "ok"
        self.count = 0
        self.retry_after = 1

    def control(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.mode = str(body.get("mode", "ok"))
            self.count = int(body.get("count", 1))
            self.retry_after = int(body.get("retry_after", 1))

    def reset(self) -> None:
        with self.lock:
            self.received.clear()
            self.mode, self.count = "ok", 0

    def take_failure(self) -> str | None:
        """The failure mode for this call if one is pending ('ratelimit' or 'error')."""
        with self.lock:
            if self.mode == "ok" or self.count <= 0:
                return None
            self.count -= 1
            mode = self.mode
            if self.count == 0:
                self.mode = "ok"
            return mode

    def record(self, message: dict[str, Any]) -> None:
        with self.lock:
            self.received.append(message)
            with open(self.log_path, "a") as out:
                out.write(json.dumps(message) + "\n")


class Handler(BaseHTTPRequestHandler):
    state: State  # set on the class by serve()
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        print(f"{self.address_string()} {format % args}", flush=True)

    def _reply(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict[str, Any]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        fields: dict[str, Any] = dict(parse_qsl(urlsplit(self.path).query))
        if "json" in (self.headers.get("Content-Type") or ""):
            fields.update(json.loads(raw or "{}"))
        elif raw:
            fields.update(parse_qsl(raw, keep_blank_values=True))
        for name in JSON_FIELDS:
            if isinstance(fields.get(name), str):
                fields[name] = json.loads(fields[name])
        return fields

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        if urlsplit(self.path).path == "/_received":
            with self.state.lock:
                self._reply(200, list(self.state.received))
        else:
            self._reply(404, {"ok": False, "error": "not_found"})

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        path = urlsplit(self.path).path
        try:
            body = self._body()
        except ValueError:
            self._reply(400, {"ok": False, "error": "invalid_json"})
            return
        if path == "/_control":
            self.state.control(body)
            self._reply(200, {"ok": True})
        elif path == "/_reset":
            self.state.reset()
            self._reply(200, {"ok": True})
        elif path.startswith("/api/"):
            self._api(path.removeprefix("/api/"), body)
        else:
            self._reply(404, {"ok": False, "error": "not_found"})

    def _authorized(self, body: dict[str, Any]) -> bool:
        header = self.headers.get("Authorization") or ""
        token = header.removeprefix("Bearer ").strip() or str(body.get("token", ""))
        return token == self.state.token

    def _api(self, method: str, body: dict[str, Any]) -> None:
        if not self._authorized(body):
            self._reply(200, {"ok": False, "error": "invalid_auth"})
            return
        failure = self.state.take_failure()
        if failure == "ratelimit":
            retry = str(self.state.retry_after)
            self._reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": retry})
        elif failure == "error":
            self._reply(500, {"ok": False, "error": "internal_error"})
        elif method == "auth.test":
            self._reply(
                200,
                {
                    "ok": True,
                    "url": "https://sandbox.slack.local/",
                    "team": "sandbox",
                    "user": "release-bot",
                    "team_id": "T0SANDBOX",
                    "user_id": "U0SANDBOX",
                    "bot_id": "B0SANDBOX",
                },
            )
        elif method == "chat.postMessage":
            self._post_message(body)
        else:
            self._reply(200, {"ok": False, "error": "unknown_method"})

    def _post_message(self, body: dict[str, Any]) -> None:
        if not body.get("channel"):
            self._reply(200, {"ok": False, "error": "channel_not_found"})
            return
        ts = f"{time.time():.6f}"
        message = {name: body[name] for name in MESSAGE_FIELDS if name in body}
        self.state.record({**message, "ts": ts})
        reply = {key: value for key, value in message.items() if key != "channel"}
        self._reply(
            200,
            {
                "ok": True,
                "channel": body["channel"],
                "ts": ts,
                "message": {"type": "message", "bot_id": "B0SANDBOX", "ts": ts, **reply},
            },
        )


def serve(port: int, token: str, log_path: Path) -> None:
    """Serve forever on 127.0.0.1:port."""
    Handler.state = State(token, log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.touch()
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"slack receiver listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    serve(args.port, args.token, args.log)


if __name__ == "__main__":
    main()
