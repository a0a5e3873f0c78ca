"""Secret values, read only from the environment and kept out of every message."""

from __future__ import annotations

import re

import dagster as dg

from release_pipeline.errors import ReleaseInputError

REDACTED = "***"
# The ``user:password@`` of a URL (``scheme://userinfo@host``), wherever it sits in a text.
URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^\s/?#@'\"]+@")
# Secrets of the systems the pipeline talks to, besides the services' own.
PLATFORM_SECRETS = (
    "REGISTRY_PASSWORD",
    "DAGSTER_PG_PASSWORD",
    "SLACK_BOT_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "PAGERDUTY_ROUTING_KEY",
    "CLOUDFLARE_API_TOKEN",
    "SMTP_PASSWORD",
)


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


def known_secret_names() -> list[str]:
    from release_pipeline.catalog import default_catalog  # the catalog imports nothing of ours

    return [*default_catalog().secret_names(), *PLATFORM_SECRETS]


def redact_known(text: str) -> str:
    """Redacts every secret the catalog or the platform names, and URL credentials.

    For texts a service or a tool echoed.
    """
    return without_userinfo(redact(text, known_secret_names()))


def known_secret_values() -> list[str]:
    """The values to hide in streamed command output, longest first."""
    values = (dg.EnvVar(name).get_value() for name in known_secret_names())
    return sorted({v for v in values if v and len(v) >= 4}, key=len, reverse=True)


def without_userinfo(text: str) -> str:
    """Hides the credentials of every URL in ``text`` (``https://***@host/...``).

    For messages that name a URL taken from settings, such as a git remote with a
    token in it, and for tool output that quotes one.
    """
    return URL_USERINFO.sub(rf"\g<scheme>{REDACTED}@", text)
