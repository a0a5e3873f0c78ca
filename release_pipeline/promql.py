"""PromQL templates and success conditions of the canary analysis and the post-deploy
verification, checked at catalog load.

A canary query template selects series with ``{{service}}``, ``{{track}}`` and
``{{version}}``; it must use ``{{track}}`` or ``{{version}}``, since an
unscoped query would average stable and canary together. A verification query
looks at every container of the new version at once, so it knows only
``{{service}}`` and ``{{version}}``, and must use ``{{version}}`` unless it
measures a shared system the release only uses (the database). The check here is
syntactic (placeholders, brackets, quotes): Prometheus itself judges the rest,
and a query it refuses is an Error measurement. A success condition is
``result <op> <number>`` and nothing else; it is parsed, never evaluated.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

TEMPLATE_FIELDS = ("service", "track", "version")
SCOPING_FIELDS = ("track", "version")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
CONDITION = re.compile(rf"^\s*result\s*(<=|>=|==|!=|<|>)\s*({NUMBER})\s*$")
COMPARISONS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
PAIRS = {")": "(", "]": "[", "}": "{"}
VERIFICATION_FIELDS = ("service", "version")


def check_query_template(query: str) -> str:
    """Refuses unknown placeholders, unscoped queries and unbalanced brackets or quotes."""
    names = _placeholders(query, TEMPLATE_FIELDS)
    if not names & set(SCOPING_FIELDS):
        raise ValueError(
            "the query must select the canary with {{track}} or {{version}};"
            " unscoped, it would mix stable and canary"
        )
    return query


def check_verification_query(query: str, *, shared: bool = False) -> str:
    """Like check_query_template, for a post-deploy check over every container of a version.

    ``shared`` queries measure a system the release uses (the database) and may
    name no release; the others must select the new version with ``{{version}}``.
    """
    names = _placeholders(query, VERIFICATION_FIELDS)
    if not shared and "version" not in names:
        raise ValueError(
            "the query must select the new version with {{version}}; a check of a system"
            " the release only uses (the database) says `scope: shared`"
        )
    return query


def _placeholders(query: str, known: tuple[str, ...]) -> set[str]:
    """The placeholders ``query`` uses, once its placeholders and brackets are checked."""
    allowed = " or ".join(f"{{{{{name}}}}}" for name in known)
    names = PLACEHOLDER.findall(query)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown placeholder(s) {unknown}; use {allowed}")
    resolved = PLACEHOLDER.sub("x", query)
    if "{{" in resolved or "}}" in resolved:
        raise ValueError(f"malformed placeholder; use {allowed}")
    _check_balanced(resolved)
    return set(names)


def _check_balanced(promql: str) -> None:
    stack: list[str] = []
    quote = None
    for position, char in enumerate(promql):
        if quote:
            quote = None if char == quote and promql[position - 1] != "\\" else quote
        elif char in "\"'`":
            quote = char
        elif char in "([{":
            stack.append(char)
        elif char in PAIRS and (not stack or stack.pop() != PAIRS[char]):
            raise ValueError(f"unbalanced {char!r} at character {position + 1}")
    if quote:
        raise ValueError(f"unterminated string starting with {quote}")
    if stack:
        raise ValueError(f"unclosed {stack[-1]!r}")


@dataclass(frozen=True)
class Condition:
    """``result <op> <number>``: the whole grammar, parsed, never evaluated as code."""

    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Condition:
        match = CONDITION.match(text)
        if match is None:
            operators = " ".join(COMPARISONS)
            raise ValueError(f"{text!r} is not 'result <op> <number>', <op> one of {operators}")
        return cls(match[1], float(match[2]))

    def holds(self, value: float) -> bool:
        return COMPARISONS[self.op](value, self.threshold)

    def __str__(self) -> str:
        return f"result {self.op} {self.threshold:g}"


def render_query(template: str, labels: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda match: _label_value(labels[match[1]]), template)


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')
