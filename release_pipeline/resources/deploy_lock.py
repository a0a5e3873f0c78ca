"""A PostgreSQL advisory lock that keeps two deploys of one service apart.

The run queue limits releases to one per service, but ``dagster job execute``
bypasses the queue; this lock holds for every run, wherever it executes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import dagster as dg
import psycopg
from pydantic import Field

from release_pipeline.errors import DeployLockError

POLL_SECONDS = 1.0
CONNECT_TIMEOUT_SECONDS = 10
HOLDER_QUERY = """
SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objid = (%s::bigint & 4294967295)::oid
"""


class DeployLockResource(dg.ConfigurableResource):
    """Holds ``pg_advisory_lock`` on a key derived from the service name.

    Example:
        ``with deploy_lock.hold("backend", holder=context.run_id, log=context.log): ...``
    """

    host: str = Field(description="PostgreSQL host holding the locks (Dagster's storage).")
    port: int = Field(default=5432, description="PostgreSQL port.")
    user: str = Field(description="PostgreSQL user.")
    password: str = Field(description="PostgreSQL password; bind it with EnvVar.")
    dbname: str = Field(description="PostgreSQL database.")
    wait_seconds: float = Field(default=600, description="How long to wait for another deploy.")

    @contextmanager
    def hold(self, service: str, holder: str, log: dg.DagsterLogManager) -> Iterator[None]:
        """Waits up to ``wait_seconds`` for the lock, holds it for the block."""
        with psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.dbname,
            application_name=f"release_pipeline {service} {holder}"[:63],
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            autocommit=True,
        ) as connection:
            key = connection.execute(
                "SELECT hashtextextended(%s, 0)", (f"release_pipeline/deploy/{service}",)
            ).fetchone()[0]
            self._acquire(connection, key, service, log)
            try:
                yield
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _acquire(
        self, connection: psycopg.Connection, key: int, service: str, log: dg.DagsterLogManager
    ) -> None:
        take_advisory_lock(
            connection,
            key,
            self.wait_seconds,
            POLL_SECONDS,
            waiting=lambda holder: log.info(
                f"Waiting for the deploy lock of {service}, held by {holder}."
            ),
            timed_out=lambda holder: DeployLockError(
                f"Another deploy of {service} ({holder}) still holds the deploy lock"
                f" after {self.wait_seconds:.0f} s. Wait for it to finish, then re-run."
            ),
        )


def take_advisory_lock(
    connection: psycopg.Connection,
    key: int,
    wait_seconds: float,
    poll_seconds: float,
    waiting: Callable[[str], None],
    timed_out: Callable[[str], Exception],
) -> None:
    """Takes the session advisory lock ``key``, polling for up to ``wait_seconds``.

    ``waiting`` is told the holder's application name once, when the lock is
    first found taken; ``timed_out`` makes the error raised after the wait.
    """
    deadline = time.monotonic() + wait_seconds
    waited = False
    while not connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
        holder = connection.execute(HOLDER_QUERY, (key,)).fetchone()
        holder_name = holder[0] if holder else "another session"
        if time.monotonic() > deadline:
            raise timed_out(holder_name)
        if not waited:
            waiting(holder_name)
            waited = True
        time.sleep(poll_seconds)
