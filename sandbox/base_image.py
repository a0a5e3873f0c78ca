"""The busybox base image every example service is built FROM."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import docker.errors

from ._common import Record, ServerError, log
from .docker_engine import client

SERVER = "base image"
IMAGE = "release-sandbox/base:busybox"
BUSYBOX = Path("/bin/busybox")
DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp && chmod 1777 /tmp
"""


def ensure(record: Record, docker_host: str) -> None:
    """Build IMAGE from busybox-static unless the engine already has it."""
    record.update(image=IMAGE, env={"RELEASE_BASE_IMAGE": IMAGE})
    with client(docker_host) as api:
        try:
            api.images.get(IMAGE)
            record["built"] = False
            return
        except docker.errors.ImageNotFound:
            pass
        log.info("base image: building %s", IMAGE)
        with tempfile.TemporaryDirectory(prefix="sandbox-base-") as context:
            shutil.copy2(BUSYBOX, Path(context) / "busybox")
            (Path(context) / "Dockerfile").write_text(DOCKERFILE)
            try:
                api.images.build(path=context, tag=IMAGE, rm=True, forcerm=True)
            except docker.errors.BuildError as exc:
                build_log = "".join(str(c.get("stream", c)) for c in exc.build_log)
                raise ServerError(SERVER, f"build failed: {exc}\n{build_log[-2000:]}") from exc
    record["built"] = True
