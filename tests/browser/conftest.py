"""A real ``airflow api-server`` process (with the plugin) and Debian's Chromium driven by
Playwright. Without Chromium the browser tests skip, except in CI (CI=true), where they fail:
.ci/run installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.airflow_processes import free_port
from tests.api.conftest import airflow_auth, db, passwords, review_db, serialized_dags  # noqa: F401
from tests.conftest import AIRFLOW, PROJECT_ROOT

CHROMIUM = "/usr/bin/chromium"
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
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__API__BASE_URL": base_url,
    }
    log = (tmp_path / "api-server.log").open("w")
    command = [AIRFLOW, "api-server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "api-server.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base_url}/divergencias/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "api-server did not start in 120 s"
            time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def browser(chromium_path: str):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"], headless=True)
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
