"""The Dagster UI in a real browser: Debian's Chromium driven by Playwright.

Playwright's own browser builds cannot be downloaded here, so it drives /usr/bin/chromium
(``scripts/setup`` installs it). Screenshots go to test-artifacts/ui/ for people to look at.
"""

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from release_pipeline.assets import deployment_key
from release_pipeline_tests.support import live_health, release_config

pytestmark = pytest.mark.sandbox

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "ui"
PAGE_TIMEOUT_MS = 60_000
RELEASE_TIMEOUT_MS = 300_000
VERSION = "ui.1"


@pytest.fixture
def page(tmp_path) -> Iterator[Page]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; scripts/setup installs Debian's chromium")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        page = browser.new_page()
        page.set_default_timeout(PAGE_TIMEOUT_MS)
        # A first visit may open a newsletter dialog over whatever the test clicks next.
        page.add_locator_handler(
            page.get_by_text("Join the Dagster community"),
            lambda: page.get_by_role("button", name="Skip").click(),
        )
        try:
            yield page
        finally:
            page.screenshot(path=ARTIFACTS / "last.png", full_page=True)
            browser.close()


def test_a_release_launched_from_the_launchpad_succeeds_and_updates_the_deployment(
    sandbox_env, dagster_services, page
):
    launchpad = f"{dagster_services.url}/locations/release_pipeline/jobs/backend_release/playground"
    page.goto(launchpad, wait_until="networkidle")
    expect(page.get_by_text("release/service: backend")).to_be_visible()
    page.locator(".CodeMirror").click()
    page.keyboard.press("Control+A")
    # Inserted, not typed: the editor would auto-close brackets and indent keystrokes.
    page.keyboard.insert_text(json.dumps(_ui_config()))
    expect(page.get_by_text("No errors")).to_be_visible()
    page.screenshot(path=ARTIFACTS / "1-launchpad.png")

    page.get_by_role("button", name="Launch Run").click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}"))
    run_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    expect(page.get_by_text("Success", exact=True).first).to_be_visible(timeout=RELEASE_TIMEOUT_MS)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=ARTIFACTS / "2-run-succeeded.png")

    page.goto(f"{dagster_services.url}/assets/backend/deployment", wait_until="networkidle")
    expect(page.get_by_text(VERSION, exact=True).first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "3-deployment-asset.png", full_page=True)

    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(run_id)
        latest = instance.get_latest_materialization_event(deployment_key("backend"))
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert latest.run_id == run_id
    assert live_health(sandbox_env)["version"] == VERSION


def _ui_config() -> dict:
    """What a person would paste: the version, and the tests' short waits."""
    return release_config(VERSION)
