"""Migration files, their order, and how they are checked against the ledger."""

import hashlib
from datetime import UTC, datetime

import pytest

from release_pipeline.errors import MigrationError
from release_pipeline.migrations.ledger import (
    LedgerEntry,
    MigrationSource,
    pending_files,
    read_migration_files,
)
from release_pipeline.migrations.plan import make_plan


def write(directory, files: dict[str, str]):
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text)
    return read_migration_files(directory)


def entry(name: str, text: str) -> LedgerEntry:
    sha = hashlib.sha256(text.encode()).hexdigest()
    return LedgerEntry(name, sha, datetime.now(UTC), "bob", "run", "plan", 0.1)


def test_files_sort_by_their_number_so_2_comes_before_10(tmp_path):
    files = write(
        tmp_path / "m", {"10_b.sql": "SELECT 10;", "2_a.sql": "SELECT 2;", "1_c.sql": "SELECT 1;"}
    )

    assert [file.name for file in files] == ["1_c.sql", "2_a.sql", "10_b.sql"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({"add_users.sql": "SELECT 1;"}, "add_users.sql is not named <number>_<name>.sql"),
        ({"3_a.sql": "SELECT 1;", "003_b.sql": "SELECT 1;"}, "share the number 3"),
    ],
)
def test_a_file_without_a_clear_place_in_the_order_is_refused(tmp_path, files, message):
    with pytest.raises(MigrationError, match=message):
        write(tmp_path / "m", files)


def test_an_applied_file_whose_bytes_changed_is_named(tmp_path):
    files = write(tmp_path / "m", {"1_a.sql": "SELECT 1;\n", "2_b.sql": "SELECT 2; -- edited\n"})

    with pytest.raises(MigrationError, match=r"2_b.sql changed after they were applied"):
        pending_files(files, [entry("1_a.sql", "SELECT 1;\n"), entry("2_b.sql", "SELECT 2;\n")])


def test_a_new_file_numbered_before_applied_ones_is_refused(tmp_path):
    files = write(
        tmp_path / "m", {"1_a.sql": "SELECT 1;", "2_late.sql": "SELECT 2;", "3_c.sql": "SELECT 3;"}
    )
    applied = [entry("1_a.sql", "SELECT 1;"), entry("3_c.sql", "SELECT 3;")]

    with pytest.raises(MigrationError, match="2_late.sql sort before files already applied"):
        pending_files(files, applied)


def test_the_plan_hash_binds_the_files_and_the_ledger(tmp_path):
    files = write(tmp_path / "m", {"1_a.sql": "SELECT 1;", "2_b.sql": "SELECT 2;"})
    source = MigrationSource("c0ffee", "main", files)

    empty = make_plan(source, [])
    after_first = make_plan(source, [entry("1_a.sql", "SELECT 1;")])
    edited = write(tmp_path / "m", {"2_b.sql": "SELECT 22;"})

    assert empty.file_names == ["1_a.sql", "2_b.sql"]
    assert after_first.file_names == ["2_b.sql"] and after_first.ledger_head == "1_a.sql"
    hashes = {
        empty.plan_hash,
        after_first.plan_hash,
        make_plan(MigrationSource("c", "m", edited), []).plan_hash,
    }
    assert len(hashes) == 3
    assert make_plan(MigrationSource("other", "v2", files), []).plan_hash == empty.plan_hash
