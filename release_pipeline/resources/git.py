"""Checking out the platform's source at a ref."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from release_pipeline.errors import ReleaseInputError

GIT_TIMEOUT_SECONDS = 300
# A branch, tag or commit: no leading dash (it would be read as an option), no "..".
GIT_REF = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/@^~-]{1,200}$")


@dataclass(frozen=True)
class Checkout:
    path: Path
    commit: str
    ref: str


class GitResource(dg.ConfigurableResource):
    """Clones the platform repository and checks out one ref per run.

    Example:
        ``git.checkout("main", dest=work_dir / run_id)``
    """

    repo_url: str = Field(description="URL or path of the platform's git repository.")
    work_dir: str = Field(description="Directory under which each run gets its own checkout.")

    def checkout(self, ref: str, name: str) -> Checkout:
        """Clones into ``work_dir/name`` and checks out ``ref``; returns the commit."""
        if not GIT_REF.match(ref):
            raise ReleaseInputError(
                f"git ref {ref!r} is not a valid branch, tag or commit name."
                " Pass a ref such as 'main', 'v1.4.0' or a commit hash."
            )
        dest = Path(self.work_dir) / name
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        _git("clone", "--quiet", "--no-checkout", self.repo_url, str(dest))
        commit = _resolve(dest, ref, self.repo_url)
        _git("-C", str(dest), "checkout", "--quiet", "--detach", commit)
        return Checkout(path=dest, commit=commit, ref=ref)

    def remove(self, name: str) -> None:
        shutil.rmtree(Path(self.work_dir) / name, ignore_errors=True)


def _resolve(repo: Path, ref: str, url: str) -> str:
    for candidate in (f"origin/{ref}", ref):
        result = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
        )
        if result.returncode == 0:
            return result.stdout.strip()
    raise ReleaseInputError(f"git ref {ref!r} does not exist in {url}.")


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS
    )
    if result.returncode != 0:
        raise ReleaseInputError(f"git {args[0]} failed: {result.stderr.strip()}")
    return result.stdout
