"""The target database resource: its migration lock, pg_dump and pg_restore --list."""

import logging
import threading
from urllib.parse import urlsplit

import pytest

from release_pipeline.errors import BackupError, DeployLockError
from release_pipeline.resources.postgres_target import PostgresTargetResource

pytestmark = pytest.mark.sandbox
log = logging.getLogger("test_postgres_target")


@pytest.fixture
def target_db(sandbox_env):
    return PostgresTargetResource(url=sandbox_env["DATABASE_URL"], lock_wait_seconds=0.5)


def test_a_second_migration_lock_fails_naming_the_holder(target_db):
    held, release = threading.Event(), threading.Event()

    def first():
        with target_db.migration_lock("run-first", log):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(10)
    try:
        with (
            pytest.raises(DeployLockError, match="run-first"),
            target_db.migration_lock("run-2", log),
        ):
            pass
    finally:
        release.set()
        thread.join()


def test_a_dump_streams_a_custom_archive_that_pg_restore_lists(target_db):
    with target_db.dump() as stream:
        archive = stream.read()

    assert archive.startswith(b"PGDMP")
    assert "Format: CUSTOM" in target_db.list_archive(iter([archive[:100], archive[100:]]))


def test_a_dump_that_fails_raises_with_pg_dump_s_words_and_no_password(sandbox_env):
    url = urlsplit(sandbox_env["DATABASE_URL"])
    wrong = PostgresTargetResource(url=url._replace(path="/no_such_database").geturl())

    with pytest.raises(BackupError, match="no_such_database") as error, wrong.dump() as stream:
        stream.read()

    assert url.password not in str(error.value)


def test_something_that_is_not_an_archive_is_refused(target_db):
    with pytest.raises(BackupError, match="pg_restore --list cannot read the archive"):
        target_db.list_archive(iter([b"not a dump"]))
