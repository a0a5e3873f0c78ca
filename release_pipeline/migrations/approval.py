"""Approvals: who asked for which plan hash, who approved it, until when, and what used it.

They live in the target database's ``release_pipeline_audit`` schema, which
backups leave out: a restore never erases who approved what, the restore included.
OSS Dagster has no user identity, so the names are what people type; the table
refuses an approver equal to the requester, and every check below repeats it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import psycopg
from psycopg.rows import class_row

from release_pipeline.errors import ApprovalRefused

AUDIT_SCHEMA = "release_pipeline_audit"
Kind = Literal["migration", "restore"]
APPROVALS_DDL = """
CREATE SCHEMA IF NOT EXISTS release_pipeline_audit;
CREATE TABLE IF NOT EXISTS release_pipeline_audit.approvals (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('migration', 'restore')),
    plan_hash      TEXT NOT NULL,
    summary        JSONB NOT NULL,
    requested_by   TEXT NOT NULL CHECK (btrim(requested_by) <> ''),
    requested_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    request_run_id TEXT NOT NULL,
    approved_by    TEXT,
    approved_at    TIMESTAMPTZ,
    expires_at     TIMESTAMPTZ,
    approve_run_id TEXT,
    used_by_run_id TEXT,
    used_at        TIMESTAMPTZ,
    CHECK (lower(btrim(approved_by)) <> lower(btrim(requested_by)))
)
"""
COLUMNS = (
    "id, kind, plan_hash, summary, requested_by, requested_at, request_run_id, approved_by,"
    " approved_at, expires_at, approve_run_id, used_by_run_id, now() AS checked_at"
)


@dataclass(frozen=True)
class Approval:
    """One request for approval and, once given, the approval itself."""

    id: int
    kind: str
    plan_hash: str
    summary: dict
    requested_by: str
    requested_at: datetime
    request_run_id: str
    approved_by: str | None
    approved_at: datetime | None
    expires_at: datetime | None
    approve_run_id: str | None
    used_by_run_id: str | None
    checked_at: datetime  # the database's clock when the row was read

    @property
    def short_hash(self) -> str:
        return self.plan_hash[:12]

    def refusal(self, current_hash: str | None = None) -> str | None:
        """Why this approval cannot be acted on now, or None when it can."""
        if self.approved_by is None:
            return f"plan {self.short_hash} (#{self.id}) is waiting for an approval"
        if same_person(self.approved_by, self.requested_by):
            return f"#{self.id} was approved by its own requester {self.requested_by}"
        if self.used_by_run_id:
            return f"approval #{self.id} was already used by run {self.used_by_run_id}"
        if self.expires_at is not None and self.expires_at <= self.checked_at:
            return (
                f"approval #{self.id} by {self.approved_by} expired at {self.expires_at:%F %T %Z}"
            )
        if current_hash is not None and current_hash != self.plan_hash:
            return (
                f"approval #{self.id} is for plan {self.short_hash}, but the current plan is"
                f" {current_hash[:12]}: plan again and approve the new hash"
            )
        return None


def staleness(given: Approval, latest: Approval | None, ledger_fingerprint: str) -> str | None:
    """Why an approval no longer covers the current plan, or None while it does."""
    if latest is not None and latest.id != given.id:
        return (
            f"approval #{given.id} is for plan {given.short_hash}, superseded by the newer plan"
            f" {latest.short_hash} (#{latest.id}); approve that one instead"
        )
    if given.summary.get("ledger_fingerprint") != ledger_fingerprint:
        return (
            f"approval #{given.id} is stale: the ledger changed since plan {given.short_hash}"
            " was made; plan again"
        )
    return None


def same_person(first: str, second: str) -> bool:
    return first.strip().casefold() == second.strip().casefold()


def ensure_approvals(connection: psycopg.Connection) -> None:
    with connection.transaction():
        for statement in APPROVALS_DDL.split(";"):
            connection.execute(statement)


def request(
    connection: psycopg.Connection,
    kind: Kind,
    plan_hash: str,
    summary: dict,
    *,
    by: str,
    run_id: str,
) -> Approval:
    """Records a request for approval of ``plan_hash``; it supersedes earlier ones of its kind."""
    ensure_approvals(connection)
    return _one(
        connection,
        "INSERT INTO release_pipeline_audit.approvals"
        " (kind, plan_hash, summary, requested_by, request_run_id) VALUES (%s, %s, %s, %s, %s)"
        f" RETURNING {COLUMNS}",
        (kind, plan_hash, json.dumps(summary), by.strip(), run_id),
    )


def approve(
    connection: psycopg.Connection,
    kind: Kind,
    plan_hash: str,
    *,
    approver: str,
    ttl_hours: float,
    run_id: str,
) -> Approval:
    """Records ``approver``'s approval of the latest request, if it has ``plan_hash``."""
    approver = approver.strip()
    if not approver:
        raise ApprovalRefused("Say who approves: the approver field is empty.")
    latest = latest_request(connection, kind)
    if latest is None or latest.plan_hash != plan_hash.strip().lower():
        raise ApprovalRefused(_not_latest(kind, plan_hash, latest))
    if same_person(approver, latest.requested_by):
        raise ApprovalRefused(
            f"{approver} requested plan {latest.short_hash} and cannot approve it alone;"
            " someone else has to approve it."
        )
    if latest.approved_by is not None:
        raise ApprovalRefused(
            f"Plan {latest.short_hash} was already approved by {latest.approved_by}"
            f" at {latest.approved_at:%F %T %Z}."
        )
    given = _one(
        connection,
        "UPDATE release_pipeline_audit.approvals SET approved_by = %s, approved_at = now(),"
        " expires_at = now() + make_interval(secs => %s), approve_run_id = %s"
        f" WHERE id = %s AND approved_by IS NULL RETURNING {COLUMNS}",
        (approver, ttl_hours * 3600, run_id, latest.id),
    )
    if given is None:
        raise ApprovalRefused(f"Plan {latest.short_hash} was approved by someone else meanwhile.")
    return given


