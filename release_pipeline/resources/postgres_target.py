"""The platform's PostgreSQL: connections, the migration lock, pg_dump and pg_restore.

The client tools get the password through ``PGPASSWORD`` in their environment,
never on a command line, where every user of the machine could read it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import dagster as dg
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import Field

from release_pipeline.errors import (
    BackupError,
    DeployLockError,
    MigrationError,
    ReleaseInputError,
)
from release_pipeline.resources.deploy_lock import take_advisory_lock

CONNECT_TIMEOUT_SECONDS = 10
LOCK_POLL_SECONDS = 0.5
LOCK_NAME = "release_pipeline/migrations"
TOOL_TIMEOUT_SECONDS = 6 * 3600
RESTORE_LOCK_TIMEOUT = "60s"
ERROR_TAIL_BYTES = 2000
APPLICATION_SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname !~ '^pg_' AND nspname <> 'information_schema' AND nspname <> ALL(%s)
ORDER BY nspname
"""
# PostgreSQL 15's public schema as initdb creates it; the archive re-applies any change.
FRESH_PUBLIC_SCHEMA = """
CREATE SCHEMA public AUTHORIZATION pg_database_owner;
GRANT USAGE ON SCHEMA public TO PUBLIC;
COMMENT ON SCHEMA public IS 'standard public schema';
"""


