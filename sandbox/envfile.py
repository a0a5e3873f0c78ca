"""KEY=VALUE env files (readable by python-dotenv, Dagster and `source`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

_PLAIN = re.compile(r"^[A-Za-z0-9_./:,=@+%-]*$")
HEADER = "# Written by the release sandbox (python -m sandbox up); do not edit.\n"


def quote(value: str) -> str:
    """The value as is when it is plain, else double-quoted with escapes."""
    if _PLAIN.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def render(env: Mapping[str, str]) -> str:
    """The env file's text."""
    return HEADER + "".join(f"{key}={quote(value)}\n" for key, value in env.items())


def write(path: Path, env: Mapping[str, str]) -> None:
    """Write env as KEY=VALUE lines, readable only by the owner (it holds passwords)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(env))
    path.chmod(0o600)
