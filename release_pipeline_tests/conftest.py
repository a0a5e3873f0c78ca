import shutil
import tempfile

import pytest

from release_pipeline_tests.support import TRAFFIC_REPORTS

pytest_plugins = ["sandbox.pytest_plugin"]


def pytest_configure(config: pytest.Config) -> None:
    """Gives each session a temporary directory of its own.

    pytest's numbered directories keep only the newest few, so a second session
    started meanwhile deletes an older one's directory, sandbox databases and
    all. A session of ours runs for minutes next to others, so it takes a fresh
    directory that no other session removes.
    """
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="release-pipeline-tests-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_unconfigure(config: pytest.Config) -> None:
    """Removes the session's directory unless a test failed (it holds what they left)."""
    own = config.stash.get(_OWN_BASETEMP, None)
    if own and config.stash.get(_PASSED, False):
        shutil.rmtree(own, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config.stash[_PASSED] = exitstatus == 0


_OWN_BASETEMP = pytest.StashKey[str]()
_PASSED = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter):
    """Reports how many requests went through nginx during releases, and how many failed."""
    if TRAFFIC_REPORTS:
        terminalreporter.section("requests through nginx during releases and rollbacks")
        for line in TRAFFIC_REPORTS:
            terminalreporter.write_line(line)
