"""pytest plugin: `pytest_plugins = ["sandbox.pytest_plugin"]` gives the `sandbox_env` fixture."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from .stack import Stack


@pytest.fixture(scope="session")
def sandbox_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Start a Stack for the session, export its env into os.environ, stop it at the end."""
    stack = Stack(tmp_path_factory.mktemp("sandbox"))
    env = stack.start()
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stack.stop()
