"""Applying a plan file by file, and checking the schema the catalog expects afterwards.

Each file runs in its own transaction together with its ledger row, so a file is
either applied and recorded or not there at all. A file that holds a statement
PostgreSQL refuses in a transaction (``CREATE INDEX CONCURRENTLY``, ``VACUUM``...)
runs alone, statement by statement, and is recorded once all of them succeeded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dagster as dg
import psycopg

from release_pipeline.catalog import Migrations
from release_pipeline.errors import MigrationError
from release_pipeline.migrations import ledger
from release_pipeline.migrations.ledger import MigrationFile
from release_pipeline.migrations.plan import Plan, describe_error, run_statements

FUNCTION_EXISTS = """
SELECT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = %s AND p.proname = %s)
"""


@dataclass(frozen=True)
class AppliedFile:
    name: str
    sha256: str
    seconds: float
    outside_transaction: bool


def apply_plan(
    connection: psycopg.Connection,
    plan: Plan,
    *,
    approver: str,
    run_id: str,
    log: dg.DagsterLogManager,
) -> list[AppliedFile]:
    """Applies the plan's files in order; the first error stops it, naming the state left."""
    applied: list[AppliedFile] = []
    for file in plan.pending:
        started = time.monotonic()
        outside = bool(file.non_transactional)
        try:
            if outside:
                _apply_outside_transaction(connection, file)
            else:
                with connection.transaction():
                    run_statements(connection, file, file.statements)
                    _record(connection, file, plan, approver, run_id, started)
        except MigrationError as exc:
            raise MigrationError(_state_after_failure(str(exc), file, plan, applied)) from None
        if outside:
            _record(connection, file, plan, approver, run_id, started)
        connection.execute("RESET ALL")  # a file's SET (search_path...) must not reach the next
        seconds = round(time.monotonic() - started, 3)
        applied.append(AppliedFile(file.name, file.sha256, seconds, outside))
        how = " outside a transaction" if outside else ""
        log.info(f"Applied {file.name}{how} in {seconds:.2f} s and recorded it in the ledger.")
    return applied


def _apply_outside_transaction(connection: psycopg.Connection, file: MigrationFile) -> None:
    for number, statement in enumerate(file.statements, start=1):
        try:
            connection.execute(statement.text)
        except psycopg.Error as exc:
            done = (
                f"statements 1-{number - 1} of it stay applied"
                if number > 1
                else "nothing of it ran"
            )
            leftover = ""
            if statement.non_transactional() in (
                "CREATE INDEX CONCURRENTLY",
                "REINDEX CONCURRENTLY",
            ):
                leftover = (
                    " A failed concurrent index build leaves an INVALID index: drop it first."
                )
            raise MigrationError(
                f"{describe_error(file, statement, exc)}. It ran outside a transaction, so"
                f" {done} and it is not recorded in the ledger.{leftover}"
            ) from None


def _record(
    connection, file: MigrationFile, plan: Plan, approver: str, run_id: str, started: float
) -> None:
    ledger.record(
        connection,
        file,
        approver=approver,
        run_id=run_id,
        plan_hash=plan.plan_hash,
        duration_seconds=time.monotonic() - started,
    )


def _state_after_failure(
    error: str, file: MigrationFile, plan: Plan, applied: list[AppliedFile]
) -> str:
    names = plan.file_names
    not_applied = names[names.index(file.name) :]
    if file.non_transactional:
        what = error
    else:
        what = f"{error}. Its transaction was rolled back: none of {file.name} is applied"
    if applied:
        done = ", ".join(item.name for item in applied)
        head = f"Applied and recorded before it: {done} (ledger head now {applied[-1].name})."
    else:
        head = f"Nothing was applied by this run (ledger head still {plan.ledger_head or 'empty'})."
    return (
        f"Migration {file.name} failed: {what}. {head} Not applied: {', '.join(not_applied)}."
        " Fix the file in a new commit, then plan and approve again."
    )


def verify_schema(connection: psycopg.Connection, strategy: Migrations) -> dict[str, object]:
    """Checks the catalog's tables, functions and smoke queries; returns what it saw."""
    problems, counts = [], {}
    for table in strategy.expected_tables:
        if connection.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
            problems.append(f"table {table} is missing")
    for function in strategy.expected_functions:
        schema, name = function.split(".", 1)
        if not connection.execute(FUNCTION_EXISTS, (schema, name)).fetchone()[0]:
            problems.append(f"function {function} is missing")
    for query in strategy.smoke_queries:
        try:
            with connection.transaction(force_rollback=True):
                connection.execute("SET TRANSACTION READ ONLY")
                counts[query] = str(connection.execute(query).fetchone())
        except psycopg.Error as exc:
            problems.append(f"smoke query {query!r} failed: {exc.diag.message_primary or exc}")
    if problems:
        raise MigrationError(
            "The migrations are applied and recorded, but the schema check failed: "
            + "; ".join(problems)
            + ". Fix forward with a new migration, or restore the plan's backup (the restore job)."
        )
    return {
        "tables": len(strategy.expected_tables),
        "functions": len(strategy.expected_functions),
        "smoke": counts,
    }
