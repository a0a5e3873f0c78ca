"""The run config and tags that a Jenkins build gives a release_pipeline job.

    python jenkins/run_config.py config JOB   # run config as JSON (which is YAML too)
    python jenkins/run_config.py tags         # run tags as JSON

Everything comes from the build's environment:

- ``<service>_release`` jobs check out ``GIT_REF`` (default ``main``) and tag the
  image with ``BUILD_NUMBER``.
- ``<service>_migration_plan`` plans ``GIT_REF`` on behalf of ``BUILD_USER_ID``
  (default ``jenkins``); someone else approves the plan in Dagster.
- Every other job (rollbacks) needs no config.
- ``RELEASE_CONFIG_OVERRIDES`` may name a YAML file merged over the result, for
  example to shorten the scale-down delay on a staging host.

The tags name the build (``jenkins/build``) and, when Jenkins sets it, its URL.
The build parameters ``RELEASE_FORCE`` and ``RELEASE_EMERGENCY`` (``true`` or
``false``) become the guards' ``release/force`` and ``release/emergency`` tags.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

DEFAULT_GIT_REF = "main"
DEFAULT_REQUESTER = "jenkins"
# The op that takes each kind of job's input, by job name suffix.
CHECKOUT_OPS = {"_release": "checkout", "_migration_plan": "checkout_migrations"}


def run_config(job: str, env: dict[str, str]) -> dict[str, Any]:
    """The run config of ``job`` for the build described by ``env``."""
    config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    op_config = _checkout_config(job, env)
    if op_config is not None:
        op_name = next(op for suffix, op in CHECKOUT_OPS.items() if job.endswith(suffix))
        config["ops"] = {op_name: {"config": op_config}}
    overrides = env.get("RELEASE_CONFIG_OVERRIDES")
    if overrides:
        config = merge(config, yaml.safe_load(Path(overrides).read_text()) or {})
    return config


def run_tags(env: dict[str, str]) -> dict[str, str]:
    """The tags that tie a run to its Jenkins build."""
    tags = {"jenkins/build": _required(env, "BUILD_NUMBER")}
    if env.get("BUILD_URL"):
        tags["jenkins/url"] = env["BUILD_URL"]
    # Build parameters for the release guards (README "Guards"): "true" or unset.
    for variable, tag in (
        ("RELEASE_FORCE", "release/force"),
        ("RELEASE_EMERGENCY", "release/emergency"),
    ):
        value = env.get(variable, "").strip().lower()
        if value in ("", "false"):
            continue
        if value != "true":
            raise SystemExit(f"{variable} must be true or false, got {env[variable]!r}.")
        tags[tag] = "true"
    return tags


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in, mapping by mapping; overrides win."""
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _checkout_config(job: str, env: dict[str, str]) -> dict[str, str] | None:
    git_ref = env.get("GIT_REF") or DEFAULT_GIT_REF
    if job.endswith("_release"):
        return {"git_ref": git_ref, "version": _required(env, "BUILD_NUMBER")}
    if job.endswith("_migration_plan"):
        return {"git_ref": git_ref, "requested_by": env.get("BUILD_USER_ID") or DEFAULT_REQUESTER}
    return None


def _required(env: dict[str, str], name: str) -> str:
    if not env.get(name):
        raise SystemExit(f"{name} is not set; Jenkins sets it for every build.")
    return env[name]


def main(argv: list[str]) -> int:
    if argv[:1] == ["tags"] and len(argv) == 1:
        print(json.dumps(run_tags(dict(os.environ))))
        return 0
    if argv[:1] == ["config"] and len(argv) == 2:
        print(json.dumps(run_config(argv[1], dict(os.environ)), indent=2))
        return 0
    print("usage: run_config.py config JOB | run_config.py tags", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
