"""Debian's Chromium driven by Playwright, for the browser tests and the README's screenshot.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium``
(``apt-get install -y chromium``) through ``executable_path``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = "/usr/bin/chromium"


def launch_chromium(playwright: Playwright) -> Browser:
    # --no-sandbox: Chromium's sandbox refuses to start as root, as in containers and CI.
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)


def log_in(page: Page, base_url: str, user: str, password: str) -> None:
    """Through Airflow's login form, starting from the review page; ends back on the page."""
    page.goto(f"{base_url}/divergencias/")
    page.wait_for_url("**/auth/login**")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/divergencias/")
