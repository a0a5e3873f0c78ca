"""A static site served by nginx from a directory of immutable deployments.

Layout under ``sites_dir/<site>``: ``deployments/<id>/`` holds each build,
``commits/<id>`` the commit it was built from, and ``current`` is a symlink to the
live one. Replacing the symlink with
``os.replace`` is atomic, and nginx resolves it per request, so every request
sees either the old build or the new one, never a mix.
"""

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from release_pipeline.errors import PublishError

PLACEHOLDER = "none"
ASSETS = "assets"
COMMITS = "commits"


@dataclass(frozen=True)
class DirectorySite:
    """Publishes builds into a directory that nginx serves (``sites_dir/<site>``)."""

    sites_dir: str

    def publish(self, site: str, build_dir: Path, deployment_id: str, commit: str) -> str:
        """Copies a build into a new deployment; an existing id is never overwritten."""
        target = self._deployments(site) / deployment_id
        if target.exists():
            raise PublishError(f"Deployment {deployment_id} of {site} already exists.")
        staging = target.with_name(f".{deployment_id}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(build_dir, staging)
        self._carry_over_assets(site, staging)
        # Written first, so a rollback to any published deployment can name its commit.
        record = self._commit_file(site, deployment_id)
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(commit)
        os.replace(staging, target)
        return deployment_id

    def commit(self, site: str, deployment_id: str) -> str | None:
        """The commit a deployment was built from; None when it was never recorded."""
        record = self._commit_file(site, deployment_id)
        return (record.read_text().strip() or None) if record.is_file() else None

    def _carry_over_assets(self, site: str, staging: Path) -> None:
        """Keeps the live build's assets reachable from the new deployment.

        A page loaded just before the switch still asks for its own (hashed)
        assets afterwards; without them it would get 404s for one generation.
        """
        live = self.live(site)
        old_assets = self._deployments(site) / live / ASSETS if live else None
        if old_assets is None or not old_assets.is_dir():
            return
        for old in old_assets.rglob("*"):
            new = staging / ASSETS / old.relative_to(old_assets)
            if old.is_file() and not new.exists():
                new.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(old, new)

    def activate(self, site: str, deployment_id: str) -> None:
        """Points production at a deployment, atomically."""
        target = self._deployments(site) / deployment_id
        if not target.is_dir():
            raise PublishError(f"{site} has no deployment {deployment_id} to activate.")
        link = self._root(site) / "current"
        staging = link.with_name(".current.next")
        staging.unlink(missing_ok=True)
        staging.symlink_to(target)
        os.replace(staging, link)

    def live(self, site: str) -> str | None:
        link = self._root(site) / "current"
        if not link.is_symlink():
            return None
        name = Path(os.readlink(link)).name
        return None if name == PLACEHOLDER else name

    def deployments(self, site: str) -> list[str]:
        """Every published deployment, oldest first (ids sort by time)."""
        folder = self._deployments(site)
        if not folder.is_dir():
            return []
        names = (p.name for p in folder.iterdir() if p.is_dir())
        return sorted(n for n in names if n != PLACEHOLDER and not n.startswith("."))

    def remove(self, site: str, deployment_id: str) -> None:
        shutil.rmtree(self._deployments(site) / deployment_id, ignore_errors=True)
        self._commit_file(site, deployment_id).unlink(missing_ok=True)

    def _root(self, site: str) -> Path:
        return Path(self.sites_dir) / site

    def _deployments(self, site: str) -> Path:
        return self._root(site) / "deployments"

    def _commit_file(self, site: str, deployment_id: str) -> Path:
        return self._root(site) / COMMITS / deployment_id
