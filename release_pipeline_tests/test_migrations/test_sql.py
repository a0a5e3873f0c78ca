"""Splitting migration files into statements, as PostgreSQL's lexer would."""

from release_pipeline.migrations.sql import split_statements

FILE = """-- header comment; with a semicolon
CREATE TABLE t (x TEXT DEFAULT 'a;b''c', y TEXT DEFAULT E'\\';');  /* c; /* nested; */ */
CREATE INDEX CONCURRENTLY t_x_idx ON t (x);
CREATE FUNCTION f() RETURNS INT LANGUAGE sql
BEGIN ATOMIC
  SELECT 1;
  SELECT CASE WHEN true THEN 2 END;
END;
DO $body$ BEGIN PERFORM 1; END $body$;
SELECT $1, "odd;name" FROM t;
vacuum analyze t;
-- trailing comment
"""


def test_split_statements_keeps_quoted_semicolons_and_starting_lines():
    statements = split_statements(FILE)

    assert [s.line for s in statements] == [2, 3, 4, 9, 10, 11]
    assert statements[0].text.endswith("y TEXT DEFAULT E'\\';');")
    assert statements[2].text.endswith("END;") and "SELECT 1;" in statements[2].text
    assert statements[3].text == "DO $body$ BEGIN PERFORM 1; END $body$;"


def test_statements_a_transaction_refuses_are_flagged():
    kinds = [statement.non_transactional() for statement in split_statements(FILE)]

    assert kinds == [None, "CREATE INDEX CONCURRENTLY", None, None, None, "VACUUM"]


def test_other_non_transactional_statements_are_flagged():
    source = (
        "DROP INDEX CONCURRENTLY i; REINDEX (VERBOSE) TABLE CONCURRENTLY t; CREATE DATABASE d;"
        " ALTER SYSTEM SET work_mem = '8MB'; ALTER TABLE p DETACH PARTITION c CONCURRENTLY;"
        " CREATE UNIQUE INDEX i2 ON t (x);"
    )

    kinds = [statement.non_transactional() for statement in split_statements(source)]

    assert kinds == [
        "DROP INDEX CONCURRENTLY",
        "REINDEX CONCURRENTLY",
        "database-level",
        "ALTER SYSTEM",
        "DETACH PARTITION",
        None,
    ]


def test_transaction_control_is_recognised():
    statements = split_statements("BEGIN;\nUPDATE t SET x = 1;\nCOMMIT;")

    assert [statement.is_transaction_control() for statement in statements] == [True, False, True]


def test_an_error_position_maps_to_the_line_of_the_file():
    statement = split_statements("\n\n-- note\nALTER TABLE t\n  ADD COLUMN z nope;")[0]

    assert statement.line == 4
    assert statement.line_of(statement.text.index("nope") + 1) == 5
    assert statement.line_of(None) == 4
