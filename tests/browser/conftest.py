"""A real ``airflow api-server`` process (with the plugin) and Debian's Chromium driven by
Playwright. Without Chromium the browser tests skip, except in CI (CI=true), where they fail:
.ci/run installs it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devtools.api_server import api_server as running_api_server
from devtools.browser import CHROMIUM, launch_chromium
from tests.api.conftest import airflow_auth, db, passwords, review_db, serialized_dags  # noqa: F401

# Playwright's assertions wait 5 s by default. A login round trip inside Airflow's frame, with
# the api-server and the database on the same two busy cores as the rest of the suite, took
# longer once in six full runs: a wrong page still fails, only later.
ASSERTION_TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def chromium_path() -> str:
    reason = None
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} not found (apt-get install -y chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "the playwright package is not installed (make install)"
    if reason and os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    if reason:
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def api_server(review_db, serialized_dags, airflow_auth, tmp_path: Path) -> str:  # noqa: F811
    """``airflow api-server`` on a free local port, its financial_db the test's database."""
    with running_api_server(os.environ, tmp_path) as base_url:
        yield base_url


@pytest.fixture
def browser(chromium_path: str):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        expect.set_options(timeout=ASSERTION_TIMEOUT_MS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def screenshots_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots are kept as artifacts (pytest's temporary folder)."""
    folder = tmp_path_factory.mktemp("screenshots")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    return folder
