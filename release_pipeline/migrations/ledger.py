"""Migration files as read from a commit, and the ledger of those applied to the database.

The ledger lives in the database it describes (``release_pipeline.ledger``), so it
is backed up and restored with the schema: after a restore it still tells the
truth. A file is identified by its name and the SHA-256 of its raw bytes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path

import psycopg
from psycopg.rows import class_row

from release_pipeline.errors import MigrationError
from release_pipeline.migrations.sql import Statement, split_statements

LEDGER_SCHEMA = "release_pipeline"
FILE_NAME = re.compile(r"^(\d+)_[A-Za-z0-9_.-]+\.sql$")
LEDGER_DDL = """
CREATE SCHEMA IF NOT EXISTS release_pipeline;
CREATE TABLE IF NOT EXISTS release_pipeline.ledger (
    file_name        TEXT PRIMARY KEY,
    sha256           TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    applied_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    approver         TEXT NOT NULL,
    run_id           TEXT NOT NULL,
    plan_hash        TEXT NOT NULL,
    duration_seconds NUMERIC(12, 3) NOT NULL
)
"""


@dataclass(frozen=True)
class MigrationFile:
    """One numbered SQL file, with its exact bytes' hash."""

    name: str
    number: int
    sha256: str
    text: str

    @cached_property
    def statements(self) -> list[Statement]:
        return split_statements(self.text)

    @property
    def non_transactional(self) -> list[Statement]:
        """Statements PostgreSQL refuses inside a transaction; the file then runs outside one."""
        return [statement for statement in self.statements if statement.non_transactional()]


@dataclass(frozen=True)
class MigrationSource:
    """The migration files of one commit, sorted by their numeric prefix."""

    commit: str
    git_ref: str
    files: tuple[MigrationFile, ...]


@dataclass(frozen=True)
class LedgerEntry:
    file_name: str
    sha256: str
    applied_at: datetime
    approver: str
    run_id: str
    plan_hash: str
    duration_seconds: float


def read_migration_files(directory: Path) -> tuple[MigrationFile, ...]:
    """Every ``<number>_<name>.sql`` in ``directory``, in numeric order (2 before 10)."""
    if not directory.is_dir():
        raise MigrationError(f"Migrations directory {directory} does not exist.")
    files = [_read(path) for path in sorted(directory.glob("*.sql"))]
    files.sort(key=lambda file: (file.number, file.name))
    for earlier, later in zip(files, files[1:], strict=False):
        if earlier.number == later.number:
            raise MigrationError(
                f"{earlier.name} and {later.name} share the number {earlier.number}, so their"
                " order is ambiguous. Renumber one of them."
            )
    return tuple(files)


def _read(path: Path) -> MigrationFile:
    match = FILE_NAME.match(path.name)
    if match is None:
        raise MigrationError(
            f"{path.name} is not named <number>_<name>.sql (letters, digits, '_', '.', '-'),"
            " so it has no place in the order. Rename it, for example 013_add_orders.sql."
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MigrationError(f"{path.name} is not UTF-8 text: {exc}.") from None
    return MigrationFile(path.name, int(match[1]), hashlib.sha256(raw).hexdigest(), text)


def ensure_ledger(connection: psycopg.Connection) -> None:
    """Creates the ledger schema and table when missing (the first plan does it)."""
    with connection.transaction():
        for statement in LEDGER_DDL.split(";"):
            connection.execute(statement)


def read_ledger(connection: psycopg.Connection) -> list[LedgerEntry]:
    """Every applied file, in file order; empty when no migration ever ran here."""
    exists = connection.execute("SELECT to_regclass('release_pipeline.ledger')").fetchone()[0]
    if exists is None:
        return []
    with connection.cursor(row_factory=class_row(LedgerEntry)) as cursor:
        entries = cursor.execute(
            "SELECT file_name, sha256, applied_at, approver, run_id, plan_hash,"
            " duration_seconds::float8 AS duration_seconds FROM release_pipeline.ledger"
        ).fetchall()
    return sorted(entries, key=lambda entry: (_number(entry.file_name), entry.file_name))


def record(
    connection: psycopg.Connection,
    file: MigrationFile,
    *,
    approver: str,
    run_id: str,
    plan_hash: str,
    duration_seconds: float,
) -> None:
    connection.execute(
        "INSERT INTO release_pipeline.ledger"
        " (file_name, sha256, approver, run_id, plan_hash, duration_seconds)"
        " VALUES (%s, %s, %s, %s, %s, %s)",
        (file.name, file.sha256, approver, run_id, plan_hash, round(duration_seconds, 3)),
    )


def fingerprint(entries: list[LedgerEntry]) -> str:
    """SHA-256 of every applied file's name and hash: changes whenever the ledger does."""
    lines = "".join(f"{entry.file_name} {entry.sha256}\n" for entry in entries)
    return hashlib.sha256(lines.encode()).hexdigest()


def pending_files(
    files: tuple[MigrationFile, ...], entries: list[LedgerEntry]
) -> tuple[MigrationFile, ...]:
    """The files not applied yet; refuses when the files and the ledger disagree."""
    applied = {entry.file_name: entry for entry in entries}
    by_name = {file.name: file for file in files}
    changed = [
        name
        for name, entry in applied.items()
        if name in by_name and by_name[name].sha256 != entry.sha256
    ]
    if changed:
        raise MigrationError(
            f"Applied migration(s) {', '.join(changed)} changed after they were applied (their"
            " SHA-256 differs from the ledger's). Restore the applied bytes and put the change"
            " in a new numbered file."
        )
    missing = [name for name in applied if name not in by_name]
    if missing:
        raise MigrationError(
            f"Applied migration(s) {', '.join(missing)} are missing from the migrations"
            " directory. Put them back; the ledger records them as applied."
        )
    pending = tuple(file for file in files if file.name not in applied)
    head = max((_number(name) for name in applied), default=-1)
    late = [file.name for file in pending if file.number < head]
    if late:
        raise MigrationError(
            f"{', '.join(late)} sort before files already applied, so they would run out of"
            f" order. Renumber them after {entries[-1].file_name}."
        )
    return pending


def _number(file_name: str) -> int:
    match = FILE_NAME.match(file_name)
    return int(match[1]) if match else -1