class PostgresTargetResource(dg.ConfigurableResource):
    """The database that migrations change, backups copy and restores replace.

    Example:
        ``with target_db.migration_lock(context.run_id, context.log) as conn: ...``
    """

    url: str = Field(description="libpq URL of the database (DATABASE_URL); bind it with EnvVar.")
    pg_bin_dir: str = Field(
        default="", description="Directory of pg_dump, pg_restore and psql; empty uses PATH."
    )
    lock_wait_seconds: float = Field(
        default=600, description="How long a migration waits for another one to finish."
    )

    def connect(self, purpose: str = "release_pipeline") -> psycopg.Connection:
        """An autocommit connection; transactions are opened explicitly where needed."""
        where = self.describe()
        try:
            return psycopg.connect(
                self.url,
                autocommit=True,
                application_name=purpose[:63],
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())  # libpq never prints the password
            raise MigrationError(f"Cannot connect to {where}: {reason}") from None

    def describe(self) -> str:
        """Database, host and port, without credentials, for messages."""
        params = self._params()
        return f"database {params.get('dbname', '?')} at {params.get('host')}:{params.get('port')}"

    def _params(self) -> dict[str, object]:
        try:
            return conninfo_to_dict(self.url)
        except psycopg.ProgrammingError:
            # The parser's message quotes the string, which holds the password.
            raise ReleaseInputError(
                "DATABASE_URL is not a libpq URL such as postgresql://user:password@host:5432/db."
            ) from None

    @contextlib.contextmanager
    def migration_lock(
        self, holder: str, log: dg.DagsterLogManager
    ) -> Iterator[psycopg.Connection]:
        """A connection holding the database's migration advisory lock for the block."""
        with self.connect(f"release_pipeline migrations {holder}") as connection:
            key = connection.execute("SELECT hashtextextended(%s, 0)", (LOCK_NAME,)).fetchone()[0]
            self._acquire(connection, key, log)
            try:
                yield connection
            finally:
                if not connection.closed and not connection.broken:
                    connection.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def _acquire(self, connection: psycopg.Connection, key: int, log: dg.DagsterLogManager) -> None:
        take_advisory_lock(
            connection,
            key,
            self.lock_wait_seconds,
            LOCK_POLL_SECONDS,
            waiting=lambda holder: log.info(
                f"Waiting for the migration lock of {self.describe()}, held by {holder}."
            ),
            timed_out=lambda holder: DeployLockError(
                f"{holder} still holds the migration lock of {self.describe()} after"
                f" {self.lock_wait_seconds:.0f} s; nothing was changed. Re-run when it ends."
            ),
        )

    @contextlib.contextmanager
    def dump(self, exclude_schemas: Sequence[str] = ()) -> Iterator[IO[bytes]]:
        """``pg_dump --format=custom`` streamed: yields its stdout, raises if it fails."""
        excluded = [f"--exclude-schema={schema}" for schema in exclude_schemas]
        command = [self._tool("pg_dump"), "--format=custom", *excluded, *self._connection_args()]
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=self._tool_env(),
            )
            try:
                yield process.stdout
            except BaseException:
                process.kill()
                process.wait()
                raise
            finally:
                process.stdout.close()
            code = process.wait(timeout=TOOL_TIMEOUT_SECONDS)
            if code != 0:
                raise BackupError(f"pg_dump of {self.describe()} exited {code}: {_tail(errors)}")

    def list_archive(self, chunks: Iterable[bytes]) -> str:
        """Feeds an archive to ``pg_restore --list``; returns its table of contents.

        pg_restore stops reading once it has the table of contents, so the rest of
        ``chunks`` is still consumed (the caller may be hashing it) but not sent.
        """
        with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                [self._tool("pg_restore"), "--list"],
                stdin=subprocess.PIPE,
                stdout=output,
                stderr=errors,
                env=self._tool_env(),
            )
            _feed(process.stdin, chunks)
            code = process.wait(timeout=TOOL_TIMEOUT_SECONDS)
            if code != 0:
                raise BackupError(f"pg_restore --list cannot read the archive: {_tail(errors)}")
            output.seek(0)
            return output.read().decode(errors="replace")

    def restore(self, archive: Path, keep_schemas: Sequence[str]) -> None:
        """Replaces the database's content with ``archive``, in one transaction.

        ``pg_restore --clean`` drops only what the archive contains, so a table created
        after the backup would survive it. The application's schemas (all but
        ``keep_schemas``) are therefore dropped first, in the same transaction as the
        replay: the database ends exactly as backed up, or unchanged if anything fails.
        """
        preamble = self._restore_preamble(keep_schemas)
        restore_command = [self._tool("pg_restore"), "--clean", "--if-exists", "--file=-"]
        psql_command = [self._tool("psql"), "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1"]
        psql_command += ["--single-transaction", f"--command={preamble}", "--file=-"]
        with tempfile.TemporaryFile() as errors:
            script = subprocess.Popen(
                [*restore_command, str(archive)],
                stdout=subprocess.PIPE,
                stderr=errors,
                env=self._tool_env(),
            )
            replay = subprocess.run(
                [*psql_command, *self._connection_args()],
                stdin=script.stdout,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                env=self._tool_env(),
                timeout=TOOL_TIMEOUT_SECONDS,
                check=False,
            )
            script.stdout.close()
            script_code = script.wait(timeout=TOOL_TIMEOUT_SECONDS)
            if script_code != 0 or replay.returncode != 0:
                raise BackupError(
                    f"Restore of {archive.name} into {self.describe()} failed and was rolled back"
                    f" (pg_restore exited {script_code}, psql {replay.returncode}): {_tail(errors)}"
                )

    def _restore_preamble(self, keep_schemas: Sequence[str]) -> str:
        with self.connect("release_pipeline restore") as connection:
            schemas = [
                row[0] for row in connection.execute(APPLICATION_SCHEMAS, (list(keep_schemas),))
            ]
            statements = [sql.SQL("SET LOCAL lock_timeout = {}").format(RESTORE_LOCK_TIMEOUT)]
            if schemas:
                names = sql.SQL(", ").join(sql.Identifier(name) for name in schemas)
                statements.append(sql.SQL("DROP SCHEMA {} CASCADE").format(names))
            text = ";\n".join(statement.as_string(connection) for statement in statements)
        return text + ";\n" + (FRESH_PUBLIC_SCHEMA if "public" in schemas else "")

    def _tool(self, name: str) -> str:
        return str(Path(self.pg_bin_dir) / name) if self.pg_bin_dir else name

    def _connection_args(self) -> list[str]:
        params = dict(self._params())
        params.pop("password", None)
        return ["--no-password", f"--dbname={make_conninfo(**params)}"]

    def _tool_env(self) -> dict[str, str]:
        env = {**os.environ, "PGAPPNAME": "release_pipeline"}
        password = self._params().get("password")
        if password:
            env["PGPASSWORD"] = str(password)
        return env


def _feed(stdin: IO[bytes], chunks: Iterable[bytes]) -> None:
    open_pipe = True
    for chunk in chunks:
        if not open_pipe:
            continue
        try:
            stdin.write(chunk)
        except BrokenPipeError:
            open_pipe = False
    with contextlib.suppress(BrokenPipeError):
        stdin.close()


def _tail(errors: IO[bytes]) -> str:
    errors.seek(0, os.SEEK_END)
    errors.seek(max(0, errors.tell() - ERROR_TAIL_BYTES))
    return errors.read().decode(errors="replace").strip() or "(no error output)"
