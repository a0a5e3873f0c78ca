"""Running commands with their output streamed to the run and a timeout."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
from pydantic import Field

from release_pipeline.errors import CommandError
from release_pipeline.secrets import REDACTED, known_secret_values

# Variables a build tool needs to find itself; everything else, secrets
# included, must be passed explicitly so a stage never sees what it was not given.
INHERITED_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER", "DOCKER_HOST")
TAIL_LINES = 40


class ShellResource(dg.ConfigurableResource):
    """Runs shell commands, streaming their output to the run's stdout.

    Example:
        ``shell.run("npm ci", cwd=checkout, timeout_seconds=600, log=context.log)``
    """

    shell: str = Field(default="/bin/bash", description="Shell that interprets each command.")

    def run(
        self,
        command: str,
        *,
        cwd: Path,
        timeout_seconds: float,
        env: Mapping[str, str] | None = None,
        label: str | None = None,
    ) -> str:
        """Runs ``command``; returns its output tail, or raises CommandError with it."""
        label = label or command
        started = time.monotonic()
        process = subprocess.Popen(
            [self.shell, "-c", command],
            cwd=cwd,
            env=_command_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        tail = _stream(process, timeout_seconds, started, known_secret_values())
        elapsed = time.monotonic() - started
        output = "".join(tail)
        if process.returncode is None:
            raise CommandError(
                f"{label!r} ran past its {timeout_seconds:.0f} s timeout and was stopped; if it"
                f" needs longer, raise its timeout_seconds in catalog.yaml. Last output:\n{output}"
            )
        if process.returncode != 0:
            raise CommandError(
                f"{label!r} exited with code {process.returncode} after {elapsed:.1f} s."
                f" Last output:\n{output}"
            )
        return output


def _command_env(extra: Mapping[str, str] | None) -> dict[str, str]:
    env = {name: os.environ[name] for name in INHERITED_VARIABLES if name in os.environ}
    # The pipeline's own interpreter comes first, so a stage's `python3 -m pytest`
    # uses the environment the pipeline was installed into.
    env["PATH"] = os.pathsep.join(filter(None, [os.path.dirname(sys.executable), env.get("PATH")]))
    env.update(extra or {})
    return env


def _stream(
    process: subprocess.Popen, timeout_seconds: float, started: float, secrets: list[str]
) -> list[str]:
    """Copies output to stdout as it comes, keeping the tail; kills the group on timeout.

    A command may print a secret (a test echoing a service's answer): every
    known secret value is replaced before a line goes anywhere.
    """
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    assert process.stdout is not None
    deadline = started + timeout_seconds
    os.set_blocking(process.stdout.fileno(), False)
    while True:
        line = _hide(process.stdout.readline(), secrets)
        if line:
            sys.stdout.write(line)
            tail.append(line)
            continue
        if process.poll() is not None:
            rest = _hide(process.stdout.read() or "", secrets)
            sys.stdout.write(rest)
            tail.extend(rest.splitlines(keepends=True))
            break
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            process.returncode = None
            break
        time.sleep(0.05)
    sys.stdout.flush()
    return list(tail)


def _hide(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, REDACTED)
    return text
