"""The plan (pending files bound to the ledger they follow) and its dry run.

The plan hash covers the pending files' names and SHA-256 and a fingerprint of
the whole ledger. An approval names a plan hash, so it covers exactly those bytes
applied on top of exactly that ledger, whatever commit they came from.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import psycopg

from release_pipeline.errors import MigrationError
from release_pipeline.migrations import ledger
from release_pipeline.migrations.ledger import LedgerEntry, MigrationFile, MigrationSource

# Validation holds the locks its DDL takes until it rolls back; it must not queue
# behind (and so in front of) the platform's own queries for long.
VALIDATION_LOCK_TIMEOUT = "5s"
VALIDATION_STATEMENT_TIMEOUT = "5min"


@dataclass(frozen=True)
class Plan:
    """What an apply would do: these files, in this order, after this ledger."""

    commit: str
    git_ref: str
    pending: tuple[MigrationFile, ...]
    ledger_head: str
    ledger_fingerprint: str
    plan_hash: str

    @property
    def is_empty(self) -> bool:
        return not self.pending

    @property
    def file_names(self) -> list[str]:
        return [file.name for file in self.pending]

    def summary(self) -> dict[str, object]:
        """The facts an approval records and an approver reads."""
        return {
            "commit": self.commit,
            "git_ref": self.git_ref,
            "files": {file.name: file.sha256 for file in self.pending},
            "outside_transaction": [f.name for f in self.pending if f.non_transactional],
            "ledger_head": self.ledger_head,
            "ledger_fingerprint": self.ledger_fingerprint,
        }


@dataclass(frozen=True)
class FileCheck:
    """How one pending file fared in the dry run."""

    name: str
    statements: int
    outside_transaction: tuple[str, ...]  # "line 3: CREATE INDEX CONCURRENTLY"

    @property
    def validated(self) -> bool:
        return not self.outside_transaction


def make_plan(source: MigrationSource, entries: list[LedgerEntry]) -> Plan:
    pending = ledger.pending_files(source.files, entries)
    fingerprint = ledger.fingerprint(entries)
    return Plan(
        commit=source.commit,
        git_ref=source.git_ref,
        pending=pending,
        ledger_head=entries[-1].file_name if entries else "",
        ledger_fingerprint=fingerprint,
        plan_hash=plan_hash(fingerprint, pending),
    )


def plan_hash(ledger_fingerprint: str, pending: tuple[MigrationFile, ...]) -> str:
    body = {"ledger": ledger_fingerprint, "pending": [[f.name, f.sha256] for f in pending]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def validate(connection: psycopg.Connection, plan: Plan) -> list[FileCheck]:
    """Applies the pending files in one transaction and rolls it back.

    Files with statements that cannot run in a transaction are not executed here;
    they are flagged, and the apply runs them outside one.
    """
    checks = [_check_file(file) for file in plan.pending]
    with connection.transaction(force_rollback=True):
        connection.execute(f"SET LOCAL lock_timeout = '{VALIDATION_LOCK_TIMEOUT}'")
        connection.execute(f"SET LOCAL statement_timeout = '{VALIDATION_STATEMENT_TIMEOUT}'")
        for file, check in zip(plan.pending, checks, strict=True):
            if check.validated:
                run_statements(connection, file, file.statements)
    return checks


def _check_file(file: MigrationFile) -> FileCheck:
    control = [statement for statement in file.statements if statement.is_transaction_control()]
    if control:
        raise MigrationError(
            f"{file.name} line {control[0].line}: transaction control ({control[0].code[:30]})"
            " is not allowed; the pipeline runs each file in its own transaction. Remove it."
        )
    if not file.statements:
        raise MigrationError(f"{file.name} contains no SQL statement.")
    flagged = tuple(
        f"line {statement.line}: {statement.non_transactional()}"
        for statement in file.non_transactional
    )
    return FileCheck(file.name, len(file.statements), flagged)


def run_statements(connection: psycopg.Connection, file: MigrationFile, statements) -> None:
    """Executes statements in order; an error names the file, its line and PostgreSQL's words."""
    for statement in statements:
        try:
            connection.execute(statement.text)
        except psycopg.Error as exc:
            raise MigrationError(describe_error(file, statement, exc)) from None


def describe_error(file: MigrationFile, statement, exc: psycopg.Error) -> str:
    line = statement.line_of(exc.diag.statement_position)
    words = exc.diag.message_primary or str(exc).splitlines()[0]
    where = f" ({exc.diag.context.strip().splitlines()[-1]})" if exc.diag.context else ""
    return f"{file.name} line {line}: {words} [SQLSTATE {exc.sqlstate}]{where}"
