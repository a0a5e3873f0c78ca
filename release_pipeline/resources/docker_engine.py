"""The Docker engine: building images and running the service containers."""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import docker
import docker.errors
import requests
from docker.models.containers import Container
from pydantic import Field

from release_pipeline.errors import DockerError

LABEL_PREFIX = "release_pipeline."
STOP_TIMEOUT_SECONDS = 10
BUILD_TAIL_LINES = 20
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class RunningContainer:
    """A started container and the loopback address its port is published on."""

    id: str
    name: str
    address: str
    labels: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def host_port(self) -> int:
        return int(self.address.rsplit(":", 1)[1])


class DockerResource(dg.ConfigurableResource):
    """Builds images and manages containers through the Docker SDK.

    Example:
        ``docker_engine.run(image, name="backend-green", port=3001, labels=..., env=...)``
    """

    base_url: str = Field(
        default="unix:///var/run/docker.sock", description="Docker engine socket or URL."
    )
    environment: str = Field(
        default="production", description="Environment name stamped on every container."
    )
    base_image: str = Field(default="", description="Passed to builds as BASE_IMAGE when set.")

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.base_url, timeout=120)

    def build(
        self, context_dir: Path, dockerfile: str, tags: list[str], labels: dict[str, str]
    ) -> str:
        """Builds an image with every tag given; returns its id."""
        build_args = {"BASE_IMAGE": self.base_image} if self.base_image else {}
        tail: collections.deque[str] = collections.deque(maxlen=BUILD_TAIL_LINES)
        client = self.client()
        try:
            image, log = client.images.build(
                path=str(context_dir),
                dockerfile=dockerfile,
                tag=tags[0],
                labels=labels,
                buildargs=build_args,
                rm=True,
                forcerm=True,
            )
        except docker.errors.BuildError as exc:
            tail.extend(str(chunk.get("stream", chunk.get("error", ""))) for chunk in exc.build_log)
            raise DockerError(
                f"docker build of {tags[0]} failed: {exc.msg}\n{''.join(tail)}"
            ) from None
        except docker.errors.APIError as exc:
            raise DockerError(f"docker build of {tags[0]} failed: {exc.explanation}") from exc
        for tag in tags[1:]:
            image.tag(tag)
        return image.id

    def run(
        self,
        image: str,
        *,
        name: str,
        port: int,
        labels: dict[str, str],
        env: dict[str, str],
        host_port: int | None = None,
        memory_mb: int | None = None,
        cpus: float | None = None,
    ) -> RunningContainer:
        """Starts a container, replacing any old one of that name, port on 127.0.0.1.

        ``host_port`` keeps the address a replaced container had; by default the
        engine picks a free one. ``memory_mb`` and ``cpus`` limit the container.
        """
        self.remove(name)
        all_labels = {**labels, f"{LABEL_PREFIX}environment": self.environment}
        limits = {}
        if memory_mb is not None:
            limits["mem_limit"] = f"{memory_mb}m"
        if cpus is not None:
            limits["nano_cpus"] = round(cpus * 1e9)
        try:
            container = self.client().containers.run(
                image,
                name=name,
                detach=True,
                labels=all_labels,
                environment=env,
                ports={f"{port}/tcp": ("127.0.0.1", host_port)},
                **limits,
            )
        except docker.errors.DockerException as exc:
            raise DockerError(f"Could not start container {name} from {image}: {exc}") from exc
        return _describe(container, port)

    def find(self, name: str, port: int) -> RunningContainer | None:
        """Returns the running container of that name, or None."""
        try:
            container = self.client().containers.get(name)
        except docker.errors.NotFound:
            return None
        if container.status != "running":
            return None
        return _describe(container, port)

    def remove(self, name: str) -> bool:
        """Stops and removes a container; True if there was one."""
        try:
            container = self.client().containers.get(name)
        except docker.errors.NotFound:
            return False
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            raise DockerError(f"Could not remove container {name}: {exc.explanation}") from exc
        return True

    def run_once(
        self, image: str, command: list[str], *, name: str, env: dict[str, str], timeout: float
    ) -> tuple[int | None, str]:
        """Runs ``command`` in a throwaway container; returns its exit code and output.

        The exit code is None when the command ran past ``timeout`` seconds.
        """
        self.remove(name)
        labels = {f"{LABEL_PREFIX}environment": self.environment}
        try:
            container = self.client().containers.run(
                image, command, name=name, detach=True, labels=labels, environment=env
            )
        except docker.errors.DockerException as exc:
            raise DockerError(f"Could not run {command} in {image}: {exc}") from exc
        try:
            code = container.wait(timeout=timeout)["StatusCode"]
        except requests.exceptions.RequestException:
            code = None  # the wait timed out
        output = container.logs().decode(errors="replace")
        self.remove(name)
        return code, output

    def container_name(self, service: str, role: str) -> str:
        return f"{service}-{role}-{self.environment}".replace("_", "-")

    def image_labels(self, image: str) -> dict[str, str]:
        try:
            return self.client().images.get(image).labels or {}
        except docker.errors.ImageNotFound:
            return {}


def _describe(container: Container, port: int) -> RunningContainer:
    container.reload()
    bindings = (container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp") or []
    if not bindings:
        state = container.attrs.get("State", {})
        logs = container.logs(tail=LOG_TAIL_LINES).decode(errors="replace").strip()
        container.remove(force=True)
        raise DockerError(
            f"Container {container.name} stopped at once (status {state.get('Status')}, exit"
            f" code {state.get('ExitCode')}) and was removed. Its last output: {logs or '(none)'}"
        )
    host_port = bindings[0]["HostPort"]
    return RunningContainer(
        id=container.id,
        name=container.name,
        address=f"127.0.0.1:{host_port}",
        labels=container.labels,
    )
