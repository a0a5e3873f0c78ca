"""Shared helpers: errors, ports, processes recorded by pid, waiting and logs."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("sandbox")

REPO_ROOT = Path(__file__).resolve().parent.parent
POLL_INTERVAL = 0.2
STOP_TIMEOUT = 30.0
REAP_TIMEOUT = 5.0
LOG_TAIL_LINES = 25

Record = dict[str, Any]


class SandboxError(RuntimeError):
    """A sandbox server could not be started, checked or stopped."""


class ServerError(SandboxError):
    """A named server failed; the message carries the tail of its log."""

    def __init__(self, server: str, message: str, log_path: Path | None = None) -> None:
        text = f"{server}: {message}"
        if log_path is not None:
            text += f"\n--- last lines of {log_path} ---\n{tail(log_path)}"
        super().__init__(text)
        self.server = server


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """Last lines of a text file, or a note that it does not exist."""
    try:
        content = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(content[-lines:]) or "(log is empty)"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run(cmd: Sequence[str], server: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; raise ServerError with its output if it fails."""
    result = subprocess.run(
        list(cmd), capture_output=True, text=True, stdin=subprocess.DEVNULL, **kwargs
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise ServerError(server, f"`{' '.join(cmd)}` exited {result.returncode}:\n{output}")
    return result


def spawn(
    cmd: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Record:
    """Start a long-running server in its own session, output to log_path; return its record."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    return process_record(proc.pid, log_path)


def process_record(pid: int, log_path: Path | None = None) -> Record:
    """Pid plus its kernel start time, so a reused pid is never mistaken for ours."""
    record: Record = {"pid": pid, "starttime": proc_starttime(pid)}
    if log_path is not None:
        record["log"] = str(log_path)
    return record


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks since boot) from /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def proc_starttime(pid: int) -> int | None:
    """Start time of a process, or None if there is no such process."""
    stat = _stat(pid)
    return stat[1] if stat else None


def _reap(pid: int) -> None:
    """Collect the exit status if the process is our own child (avoids zombies)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def alive(record: Record) -> bool:
    """True while the recorded process (same pid and start time) is running."""
    pid = record.get("pid")
    if not pid:
        return False
    _reap(pid)
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z" and stat[1] == record.get("starttime")


def _gone(record: Record) -> bool:
    """The process no longer exists at all (reaped, not even a zombie)."""
    _reap(record["pid"])
    return proc_starttime(record["pid"]) != record.get("starttime")


def terminate(record: Record, server: str, sig: int = signal.SIGTERM) -> None:
    """Signal the recorded process, wait for it to exit, SIGKILL after STOP_TIMEOUT."""
    if not alive(record):
        return
    log.info("stopping %s (pid %s)", server, record["pid"])
    os.kill(record["pid"], sig)
    if wait_until(lambda: not alive(record), STOP_TIMEOUT):
        wait_until(lambda: _gone(record), REAP_TIMEOUT)  # threads of a zombie leader exiting
        return
    log.warning("%s (pid %s) ignored signal %s; killing it", server, record["pid"], sig)
    os.kill(record["pid"], signal.SIGKILL)
    wait_until(lambda: not alive(record), STOP_TIMEOUT)


def wait_until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll check() until it is true (exceptions count as false) or timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - a server that is not up yet raises anything
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


def wait_ready(server: str, record: Record, check: Callable[[], bool], timeout: float) -> None:
    """Wait until check() passes while the recorded process stays alive."""
    log_path = Path(record["log"]) if record.get("log") else None

    def ready() -> bool:
        if not alive(record):
            raise ServerError(server, "exited while starting", log_path)
        return check()

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except ServerError:
            raise
        except Exception:  # noqa: BLE001 - not answering yet
            pass
        time.sleep(POLL_INTERVAL)
    raise ServerError(server, f"not ready after {timeout:.0f} s", log_path)
