"""Static hosting: which publisher serves the sites, chosen by the environment.

Production publishes to Cloudflare Pages; the sandbox (``FRONTEND_PUBLISHER=directory``)
publishes into a directory its nginx serves. Both keep immutable deployments
and move a production pointer.
"""

import os

import dagster as dg
from pydantic import Field

from release_pipeline.errors import PublishError
from release_pipeline.resources.cloudflare_pages import CloudflarePages
from release_pipeline.resources.site_directory import DirectorySite

PUBLISHERS = ("cloudflare_pages", "directory")


class StaticHostingResource(dg.ConfigurableResource):
    """Gives the publisher named by ``FRONTEND_PUBLISHER`` (default Cloudflare Pages).

    Non-secret settings are read from the environment when a run uses them, so a
    sandbox without Cloudflare settings and a production without ``SITES_DIR`` both load.
    """

    cloudflare_api_token: str = Field(description="Cloudflare API token; bind it with EnvVar.")
    project: str = Field(default="trading-frontend", description="Cloudflare Pages project.")
    branch: str = Field(default="production", description="Cloudflare Pages production branch.")

    def publisher(self) -> DirectorySite | CloudflarePages:
        kind = os.environ.get("FRONTEND_PUBLISHER", "cloudflare_pages")
        if kind == "directory":
            return DirectorySite(sites_dir=_required("SITES_DIR"))
        if kind == "cloudflare_pages":
            return CloudflarePages(
                api_token=self.cloudflare_api_token,
                account_id=_required("CLOUDFLARE_ACCOUNT_ID"),
                project=self.project,
                branch=self.branch,
            )
        raise PublishError(f"FRONTEND_PUBLISHER={kind!r} is not one of {PUBLISHERS}.")


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise PublishError(f"{name} is not set; the static site publisher needs it.")
    return value
