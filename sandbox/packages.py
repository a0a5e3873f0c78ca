"""Debian packages the sandbox needs; installed with apt-get when missing and we are root."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ._common import SandboxError, log

# package -> file that proves it is installed
REQUIRED: dict[str, str] = {
    "docker.io": "/usr/sbin/dockerd",
    "docker-registry": "/usr/bin/docker-registry",
    "nginx-light": "/usr/sbin/nginx",
    "apache2-utils": "/usr/bin/htpasswd",
    "busybox-static": "/bin/busybox",
    "prometheus": "/usr/bin/prometheus",
    "git": "/usr/bin/git",
    "postgresql-15": "/usr/lib/postgresql/15/bin/pg_ctl",
    "prometheus-postgres-exporter": "/usr/bin/prometheus-postgres-exporter",
    "openssl": "/usr/bin/openssl",
}
APT_TIMEOUT = 900
POLICY_RC = Path("/usr/sbin/policy-rc.d")

_apt_updated = False


def _installed(package: str, path: str) -> bool:
    if package == "busybox-static":  # a dynamic /bin/busybox cannot run in a FROM scratch image
        return _dpkg_installed(package)
    return Path(path).exists()


def _dpkg_installed(package: str) -> bool:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
    )
    return result.returncode == 0 and "install ok installed" in result.stdout


def missing_packages() -> list[str]:
    """Packages whose marker file is absent."""
    return [pkg for pkg, path in REQUIRED.items() if not _installed(pkg, path)]


def ensure_packages() -> None:
    """Install missing packages with apt-get (root only); raise if that is impossible."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SandboxError(
            f"packages missing: {' '.join(missing)}; install them with "
            f"`sudo apt-get install -y {' '.join(missing)}`"
        )
    log.warning("sandbox: installing missing packages with apt-get: %s", " ".join(missing))
    _apt(["update"], once=True)
    _apt(["install", "-y", "--no-install-recommends", *missing])


def _apt(args: list[str], once: bool = False) -> None:
    global _apt_updated
    if once and _apt_updated:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _no_service_starts():
        result = subprocess.run(
            ["apt-get", *args], env=env, capture_output=True, text=True, timeout=APT_TIMEOUT
        )
    if result.returncode != 0:
        raise SandboxError(f"apt-get {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    if once:
        _apt_updated = True


@contextmanager
def _no_service_starts() -> Iterator[None]:
    """Temporary policy-rc.d so package scripts do not start system nginx/dockerd/postgres."""
    created = not POLICY_RC.exists()
    if created:
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC.chmod(0o755)
    try:
        yield
    finally:
        if created:
            POLICY_RC.unlink(missing_ok=True)
