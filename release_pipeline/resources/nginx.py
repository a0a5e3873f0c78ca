"""nginx as the load balancer: upstream files, config test, graceful reload."""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from pydantic import Field

from release_pipeline.errors import LoadBalancerError

HEADER = "# release_pipeline:"
NGINX_TIMEOUT_SECONDS = 30
LOCK_FILE = ".release_pipeline.lock"


@dataclass(frozen=True)
class Backend:
    address: str
    weight: int = 100


@dataclass(frozen=True)
class UpstreamState:
    """What the managed upstream file says is live, as key/value facts."""

    facts: dict[str, str]

    def get(self, key: str) -> str | None:
        value = self.facts.get(key)
        return None if value in (None, "", "none") else value


def render_upstream(upstream: str, backends: list[Backend], facts: dict[str, str]) -> str:
    """Renders the upstream file; the header line keeps the deployment's facts."""
    header = " ".join(f"{key}={value or 'none'}" for key, value in facts.items())
    lines = [f"{HEADER} {header}", f"upstream {upstream} {{"]
    lines += [f"    server {backend.address} weight={backend.weight};" for backend in backends]
    if not backends:
        lines.append("    server 127.0.0.1:9 down;")
    lines.append("}")
    return "\n".join(lines) + "\n"


def parse_state(text: str) -> UpstreamState:
    first = text.splitlines()[0] if text else ""
    if not first.startswith(HEADER):
        return UpstreamState({})
    pairs = (item.partition("=") for item in first[len(HEADER) :].split())
    return UpstreamState({key: value for key, _, value in pairs})


class NginxResource(dg.ConfigurableResource):
    """Owns one upstream file per service in an nginx config directory.

    Changes are written atomically, checked with ``nginx -t`` and applied with
    a graceful reload; a rejected file is put back as it was and nginx is not
    reloaded, so the live config is untouched.
    """

    nginx_bin: str = Field(default="nginx", description="nginx binary.")
    prefix: str = Field(description="nginx prefix directory (-p).")
    conf: str = Field(description="nginx main config file (-c).")
    upstream_dir: str = Field(description="Directory of the managed <upstream>.conf files.")
    lb_urls: str = Field(description="service=url pairs, comma separated, of the listeners.")

    def lb_url(self, service: str) -> str:
        urls = dict(pair.split("=", 1) for pair in self.lb_urls.split(",") if "=" in pair)
        if service not in urls:
            raise LoadBalancerError(f"No load balancer URL for {service!r} in LB_URLS.")
        return urls[service].rstrip("/")

    def read_state(self, upstream: str) -> UpstreamState:
        path = self._path(upstream)
        return parse_state(path.read_text()) if path.exists() else UpstreamState({})

    def apply(self, upstream: str, backends: list[Backend], facts: dict[str, str]) -> bool:
        """Makes the upstream say this; False when it already did (no reload)."""
        rendered = render_upstream(upstream, backends, facts)
        path = self._path(upstream)
        with self._locked():
            previous = path.read_text() if path.exists() else None
            if previous == rendered:
                return False
            _write_atomically(path, rendered)
            problem = self._nginx("-t")
            if problem is not None:
                _restore(path, previous)
                raise LoadBalancerError(
                    f"nginx -t failed with the new {upstream} upstream, which was put back; the"
                    f" live config is unchanged. nginx -t said: {' '.join(problem.split())}"
                )
            problem = self._nginx("-s", "reload")
            if problem is not None:
                # nginx still runs the old config: the file must say so too, or the
                # next release would trust a header that nginx never applied.
                _restore(path, previous)
                raise LoadBalancerError(
                    f"nginx reload failed, so {upstream} traffic did not move and its upstream"
                    f" file was put back. Check that nginx runs ({self.prefix}). nginx said:"
                    f" {' '.join(problem.split())}"
                )
        return True

    def _path(self, upstream: str) -> Path:
        return Path(self.upstream_dir) / f"{upstream}.conf"

    def _nginx(self, *args: str) -> str | None:
        command = [self.nginx_bin, "-p", self.prefix, "-c", self.conf, "-q", *args]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=NGINX_TIMEOUT_SECONDS
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        return None if result.returncode == 0 else result.stderr.strip()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialises config changes of all services, so no reload sees a file mid-test."""
        with open(Path(self.upstream_dir) / LOCK_FILE, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".conf.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _restore(path: Path, previous: str | None) -> None:
    if previous is None:
        path.unlink(missing_ok=True)
    else:
        _write_atomically(path, previous)
