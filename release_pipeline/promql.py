"""PromQL templates and success conditions of the canary analysis, checked at catalog load.

A query template selects series with ``{{service}}``, ``{{track}}`` and
``{{version}}``; it must use ``{{track}}`` or ``{{version}}``, since an
unscoped query would average stable and canary together. The check here is
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
ALLOWED = "{{service}}, {{track}} or {{version}}"


def check_query_template(query: str) -> str:
    """Refuses unknown placeholders, unscoped queries and unbalanced brackets or quotes."""
    names = PLACEHOLDER.findall(query)
    unknown = sorted(set(names) - set(TEMPLATE_FIELDS))
    if unknown:
        raise ValueError(f"unknown placeholder(s) {unknown}; use {ALLOWED}")
    resolved = PLACEHOLDER.sub("x", query)
    if "{{" in resolved or "}}" in resolved:
        raise ValueError(f"malformed placeholder; use {ALLOWED}")
    if not set(names) & set(SCOPING_FIELDS):
        raise ValueError(
            "the query must select the canary with {{track}} or {{version}};"
            " unscoped, it would mix stable and canary"
        )
    _check_balanced(resolved)
    return query


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
