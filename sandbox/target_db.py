"""The platform's own PostgreSQL 15 (the database that migrations change), apart from Dagster's.

A second cluster under state_dir/target_pg, started like sandbox/postgres.py's, with one
role and one database, both named ``trading``. The role may create databases so that the
tests can give each case a database of its own; a production migration role needs no such
right.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import psycopg
from psycopg import sql

from . import postgres
from ._common import Record, ServerError, free_port, process_record

SERVER = "target db"
ROLE = "trading"
DB_NAME = "trading"


def start(record: Record, state_dir: Path) -> None:
    """initdb, pg_ctl start on a free port, create role and database ``trading``."""
    user = postgres._os_user()
    work = state_dir / "target_pg"
    data, sockets, log_path = work / "data", work / "socket", work / "postgres.log"
    if len(str(sockets.resolve())) > postgres.MAX_SOCKET_PATH:
        raise ServerError(SERVER, f"socket dir {sockets} is too long; use a shorter state dir")
    sockets.mkdir(parents=True, exist_ok=True)
    for path in (work, sockets):
        postgres._give_to(user, path)
    postgres._remove_old_cluster(data)
    superuser_password = secrets.token_hex(16)
    record.update(os_user=user, data=str(data), log=str(log_path))
    postgres._initdb(user, work, data, superuser_password)
    port = free_port()
    try:
        postgres._pg_ctl_start(user, work, data, sockets, log_path, port)
    finally:  # record the postmaster even if pg_ctl gave up waiting, so stop() finds it
        if (data / "postmaster.pid").exists():
            record.update(process_record(postgres._postmaster_pid(data), log_path))
    password = secrets.token_hex(16)
    _create_role_and_database(port, superuser_password, password)
    record["superuser_password"] = superuser_password
    record["env"] = {"DATABASE_URL": f"postgresql://{ROLE}:{password}@127.0.0.1:{port}/{DB_NAME}"}


def _create_role_and_database(port: int, superuser_password: str, password: str) -> None:
    with psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=postgres.SUPERUSER,
        dbname="postgres",
        password=superuser_password,
        autocommit=True,
    ) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(password)
            )
        )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DB_NAME), sql.Identifier(ROLE)
            )
        )


def stop(record: Record) -> None:
    """pg_ctl stop -m fast on our data dir (the same shutdown as Dagster's cluster)."""
    postgres.stop(record)
