"""The deploy lock against the sandbox's PostgreSQL."""

import logging
import threading

import pytest

from release_pipeline.errors import DeployLockError
from release_pipeline_tests.support import sandbox_resources

pytestmark = pytest.mark.sandbox
log = logging.getLogger("test_deploy_lock")


def test_a_second_deploy_of_the_same_service_waits_then_fails_naming_the_holder(sandbox_env):
    lock = sandbox_resources(sandbox_env)["deploy_lock"]
    held, release = threading.Event(), threading.Event()

    def first_deploy():
        with lock.hold("backend", "run-first", log):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=first_deploy)
    thread.start()
    held.wait(10)
    try:
        with pytest.raises(DeployLockError, match="run-first"), lock.hold("backend", "run-2", log):
            pass
    finally:
        release.set()
        thread.join()


def test_deploys_of_different_services_do_not_block_each_other(sandbox_env):
    lock = sandbox_resources(sandbox_env)["deploy_lock"]

    with lock.hold("backend", "run-a", log), lock.hold("ml_engine", "run-b", log):
        pass


def test_the_lock_is_free_again_after_the_holder_finishes(sandbox_env):
    lock = sandbox_resources(sandbox_env)["deploy_lock"]

    with lock.hold("backend", "run-a", log):
        pass
    with lock.hold("backend", "run-b", log):
        pass
