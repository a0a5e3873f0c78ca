"""The image registry: login, push with retries, digest read back."""

from __future__ import annotations

import time

import dagster as dg
import docker.errors
import httpx
from pydantic import Field, PrivateAttr

from release_pipeline.errors import RegistryError
from release_pipeline.resources.docker_engine import DockerResource

PUSH_ATTEMPTS = 3
PUSH_RETRY_DELAY_SECONDS = 2.0
HTTP_TIMEOUT_SECONDS = 15.0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


class RegistryResource(dg.ConfigurableResource):
    """Pushes images to an authenticated registry and reads their digests back.

    Example:
        ``RegistryResource(url="registry.trading.com", username=dg.EnvVar("REGISTRY_USERNAME"),
        password=dg.EnvVar("REGISTRY_PASSWORD"), docker_engine=docker_engine)``
    """

    url: str = Field(description="Registry host[:port], as used in image names.")
    username: str = Field(description="Registry user.")
    password: str = Field(description="Registry password; bind it with EnvVar.")
    docker_engine: DockerResource
    _logged_in: bool = PrivateAttr(default=False)

    def repository(self, image_name: str) -> str:
        return f"{self.url}/{image_name}"

    def login(self) -> None:
        """Logs the Docker engine in; raises RegistryError without revealing the password."""
        try:
            self.docker_engine.client().login(
                username=self.username, password=self.password, registry=self.url, reauth=True
            )
        except docker.errors.APIError as exc:
            explanation = self._scrub(str(exc.explanation))
            if "connection refused" in explanation or "no such host" in explanation:
                raise RegistryError(
                    f"Registry {self.url} is unreachable ({explanation}). Check REGISTRY_URL"
                    " and that the registry runs."
                ) from None
            raise RegistryError(
                f"Login to registry {self.url} as {self.username!r} was refused"
                f" ({explanation}). Check REGISTRY_USERNAME and REGISTRY_PASSWORD."
            ) from None
        self._logged_in = True

    def push(self, image_name: str, tag: str, log: dg.DagsterLogManager) -> str:
        """Pushes one tag, retrying transient failures; returns the registry's digest."""
        if not self._logged_in:
            self.login()
        repository = self.repository(image_name)
        for attempt in range(1, PUSH_ATTEMPTS + 1):
            try:
                self._push_once(repository, tag)
                break
            except RegistryError as exc:
                if attempt == PUSH_ATTEMPTS or "unauthorized" in str(exc).lower():
                    raise
                log.warning(f"Push of {repository}:{tag} failed ({exc}); retry {attempt}.")
                time.sleep(PUSH_RETRY_DELAY_SECONDS * attempt)
        return self.digest(image_name, tag)

    def promote(self, image_name: str, tag: str, to_tag: str, log: dg.DagsterLogManager) -> str:
        """Points ``to_tag`` (``latest``) at the image of ``tag`` and pushes it; returns its digest.

        The local image of ``tag`` is re-tagged first: another build on the same
        engine may have moved the local ``latest`` meanwhile.
        """
        repository = self.repository(image_name)
        try:
            self.docker_engine.client().images.get(f"{repository}:{tag}").tag(repository, to_tag)
        except docker.errors.DockerException as exc:
            raise RegistryError(f"Could not tag {repository}:{tag} as {to_tag}: {exc}") from None
        return self.push(image_name, to_tag, log)

    def digest(self, image_name: str, tag: str) -> str:
        """Reads the manifest digest of ``image_name:tag`` from the registry's API."""
        url = f"{self._api_scheme()}://{self.url}/v2/{image_name}/manifests/{tag}"
        try:
            response = httpx.head(
                url,
                auth=(self.username, self.password),
                headers={"Accept": MANIFEST_TYPES},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
        except httpx.HTTPError as exc:
            raise RegistryError(f"Registry {self.url} unreachable reading {tag}: {exc}") from None
        digest = response.headers.get("Docker-Content-Digest", "")
        if response.status_code != 200 or not digest.startswith("sha256:"):
            raise RegistryError(
                f"Registry {self.url} has no manifest for {image_name}:{tag}"
                f" (HTTP {response.status_code})."
            )
        return digest

    def pull(self, image_name: str, reference: str) -> str:
        """Pulls ``image_name`` at a tag or digest; returns the local reference."""
        if not self._logged_in:
            self.login()
        repository = self.repository(image_name)
        separator = "@" if reference.startswith("sha256:") else ":"
        try:
            self.docker_engine.client().images.pull(
                repository, tag=reference, auth_config=self._auth()
            )
        except docker.errors.APIError as exc:
            raise RegistryError(
                f"Pull of {repository}{separator}{reference} failed:"
                f" {self._scrub(str(exc.explanation))}"
            ) from None
        return f"{repository}{separator}{reference}"

    def _push_once(self, repository: str, tag: str) -> None:
        client = self.docker_engine.client()
        try:
            stream = client.images.push(
                repository, tag=tag, auth_config=self._auth(), stream=True, decode=True
            )
            for chunk in stream:
                if "error" in chunk:
                    raise RegistryError(
                        f"Push of {repository}:{tag} refused: {self._scrub(chunk['error'])}"
                    )
        except docker.errors.APIError as exc:
            raise RegistryError(
                f"Push of {repository}:{tag} failed: {self._scrub(str(exc.explanation))}"
            ) from None

    def _api_scheme(self) -> str:
        """HTTP for loopback registries, as the Docker engine itself allows; else HTTPS."""
        host = self.url.rsplit(":", 1)[0]
        return "http" if host in LOOPBACK_HOSTS else "https"

    def _auth(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password}

    def _scrub(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text
