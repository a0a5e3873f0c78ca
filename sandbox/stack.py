"""Stack: start every sandbox server in order, record them in state.json, stop them again."""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from . import (
    base_image,
    docker_engine,
    envfile,
    git_repo,
    nginx,
    pagerduty,
    postgres,
    postgres_exporter,
    prometheus,
    registry,
    s3,
    slack,
    smtp,
    target_db,
)
from ._catalog import load_balanced_services, random_secrets, static_sites
from ._common import REPO_ROOT, Record, SandboxError, ServerError, alive, log, tail
from .packages import ensure_packages

STATE_FILE = "state.json"
ENV_FILE = "sandbox.env"
DAGSTER_YAML = REPO_ROOT / "dagster.yaml"
ENV_ORDER = (  # docs/contracts.md order; the catalog's secrets follow
    "DOCKER_HOST", "REGISTRY_URL", "REGISTRY_USERNAME", "REGISTRY_PASSWORD", "NGINX_BIN",
    "NGINX_PREFIX", "NGINX_CONF", "NGINX_UPSTREAM_DIR", "LB_URLS", "SLACK_API_URL",
    "SLACK_BOT_TOKEN", "DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER",
    "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB", "RELEASE_GIT_URL", "RELEASE_WORK_DIR",
    "RELEASE_BASE_IMAGE", "RELEASE_ENVIRONMENT",
)  # fmt: skip
PROCESS_SERVERS = (
    "docker", "registry", "postgres", "nginx", "slack receiver", "s3", "prometheus",
    "target db", "pagerduty receiver", "smtp receiver", "postgres exporter",
)  # fmt: skip

Step = Callable[[Record], None]


