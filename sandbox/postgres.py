"""PostgreSQL 15 cluster under state_dir/pg, run as an unprivileged system user."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import stat
from pathlib import Path

import psycopg
from psycopg import sql

from ._common import (
    Record,
    ServerError,
    alive,
    free_port,
    log,
    process_record,
    run,
    terminate,
    wait_until,
)

SERVER = "postgres"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
PREFERRED_USER = "postgres"
FALLBACK_USER = "release-sandbox-pg"
SUPERUSER = "postgres"
DB_USER = "dagster"
DB_NAME = "dagster"
START_TIMEOUT = 60
STOP_TIMEOUT = 60
MAX_SOCKET_PATH = 100  # sun_path is 108 bytes, minus "/.s.PGSQL.NNNNN"


def _os_user() -> str | None:
    """System user that runs postgres (it refuses root); None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in (PREFERRED_USER, FALLBACK_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    log.warning("postgres: creating system user %s to run the server", FALLBACK_USER)
    run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", FALLBACK_USER],
        SERVER,
    )
    return FALLBACK_USER


def _as_user(user: str | None, cmd: list[str]) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def _give_to(user: str | None, path: Path) -> None:
    """chown path to user and let that user reach it (o+x on ancestors that lack it)."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if parent.stat().st_uid != entry.pw_uid and not mode & stat.S_IXOTH:
            log.warning("postgres: adding o+x to %s so user %s can reach its data", parent, user)
            parent.chmod(mode | stat.S_IXOTH)


def start(record: Record, state_dir: Path) -> None:
    """initdb (scram, superuser from a pwfile), pg_ctl start, create role and db dagster."""
    user = _os_user()
    work = state_dir / "pg"
    data, sockets, log_path = work / "data", work / "socket", work / "postgres.log"
    if len(str(sockets.resolve())) > MAX_SOCKET_PATH:
        raise ServerError(SERVER, f"socket dir {sockets} is too long; use a shorter state dir")
    work.mkdir(parents=True, exist_ok=True)
    sockets.mkdir(exist_ok=True)
    for path in (work, sockets):
        _give_to(user, path)
    _remove_old_cluster(data)
    superuser_password = secrets.token_hex(16)
    record.update(os_user=user, data=str(data), log=str(log_path))
    _initdb(user, work, data, superuser_password)
    port = free_port()
    try:
        _pg_ctl_start(user, work, data, sockets, log_path, port)
    finally:  # record the postmaster even if pg_ctl gave up waiting, so stop() finds it
        if (data / "postmaster.pid").exists():
            record.update(process_record(_postmaster_pid(data), log_path))
    password = secrets.token_hex(16)
    _create_database(port, superuser_password, password)
    record["env"] = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(port),
        "DAGSTER_PG_USER": DB_USER,
        "DAGSTER_PG_PASSWORD": password,
        "DAGSTER_PG_DB": DB_NAME,
    }
    record["superuser_password"] = superuser_password


def _remove_old_cluster(data: Path) -> None:
    """Each start gets a fresh cluster (new passwords); refuse if one still runs there."""
    if not data.exists():
        return
    pidfile = data / "postmaster.pid"
    if pidfile.exists() and Path(f"/proc/{_postmaster_pid(data)}").exists():
        raise ServerError(SERVER, f"a postgres still runs on {data}; run `scripts/sandbox down`")
    log.info("postgres: removing the previous cluster in %s", data)
    shutil.rmtree(data)


def _initdb(user: str | None, work: Path, data: Path, password: str) -> None:
    pwfile = work / "superuser.pw"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    _give_to(user, pwfile)
    try:
        run(
            _as_user(
                user,
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--no-locale",
                ],
            ),
            SERVER,
            cwd=work,
        )
    finally:
        pwfile.unlink(missing_ok=True)


def _pg_ctl_start(
    user: str | None, work: Path, data: Path, sockets: Path, log_path: Path, port: int
) -> None:
    options = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='{sockets}'"
    cmd = [
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(log_path),
        "-o",
        options,
        "-w",
        "-t",
        str(START_TIMEOUT),
        "start",
    ]
    try:
        run(_as_user(user, cmd), SERVER, cwd=work, start_new_session=True)
    except ServerError as exc:
        raise ServerError(SERVER, f"pg_ctl start failed: {exc}", log_path) from exc


def _postmaster_pid(data: Path) -> int:
    return int((data / "postmaster.pid").read_text().splitlines()[0])


def _create_database(port: int, superuser_password: str, password: str) -> None:
    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=SUPERUSER,
        dbname="postgres",
        password=superuser_password,
        autocommit=True,
    ) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(DB_USER), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DB_NAME), sql.Identifier(DB_USER)
            )
        )


def stop(record: Record) -> None:
    """pg_ctl stop -m fast on our data dir; fall back to SIGINT to the recorded postmaster."""
    if not alive(record):
        return
    data, user = record["data"], record.get("os_user")
    log.info("stopping %s (pid %s)", SERVER, record["pid"])
    cmd = [str(PG_BIN / "pg_ctl"), "-D", data, "stop", "-m", "fast", "-w", "-t", str(STOP_TIMEOUT)]
    try:
        run(_as_user(user, cmd), SERVER, cwd="/")
    except ServerError as exc:
        log.warning("postgres: %s; sending SIGINT to pid %s", exc, record["pid"])
        terminate(record, SERVER, signal.SIGINT)
    wait_until(lambda: not alive(record), STOP_TIMEOUT)
