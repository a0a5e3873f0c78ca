"""CLI: python -m sandbox up|down|status|env [--state-dir DIR]."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from . import envfile
from ._common import REPO_ROOT, SandboxError
from .stack import ENV_FILE, Stack

DEFAULT_STATE_DIR = REPO_ROOT / ".sandbox"
ROOT_ENV_FILE = REPO_ROOT / ".env"


def _endpoints(env: dict[str, str]) -> list[tuple[str, str]]:
    rows = [
        ("docker", env["DOCKER_HOST"]),
        ("registry", f"{env['REGISTRY_URL']}  (user {env['REGISTRY_USERNAME']})"),
        (
            "postgres",
            f"{env['DAGSTER_PG_HOST']}:{env['DAGSTER_PG_PORT']}  "
            f"(db {env['DAGSTER_PG_DB']}, user {env['DAGSTER_PG_USER']})",
        ),
    ]
    rows += [
        (f"nginx {pair.split('=')[0]}", pair.split("=", 1)[1]) for pair in env["LB_URLS"].split(",")
    ]
    rows += [
        ("nginx upstreams", env["NGINX_UPSTREAM_DIR"]),
        ("slack api", env["SLACK_API_URL"]),
        ("target db", _without_password(env.get("DATABASE_URL", ""))),
        ("pagerduty events", env.get("PAGERDUTY_EVENTS_URL", "")),
        ("smtp (starttls)", f"{env.get('SMTP_HOST', '')}:{env.get('SMTP_PORT', '')}"),
        ("smtp received", f"{env.get('SMTP_RECEIVER_URL', '')}/_received"),
        ("prometheus", env.get("PROMETHEUS_URL", "")),
        ("git (main)", env["RELEASE_GIT_URL"]),
        ("base image", env["RELEASE_BASE_IMAGE"]),
        ("environment", env["RELEASE_ENVIRONMENT"]),
        ("dagster home", env["DAGSTER_HOME"]),
        ("work dir", env["RELEASE_WORK_DIR"]),
    ]
    return rows


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}  (db {parts.path.lstrip('/')}, user {parts.username})"


def _table(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"  {name:<{width}}  {value}" for name, value in rows)


def up(stack: Stack) -> int:
    if stack.is_running():
        print(f"sandbox is already up (state in {stack.state_dir})")
    else:
        started = time.monotonic()
        stack.start()
        print(f"sandbox is up after {time.monotonic() - started:.1f} s")
    env = stack.env()
    envfile.write(ROOT_ENV_FILE, env)
    print(_table(_endpoints(env)))
    print(f"env file: {stack.state_dir / ENV_FILE} (copied to {ROOT_ENV_FILE})")
    return 0


def down(stack: Stack) -> int:
    if not stack.status():
        print(f"no sandbox state in {stack.state_dir}; nothing to stop")
        return 0
    try:
        ours: str | None = envfile.render(stack.env())
    except SandboxError:  # never started completely: no env written
        ours = None
    stack.stop()
    if ROOT_ENV_FILE.is_file() and ROOT_ENV_FILE.read_text() == ours:
        ROOT_ENV_FILE.unlink()  # only the .env this stack wrote: its endpoints are gone now
        print(f"removed {ROOT_ENV_FILE}")
    print(f"sandbox is down (state kept in {stack.state_dir})")
    return 0


def status(stack: Stack) -> int:
    lines = stack.status()
    if not lines:
        print(f"no sandbox state in {stack.state_dir}")
        return 1
    running = stack.is_running()
    print(f"sandbox is {'up' if running else 'DOWN'} (state in {stack.state_dir})")
    print(_table(list(lines.items())))
    return 0 if running else 1


def show_env(stack: Stack) -> int:
    for key, value in stack.env().items():
        print(f"{key}={envfile.quote(value)}")
    return 0


COMMANDS = {"up": up, "down": down, "status": status, "env": show_env}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox", description="Release pipeline sandbox")
    parser.add_argument("command", choices=COMMANDS, help="status exits 1 when not up")
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument(
        "--example-dir",
        type=Path,
        default=None,
        help="platform to put in the git repo (default examples/trading-platform)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command](Stack(args.state_dir, args.example_dir))
    except SandboxError as exc:
        print(f"sandbox {args.command} failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