class Stack:
    """The sandbox's servers on 127.0.0.1, with their state under state_dir."""

    def __init__(self, state_dir: Path, example_dir: Path | None = None) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.example_dir = example_dir
        self._state: dict[str, Any] = {}

    # --- public API -------------------------------------------------------------------
    def start(self) -> dict[str, str]:
        """Start everything (in order) and return the contract's env mapping."""
        if self.is_running():
            raise SandboxError(f"sandbox in {self.state_dir} is already running; stop it first")
        if self._load():
            log.info("sandbox: clearing leftovers of an earlier run in %s", self.state_dir)
            self.stop()
        ensure_packages()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        environment = f"sandbox-{secrets.token_hex(4)}"
        self._state = {"environment": environment, "running": True, "servers": {}, "notes": []}
        for name, step in self._steps():
            self._start_one(name, step)
        env = self._build_env()
        self._state["env"] = env
        self._save()
        envfile.write(self.state_dir / ENV_FILE, env)
        return dict(env)

    def stop(self) -> None:
        """Stop, in reverse order, only what this stack recorded that it started."""
        state = self._load() or self._state
        if not state:
            return
        servers: dict[str, Record] = state.get("servers", {})
        registry_url = state.get("env", {}).get("REGISTRY_URL", "")
        stoppers = self._stoppers(state.get("environment", ""), registry_url)
        failures = []
        for name in reversed(list(servers)):
            try:
                stoppers.get(name, lambda record: None)(servers[name])
            except Exception as exc:  # noqa: BLE001 - stop the others anyway
                failures.append(f"{name}: {exc}")
        state["running"] = False
        self._state = state
        self._save()
        if failures:
            raise SandboxError("could not stop everything:\n" + "\n".join(failures))

    def env(self) -> dict[str, str]:
        """The env mapping written by the last start()."""
        state = self._load() or self._state
        if "env" not in state:
            raise SandboxError(f"no sandbox env in {self.state_dir}; run start() (or `up`) first")
        return dict(state["env"])

    def status(self) -> dict[str, str]:
        """One line per server: what runs, with its pid or endpoint."""
        state = self._load()
        return {name: _describe(name, rec) for name, rec in state.get("servers", {}).items()}

    def is_running(self) -> bool:
        """True when state says started and every recorded server process is alive."""
        state = self._load()
        servers = state.get("servers", {})
        return bool(state.get("running")) and all(
            alive(rec) for name, rec in servers.items() if _owns_process(name, rec)
        )

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- internals ------------------------------------------------------------------
    def _steps(self) -> list[tuple[str, Step]]:
        state_dir = self.state_dir

        def docker_host() -> str:
            return str(self._state["servers"]["docker"]["docker_host"])

        def environment() -> str:
            return str(self._state["environment"])

        def database_url() -> str:
            return str(self._state["servers"]["target db"]["env"]["DATABASE_URL"])

        def static_targets() -> dict[str, str]:
            return {"database": str(self._state["servers"]["postgres exporter"]["address"])}

        return [
            ("docker", lambda rec: docker_engine.start(rec, state_dir)),
            ("base image", lambda rec: base_image.ensure(rec, docker_host())),
            ("registry", lambda rec: registry.start(rec, state_dir)),
            ("postgres", lambda rec: postgres.start(rec, state_dir)),
            (
                "nginx",
                lambda rec: nginx.start(rec, state_dir, load_balanced_services(), static_sites()),
            ),
            ("slack receiver", lambda rec: slack.start(rec, state_dir)),
            ("s3", lambda rec: s3.start(rec, state_dir)),
            ("target db", lambda rec: target_db.start(rec, state_dir)),
            ("pagerduty receiver", lambda rec: pagerduty.start(rec, state_dir)),
            ("smtp receiver", lambda rec: smtp.start(rec, state_dir)),
            (
                "postgres exporter",
                lambda rec: postgres_exporter.start(rec, state_dir, database_url()),
            ),
            (
                "prometheus",
                lambda rec: prometheus.start(
                    rec, state_dir, docker_host(), environment(), static_targets()
                ),
            ),
            ("git", lambda rec: git_repo.create(rec, state_dir, self.example_dir)),
        ]

    @staticmethod
    def _stoppers(environment: str, registry_url: str) -> dict[str, Step]:
        return {
            "docker": lambda rec: docker_engine.stop(rec, environment, registry_url),
            "registry": registry.stop,
            "postgres": postgres.stop,
            "nginx": nginx.stop,
            "slack receiver": slack.stop,
            "s3": s3.stop,
            "target db": target_db.stop,
            "pagerduty receiver": pagerduty.stop,
            "smtp receiver": smtp.stop,
            "postgres exporter": postgres_exporter.stop,
            "prometheus": prometheus.stop,
        }

    def _start_one(self, name: str, step: Step) -> None:
        record: Record = {}
        self._state["servers"][name] = record
        log.info("sandbox: starting %s", name)
        try:
            step(record)
        except BaseException as exc:
            self._abort(name, record, exc)
        self._save()

    def _abort(self, name: str, record: Record, exc: BaseException) -> None:
        """Stop what started, then raise an error naming the server and its log tail."""
        self._save()
        try:
            self.stop()
        except SandboxError as stop_error:
            log.error("sandbox: while cleaning up: %s", stop_error)
        if not isinstance(exc, Exception):
            raise exc  # KeyboardInterrupt and friends: cleaned up, now propagate
        message = str(exc) if isinstance(exc, ServerError) else f"{name}: {exc!r}"
        if not isinstance(exc, ServerError) and record.get("log"):
            message += f"\n--- last lines of {record['log']} ---\n{tail(Path(record['log']))}"
        raise SandboxError(
            f"sandbox could not start {name} (everything started before it was stopped again)."
            f"\n{message}"
        ) from exc

    def _build_env(self) -> dict[str, str]:
        env: dict[str, str] = {}
        for record in self._state["servers"].values():
            env.update(record.get("env", {}))
        work_dir = self.state_dir / "work"
        work_dir.mkdir(exist_ok=True)
        env["DAGSTER_HOME"] = str(self._dagster_home())
        env["RELEASE_WORK_DIR"] = str(work_dir)
        env["RELEASE_ENVIRONMENT"] = self._state["environment"]
        ordered = {key: env.pop(key) for key in ENV_ORDER}
        # A secret that a sandbox server provides (DATABASE_URL) keeps the real value.
        randoms = {name: value for name, value in random_secrets().items() if name not in env}
        return {**ordered, **env, **randoms}

    def _dagster_home(self) -> Path:
        home = self.state_dir / "dagster_home"
        home.mkdir(exist_ok=True)
        if DAGSTER_YAML.is_file():
            shutil.copy2(DAGSTER_YAML, home / "dagster.yaml")
        else:
            note = f"{DAGSTER_YAML} does not exist; DAGSTER_HOME has no dagster.yaml"
            log.warning("sandbox: %s", note)
            self._state["notes"].append(note)
        return home

    def _save(self) -> None:
        path = self.state_dir / STATE_FILE
        path.write_text(json.dumps(self._state, indent=2) + "\n")
        path.chmod(0o600)

    def _load(self) -> dict[str, Any]:
        path = self.state_dir / STATE_FILE
        return json.loads(path.read_text()) if path.is_file() else {}


def _owns_process(name: str, record: Record) -> bool:
    if name == "docker":
        return bool(record.get("started"))
    return name in PROCESS_SERVERS and bool(record.get("pid"))


def _describe(name: str, record: Record) -> str:
    if name == "docker" and not record.get("started"):
        return f"shared engine at {record.get('docker_host')} (not ours, never stopped)"
    if _owns_process(name, record):
        state = "running" if alive(record) else "NOT running"
        return f"{state} (pid {record['pid']}, log {record.get('log')})"
    if name == "base image":
        return str(record.get("image"))
    if name == "git":
        return f"{record.get('path')} @ {str(record.get('commit', ''))[:12]}"
    return "no process recorded"