def _not_latest(kind: str, plan_hash: str, latest: Approval | None) -> str:
    if latest is None:
        return f"No {kind} approval was ever requested here; run the plan first."
    return (
        f"Plan {plan_hash[:12]!r} is not the latest {kind} request: that is {latest.short_hash}"
        f" (#{latest.id}), requested by {latest.requested_by} at {latest.requested_at:%F %T %Z}."
        " Approve the hash of the latest request."
    )


def use(connection: psycopg.Connection, approval: Approval, run_id: str) -> None:
    """Marks the approval used by ``run_id``; refuses if another run used it first."""
    used = connection.execute(
        "UPDATE release_pipeline_audit.approvals SET used_by_run_id = %s, used_at = now()"
        " WHERE id = %s AND used_by_run_id IS NULL RETURNING id",
        (run_id, approval.id),
    ).fetchone()
    if used is None:
        raise ApprovalRefused(f"Approval #{approval.id} was already used by another run.")


def get(connection: psycopg.Connection, approval_id: int) -> Approval | None:
    if not _exists(connection):
        return None
    return _one(
        connection,
        f"SELECT {COLUMNS} FROM release_pipeline_audit.approvals WHERE id = %s",
        (approval_id,),
    )


def latest_request(connection: psycopg.Connection, kind: Kind) -> Approval | None:
    if not _exists(connection):
        return None
    return _one(
        connection,
        f"SELECT {COLUMNS} FROM release_pipeline_audit.approvals WHERE kind = %s"
        " ORDER BY requested_at DESC, id DESC LIMIT 1",
        (kind,),
    )


def unused_approvals(
    connection: psycopg.Connection, kind: Kind, within_hours: float
) -> list[Approval]:
    """Approvals given in the last ``within_hours`` that no run has used, oldest first."""
    if not _exists(connection):
        return []
    with connection.cursor(row_factory=class_row(Approval)) as cursor:
        return cursor.execute(
            f"SELECT {COLUMNS} FROM release_pipeline_audit.approvals WHERE kind = %s"
            " AND approved_at > now() - make_interval(secs => %s) AND used_by_run_id IS NULL"
            " ORDER BY approved_at, id",
            (kind, within_hours * 3600),
        ).fetchall()


def _exists(connection: psycopg.Connection) -> bool:
    found = connection.execute("SELECT to_regclass('release_pipeline_audit.approvals')").fetchone()
    return found[0] is not None


def _one(connection: psycopg.Connection, query: str, params: tuple) -> Approval | None:
    with connection.cursor(row_factory=class_row(Approval)) as cursor:
        return cursor.execute(query, params).fetchone()
