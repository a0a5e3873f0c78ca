"""Cloudflare Pages: ``wrangler pages deploy`` to publish, the API to list and roll back.

On Cloudflare a deployment to the production branch goes live when the upload
finishes, so ``publish`` and ``activate`` meet in one step there; rolling
back uses the API's rollback endpoint.
"""

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from release_pipeline.errors import PublishError

WRANGLER_TIMEOUT_SECONDS = 600
API_TIMEOUT_SECONDS = 30
DEPLOYMENT_URL = re.compile(r"https://([0-9a-f]{8})\.[\w.-]+\.pages\.dev")


@dataclass(frozen=True)
class CloudflarePages:
    """Publishes static builds to a Cloudflare Pages project."""

    api_token: str = field(repr=False)
    account_id: str
    project: str = "trading-frontend"
    branch: str = "production"
    api_url: str = "https://api.cloudflare.com/client/v4"
    wrangler: str = "npx --yes wrangler"

    def deploy_command(self, build_dir: Path, commit: str, version: str) -> list[str]:
        return [
            *self.wrangler.split(),
            "pages",
            "deploy",
            str(build_dir),
            f"--project-name={self.project}",
            f"--branch={self.branch}",
            f"--commit-hash={commit}",
            f"--commit-message=release {version}",
        ]

    def deploy_env(self) -> dict[str, str]:
        """The token travels in the environment, never on the command line."""
        return {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/root"),
            "CLOUDFLARE_API_TOKEN": self.api_token,
            "CLOUDFLARE_ACCOUNT_ID": self.account_id,
        }

    def publish(self, site: str, build_dir: Path, deployment_id: str, commit: str) -> str:
        """Uploads the build; returns Cloudflare's deployment id."""
        result = subprocess.run(
            self.deploy_command(build_dir, commit=commit, version=deployment_id),
            env=self.deploy_env(),
            capture_output=True,
            text=True,
            timeout=WRANGLER_TIMEOUT_SECONDS,
        )
        output = (result.stdout + result.stderr).replace(self.api_token, "***")
        match = DEPLOYMENT_URL.search(output)
        if result.returncode != 0 or match is None:
            raise PublishError(f"wrangler pages deploy of {site} failed: {output[-1500:]}")
        return match[1]

    def activate(self, site: str, deployment_id: str) -> None:
        """Rolls production to an earlier deployment (a new one is live after publish)."""
        if self.live(site) == deployment_id:
            return
        self._call("POST", f"/deployments/{deployment_id}/rollback")

    def live(self, site: str) -> str | None:
        deployments = self._call("GET", "/deployments?env=production")
        return deployments[0]["short_id"] if deployments else None

    def deployments(self, site: str) -> list[str]:
        deployments = self._call("GET", "/deployments?env=production")
        return [item["short_id"] for item in reversed(deployments)]

    def commit(self, site: str, deployment_id: str) -> str | None:
        """The commit hash ``publish`` gave the deployment; None when Cloudflare has none."""
        for item in self._call("GET", "/deployments?env=production"):
            if item.get("short_id") == deployment_id:
                trigger = item.get("deployment_trigger") or {}
                return (trigger.get("metadata") or {}).get("commit_hash") or None
        return None

    def remove(self, site: str, deployment_id: str) -> None:
        self._call("DELETE", f"/deployments/{deployment_id}")

    def _call(self, method: str, path: str):
        url = f"{self.api_url}/accounts/{self.account_id}/pages/projects/{self.project}{path}"
        try:
            response = httpx.request(
                method,
                url,
                headers={"Authorization": f"Bearer {self.api_token}"},
                timeout=API_TIMEOUT_SECONDS,
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise PublishError(f"Cloudflare API {method} {path} failed: {exc}") from None
        if not body.get("success"):
            raise PublishError(f"Cloudflare API {method} {path} refused: {body.get('errors')}")
        return body["result"]
