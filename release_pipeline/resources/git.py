"""Checking out the platform's source at a ref."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from release_pipeline.errors import ReleaseInputError
from release_pipeline.secrets import without_userinfo

GIT_TIMEOUT_SECONDS = 300
# A branch, tag or commit: no leading dash (it would be read as an option), no "..".
GIT_REF = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/@^~-]{1,200}$")
COMMIT = re.compile(r"^[0-9a-f]{7,64}$")
HISTORY_MIRROR = "_history.git"


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

    def is_ancestor(self, checkout: Path, commit: str, descendant: str) -> bool | None:
        """Whether ``commit`` is ``descendant`` or one of its ancestors, in a run's checkout.

        A ``descendant`` pushed after the checkout is fetched first. None means the
        repository does not hold it (a deleted branch, rewritten history) or could not
        be fetched, so nobody can tell. In a shallow clone a missing link only proves
        the history was cut, so the full history is fetched before answering no, and
        None is the answer when it cannot be.
        """
        if not _has_commit(checkout, descendant):
            fetched = _run_git("-C", str(checkout), "fetch", "--quiet", "--tags", "origin")
            if fetched.returncode != 0 or not _has_commit(checkout, descendant):
                return None
        if _merge_base_is_ancestor(checkout, commit, descendant):
            return True
        if not _is_shallow(checkout):
            return False

        _run_git("-C", str(checkout), "fetch", "--quiet", "--unshallow", "--tags", "origin")
        if _is_shallow(checkout):
            return None
        return _merge_base_is_ancestor(checkout, commit, descendant)

    def commit_times(self, commits: Iterable[str]) -> dict[str, float]:
        """Committer time (Unix seconds) of each commit the repository holds; others left out.

        Reads a bare mirror kept in ``work_dir/_history.git`` (cloned once, fetched after):
        history only, no working tree.
        """
        wanted = sorted({commit for commit in commits if COMMIT.match(commit)})
        if not wanted:
            return {}
        mirror = Path(self.work_dir) / HISTORY_MIRROR
        if (mirror / "HEAD").is_file():
            _git("-C", str(mirror), "fetch", "--quiet", "--prune")
        else:
            shutil.rmtree(mirror, ignore_errors=True)
            mirror.parent.mkdir(parents=True, exist_ok=True)
            _git("clone", "--quiet", "--mirror", "--filter=blob:none", self.repo_url, str(mirror))
        listed = _git(
            "-C", str(mirror), "log", "--no-walk=unsorted", "--ignore-missing",
            "--format=%H %ct", *wanted,
        )  # fmt: skip
        found = dict(line.split(" ", 1) for line in listed.splitlines() if " " in line)
        return {
            commit: float(seconds)
            for commit in wanted
            for full, seconds in found.items()
            if full.startswith(commit)
        }


def _has_commit(checkout: Path, commit: str) -> bool:
    found = _run_git("-C", str(checkout), "cat-file", "-e", f"{commit}^{{commit}}")
    return found.returncode == 0


def _merge_base_is_ancestor(checkout: Path, commit: str, descendant: str) -> bool:
    result = _run_git("-C", str(checkout), "merge-base", "--is-ancestor", commit, descendant)
    if result.returncode not in (0, 1):
        raise ReleaseInputError(f"git merge-base failed: {result.stderr.strip()}")
    return result.returncode == 0


def _is_shallow(checkout: Path) -> bool:
    """Whether the clone's history is cut short (``--depth``); unknown counts as shallow."""
    answer = _run_git("-C", str(checkout), "rev-parse", "--is-shallow-repository")
    return answer.returncode != 0 or answer.stdout.strip() != "false"


def _run_git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS
    )


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
    raise ReleaseInputError(f"git ref {ref!r} does not exist in {without_userinfo(url)}.")


def _git(*args: str) -> str:
    result = subprocess.run(
        ["git", *args], capture_output=True, text=True, timeout=GIT_TIMEOUT_SECONDS
    )
    if result.returncode != 0:
        # git may quote the remote, and a remote may carry a token in its URL.
        reason = without_userinfo(result.stderr.strip())
        raise ReleaseInputError(f"git {args[0]} failed: {reason}")
    return result.stdout
