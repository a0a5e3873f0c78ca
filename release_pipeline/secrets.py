"""Secret values, read only from the environment and kept out of every message."""

from __future__ import annotations

import dagster as dg

from release_pipeline.errors import ReleaseInputError

REDACTED = "***"


def read_secrets(names: list[str]) -> dict[str, str]:
    """Reads each named secret with EnvVar; names every missing one at once."""
    values = {name: dg.EnvVar(name).get_value() for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ReleaseInputError(
            f"Secrets not set in the environment: {', '.join(missing)}."
            " Set them where the run executes (the sandbox writes them to .env)."
        )
    return values


def redact(text: str, names: list[str]) -> str:
    """Replaces the value of every named secret found in ``text``."""
    for name in names:
        value = dg.EnvVar(name).get_value()
        if value and len(value) >= 4:
            text = text.replace(value, REDACTED)
    return text
