"""Splitting a migration file into statements, and spotting the ones a transaction refuses.

The splitter follows PostgreSQL's lexical rules as psql does: ``--`` and nested
``/* */`` comments, quoted strings (``''`` and ``E'\\''`` escapes), quoted
identifiers, dollar-quoted bodies, and ``BEGIN ATOMIC ... END`` function bodies.
Each statement keeps the line it starts on, so an error can name the file's line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
ROUTINE = re.compile(r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\b")

# Statements PostgreSQL refuses inside a transaction block, with why it matters.
NON_TRANSACTIONAL = (
    (re.compile(r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\b"), "CREATE INDEX CONCURRENTLY"),
    (re.compile(r"^DROP\s+INDEX\s+CONCURRENTLY\b"), "DROP INDEX CONCURRENTLY"),
    (re.compile(r"^REINDEX\b.*\bCONCURRENTLY\b"), "REINDEX CONCURRENTLY"),
    (re.compile(r"^REINDEX\s+(?:\(.*?\)\s*)?(?:SYSTEM|DATABASE)\b"), "REINDEX DATABASE"),
    (re.compile(r"^ALTER\s+TABLE\b.*\bDETACH\s+PARTITION\b.*\bCONCURRENTLY\b"), "DETACH PARTITION"),
    (re.compile(r"^VACUUM\b"), "VACUUM"),
    (re.compile(r"^CLUSTER\s*$"), "CLUSTER"),
    (re.compile(r"^(?:CREATE|DROP)\s+(?:DATABASE|TABLESPACE|SUBSCRIPTION)\b"), "database-level"),
    (re.compile(r"^ALTER\s+SYSTEM\b"), "ALTER SYSTEM"),
)
TRANSACTION_CONTROL = re.compile(
    r"^(?:BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE)\b"
)


@dataclass(frozen=True)
class Statement:
    """One statement of a file: its text as written and the line it starts on."""

    text: str
    line: int
    code: str  # upper case, comments removed, whitespace collapsed: for matching only

    def non_transactional(self) -> str | None:
        """The kind of statement when PostgreSQL refuses it in a transaction, else None."""
        for pattern, kind in NON_TRANSACTIONAL:
            if pattern.match(self.code):
                return kind
        return None

    def is_transaction_control(self) -> bool:
        return bool(TRANSACTION_CONTROL.match(self.code))

    def line_of(self, position: int | None) -> int:
        """The file line of a 1-based character position inside this statement."""
        if not position:
            return self.line
        return self.line + self.text.count("\n", 0, position - 1)


def split_statements(source: str) -> list[Statement]:
    """The statements of ``source`` in order; comments and empty statements are dropped."""
    statements = []
    for start, end in _statement_spans(source):
        first = start + _leading_comment_length(source[start:end])
        text = source[first:end].rstrip()
        code = _code_of(text).rstrip(";").rstrip()
        if code:
            statements.append(Statement(text, source.count("\n", 0, first) + 1, code))
    return statements


def _statement_spans(source: str) -> list[tuple[int, int]]:
    spans, start, depth, index = [], 0, 0, 0
    while index < len(source):
        skipped = _skip_quoted_or_comment(source, index)
        if skipped != index:
            index = skipped
            continue
        char = source[index]
        word = WORD.match(source, index) if char.isalpha() or char == "_" else None
        if word and not _is_word_char(_char_at(source, index - 1)):
            depth = _track_atomic_body(source, start, index, word.group().upper(), depth)
            index = word.end()
            continue
        if char == ";" and depth == 0:
            spans.append((start, index + 1))
            start = index + 1
        index += 1
    spans.append((start, len(source)))
    return spans


def _track_atomic_body(source: str, start: int, index: int, word: str, depth: int) -> int:
    """Depth of BEGIN ATOMIC ... END nesting, counted only inside routine definitions."""
    if word == "BEGIN" and ROUTINE.match(_code_of(source[start:index])):
        return depth + 1
    if word == "CASE" and depth > 0:
        return depth + 1
    if word == "END" and depth > 0:
        return depth - 1
    return depth


def _skip_quoted_or_comment(source: str, index: int) -> int:
    """The index just past a comment, string, quoted identifier or dollar body at ``index``."""
    if source.startswith("--", index):
        newline = source.find("\n", index)
        return len(source) if newline < 0 else newline
    if source.startswith("/*", index):
        return _skip_block_comment(source, index)
    char = source[index]
    if char == "'":
        prefix = _char_at(source, index - 1)
        escaped = prefix in ("e", "E") and not _is_word_char(_char_at(source, index - 2))
        return _skip_string(source, index, "'", backslash=escaped)
    if char == '"':
        return _skip_string(source, index, '"', backslash=False)
    if char == "$" and not _is_word_char(_char_at(source, index - 1)):
        tag = DOLLAR_TAG.match(source, index)
        if tag:
            close = source.find(tag.group(), tag.end())
            return len(source) if close < 0 else close + len(tag.group())
    return index


def _skip_block_comment(source: str, index: int) -> int:
    depth, index = 1, index + 2
    while index < len(source) and depth:
        if source.startswith("/*", index):
            depth, index = depth + 1, index + 2
        elif source.startswith("*/", index):
            depth, index = depth - 1, index + 2
        else:
            index += 1
    return index


def _skip_string(source: str, index: int, quote: str, backslash: bool) -> int:
    index += 1
    while index < len(source):
        char = source[index]
        if backslash and char == "\\" or char == quote and source.startswith(quote * 2, index):
            index += 2
        elif char == quote:
            return index + 1
        else:
            index += 1
    return index


def _char_at(source: str, index: int) -> str:
    return source[index] if 0 <= index < len(source) else ""


def _is_word_char(char: str) -> bool:
    return bool(char) and (char.isalnum() or char in "_$")


def _code_of(text: str) -> str:
    """Upper-cased text without comments, whitespace collapsed (strings left in place)."""
    parts, index = [], 0
    while index < len(text):
        skipped = _skip_quoted_or_comment(text, index)
        if skipped == index:
            parts.append(text[index])
            index += 1
        elif text.startswith(("--", "/*"), index):
            parts.append(" ")
            index = skipped
        else:
            parts.append(text[index:skipped])
            index = skipped
    return " ".join("".join(parts).split()).upper()


def _leading_comment_length(text: str) -> int:
    """Characters of whitespace and comments before the statement's first token."""
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
        elif text.startswith(("--", "/*"), index):
            index = _skip_quoted_or_comment(text, index)
        else:
            break
    return index
