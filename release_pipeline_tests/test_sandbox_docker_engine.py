"""The shared dockerd outlives the stack that started it while other stacks still use it."""

import os
import subprocess
import sys

from sandbox.docker_engine import other_live_users


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_other_live_users_names_running_stacks_but_not_mine(tmp_path):
    mine = tmp_path / "1-mine"
    other = tmp_path / f"{os.getppid()}-other"
    mine.touch()
    other.touch()

    assert other_live_users(tmp_path, str(mine)) == [other.name]


def test_other_live_users_forgets_stacks_whose_process_ended(tmp_path):
    gone = tmp_path / f"{dead_pid()}-gone"
    gone.touch()

    assert other_live_users(tmp_path, None) == []
    assert not gone.exists()


def test_other_live_users_without_a_registry_is_empty(tmp_path):
    assert other_live_users(tmp_path / "never-made", None) == []
