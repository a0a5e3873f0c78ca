"""The example platform as a local git repository (branch main) the pipeline clones."""

from __future__ import annotations

import shutil
from pathlib import Path

from ._common import REPO_ROOT, Record, ServerError, log, run

SERVER = "git"
EXAMPLE_DIR = REPO_ROOT / "examples" / "trading-platform"
IGNORED = ("node_modules", "dist", ".git")
AUTHOR_NAME = "Release Sandbox"
AUTHOR_EMAIL = "sandbox@release.invalid"


def create(record: Record, state_dir: Path, example_dir: Path | None = None) -> None:
    """Copy the example (fresh each start), `git init -b main`, commit everything."""
    source = Path(example_dir or EXAMPLE_DIR)
    if not source.is_dir():
        raise ServerError(SERVER, f"example platform not found at {source}; create it first")
    target = state_dir / "git" / source.name
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target, symlinks=True, ignore=shutil.ignore_patterns(*IGNORED))
    git = ["git", "-C", str(target)]
    run([*git, "init", "-q", "-b", "main"], SERVER)
    run([*git, "config", "user.name", AUTHOR_NAME], SERVER)
    run([*git, "config", "user.email", AUTHOR_EMAIL], SERVER)
    run([*git, "add", "-A"], SERVER)
    run([*git, "commit", "-q", "-m", f"Import {source.name} into the sandbox"], SERVER)
    commit = run([*git, "rev-parse", "HEAD"], SERVER).stdout.strip()
    log.info("git: %s at %s (commit %s)", source.name, target, commit[:12])
    record.update(path=str(target), commit=commit, env={"RELEASE_GIT_URL": str(target)})
