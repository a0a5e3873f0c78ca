"""What the migration ops share: run tags, the service they act on, reading a commit's files."""

from __future__ import annotations

import dagster as dg

from release_pipeline.catalog import Migrations, Service, default_catalog
from release_pipeline.errors import CatalogError, ReleaseInputError
from release_pipeline.migrations.ledger import MigrationSource, read_migration_files
from release_pipeline.resources.git import GitResource
from release_pipeline.steps.context import SERVICE_TAG

# Approvals are tagged apart from release/service so that approving never waits in
# the run queue behind the plan or apply it unblocks.
APPROVAL_TAG = "release/approval"
REQUESTED_BY_TAG = "release/requested_by"
APPROVAL_ID_TAG = "release/approval_id"
PLAN_HASH_TAG = "release/plan_hash"
APPROVER_TAG = "release/approver"


def migration_service(context: dg.OpExecutionContext) -> tuple[Service, Migrations]:
    """The service of this run (from its tags) and its migrations strategy."""
    name = context.run.tags.get(SERVICE_TAG) or context.run.tags.get(APPROVAL_TAG, "")
    service = default_catalog().service(name)
    if not isinstance(service.strategy, Migrations):
        raise CatalogError(f"Service {name!r} is not released with migrations.")
    return service, service.strategy


def requester(context: dg.OpExecutionContext, configured: str) -> str:
    """Who asks: the run's config, else its ``release/requested_by`` tag."""
    name = configured.strip() or context.run.tags.get(REQUESTED_BY_TAG, "").strip()
    if not name:
        raise ReleaseInputError(
            "Say who requests this: set requested_by in the run config (or the run tag"
            f" {REQUESTED_BY_TAG}). Someone else will have to approve it."
        )
    return name


def read_source(
    git: GitResource, service: Service, strategy: Migrations, ref: str, name: str
) -> MigrationSource:
    """Checks out ``ref``, reads the migration files into memory, removes the checkout."""
    checkout = git.checkout(ref, name=name)
    try:
        directory = checkout.path / service.source_dir / strategy.migrations_dir
        files = read_migration_files(directory)
    finally:
        git.remove(name)
    return MigrationSource(commit=checkout.commit, git_ref=ref, files=files)
