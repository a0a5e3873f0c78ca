"""What the sandbox needs from release_pipeline/catalog.yaml: secrets and balanced services."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import yaml

from ._common import REPO_ROOT

CATALOG = REPO_ROOT / "release_pipeline" / "catalog.yaml"
LOAD_BALANCED_KINDS = ("blue_green", "canary", "rolling")


def _services(catalog: Path = CATALOG) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(catalog.read_text()) or {}
    return dict(data.get("services") or {})


def secret_names(catalog: Path = CATALOG) -> list[str]:
    """Every secret name any service lists, sorted, without duplicates."""
    names = {name for svc in _services(catalog).values() for name in svc.get("secrets") or []}
    return sorted(names)


def random_secrets(catalog: Path = CATALOG) -> dict[str, str]:
    """One random sandbox value per secret: sandbox-<lowercased name>-<hex>."""
    names = secret_names(catalog)
    return {name: f"sandbox-{name.lower()}-{secrets.token_hex(8)}" for name in names}


def load_balanced_services(catalog: Path = CATALOG) -> list[str]:
    """Services deployed behind nginx (blue/green, canary, rolling), in catalog order."""
    return [
        name
        for name, svc in _services(catalog).items()
        if (svc.get("strategy") or {}).get("kind") in LOAD_BALANCED_KINDS
    ]


def static_sites(catalog: Path = CATALOG) -> list[str]:
    """Services published as static sites, served by the sandbox's nginx from a directory."""
    return [
        name
        for name, svc in _services(catalog).items()
        if (svc.get("strategy") or {}).get("kind") == "static_site"
    ]
