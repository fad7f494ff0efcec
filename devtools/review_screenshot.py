"""``python -m devtools.review_screenshot --output docs/revisao-divergencias.png``: the README's
picture of the "Divergências" page, rebuilt from nothing.

Everything it starts lives in a temporary folder and is stopped and deleted on exit, on error
and on Ctrl-C or SIGTERM: an embedded PostgreSQL with the demo sales (the generator of
``make run``, up to a fixed day so the picture does not drift) and one run of the daily DAG's
SQL steps over them, Airflow's metadata (SQLite), and ``airflow api-server``. Debian's
Chromium logs in as ``controladora`` and photographs the open review queue inside Airflow's
UI at a fixed size. The only file written in the project is ``--output``, once the page was
checked (no error message, the filters, pt-BR statuses and amounts).
"""

from __future__ import annotations

import sys

# The project's modules are imported below and in the api-server: their bytecode would be the
# one thing this tool leaves in the project tree.
sys.dont_write_bytecode = True

import argparse  # noqa: E402
import os  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from contextlib import suppress  # noqa: E402
from datetime import date, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from types import FrameType  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

from devtools import databases, demo_source, embedded_postgres  # noqa: E402
from devtools.api_server import AIRFLOW, PROJECT_ROOT, api_server, simple_auth_settings  # noqa: E402
from devtools.browser import launch_chromium, log_in  # noqa: E402
from devtools.local_run import (  # noqa: E402
    DEMO_DATABASE,
    DEMO_RATES,
    DEMO_SALES,
    LOCAL_USERS,
    done,
    isolated_airflow_environment,
    step,
)

if TYPE_CHECKING:
    from playwright.sync_api import FrameLocator

# The demo's last day and the run's period: a daily run's 31 days back from it.
DEMO_END = date(2026, 11, 27)
RUN_START = DEMO_END - timedelta(days=31)
USER = "controladora"
# A laptop's screen (1920x1080 at 125 %), wide enough for the queue's whole row: at 1440 the
# Detalhes buttons sit behind the table's horizontal scroll.
VIEWPORT = {"width": 1536, "height": 864}
PAGE_WAIT_MS = 30_000
# The page's words for an open divergence; the database's code would mean a stale page.
OPEN_STATUS = "Aberta"


class PageNotReady(RuntimeError):
    """The page is not what the README should show; nothing is written."""


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turned into an exception so every `finally` below stops what it started.
    raise SystemExit(128 + signum)


def prepare_demo(admin_dsn: str) -> str:
    """The demo database after one auto run of the daily DAG's SQL steps; returns its DSN."""
    import psycopg

    from devtools.sql_steps import run_session
    from divergencias.migrations import migrate

    dsn = databases.create_database(admin_dsn, DEMO_DATABASE)
    step("Migrating schema audit")
    migrate(dsn, progress=lambda line: None)
    done()
    step(f"Loading {DEMO_SALES:,} demo sales up to {DEMO_END:%d/%m/%Y}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        demo_source.generate_sales(
            conn, DEMO_SALES, end_date=DEMO_END, rates=demo_source.DemoRates(**DEMO_RATES), progress=None
        )
        done()
        step(f"Running the daily DAG's SQL steps, modo auto, {RUN_START:%d/%m/%Y} to {DEMO_END:%d/%m/%Y}")
        run_session(conn, RUN_START, DEMO_END, modo="auto")
        pending = conn.execute(
            "SELECT count(*) FROM audit.divergencias_processadas WHERE status_processamento = 'DETECTED'"
        ).fetchone()[0]
        done(f"{pending} divergences left for review")
    return dsn


def migrate_airflow(env: dict[str, str], folder: Path) -> None:
    step("Preparing Airflow's metadata database (SQLite, temporary)")
    log_path = folder / "db_migrate.log"
    with log_path.open("w") as log:
        finished = subprocess.run([AIRFLOW, "db", "migrate"], env=env, stdout=log, stderr=subprocess.STDOUT)
    if finished.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{log_path.read_text()[-3000:]}")
    done()


def photograph(base_url: str, password: str, target: Path) -> None:
    """Log in, open the page from Airflow's UI, check it, write ``target``."""
    from playwright.sync_api import sync_playwright

    step(f"Photographing the review queue in Chromium ({VIEWPORT['width']}x{VIEWPORT['height']}) as {USER}")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            context = browser.new_context(viewport=VIEWPORT, locale="pt-BR", timezone_id="America/Sao_Paulo")
            context.set_default_timeout(PAGE_WAIT_MS)
            page = context.new_page()
            log_in(page, base_url, USER, password)
            page.goto(f"{base_url}/plugin/divergencias")
            frame = page.frame_locator("iframe")
            rows = frame.locator("#tabela-divergencias tbody tr")
            rows.first.wait_for()
            frame.locator(f"#usuario:has-text('{USER}')").wait_for()
            page.wait_for_load_state("networkidle")
            check_page(frame)
            page.screenshot(path=str(target))
        finally:
            browser.close()
    done()


def check_page(frame: FrameLocator) -> None:
    """What the README promises the reader sees; raises PageNotReady otherwise."""
    problems = []
    if frame.locator("#mensagem.erro").count():
        problems.append(f"an error message: {frame.locator('#mensagem').inner_text()!r}")
    if not frame.get_by_role("button", name="Filtrar").is_visible():
        problems.append("no filters")
    statuses = frame.locator("#tabela-divergencias tbody .status").all_inner_texts()
    if not statuses or any(status != OPEN_STATUS for status in statuses):
        problems.append(f"statuses other than {OPEN_STATUS!r}: {sorted(set(statuses))}")
    if "R$" not in frame.locator("#tabela-divergencias tbody").inner_text():
        problems.append("no R$ amount in the list")
    if problems:
        raise PageNotReady("the page is not fit for the README: " + "; ".join(problems))


def generate(output: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="review_screenshot_") as name:
        folder = Path(name)
        print(f"==> Working in {folder} (deleted at the end)", flush=True)
        step("Starting a temporary embedded PostgreSQL")
        with embedded_postgres.temporary(folder / "pgdata") as admin_dsn:
            done()
            env = {
                **isolated_airflow_environment(folder / "airflow"),
                "AIRFLOW_CONN_FINANCIAL_DB": databases.airflow_connection_json(
                    databases.dsn_for(admin_dsn, DEMO_DATABASE)
                ),
                "PYTHONDONTWRITEBYTECODE": "1",
            }
            # This process imports Airflow too (the SQL steps): with the same settings.
            os.environ.clear()
            os.environ.update(env)
            sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
            prepare_demo(admin_dsn)
            migrate_airflow(env, folder)
            password = secrets.token_urlsafe(12)
            env.update(simple_auth_settings({USER: LOCAL_USERS[USER][0]}, {USER: password}, folder))
            step("Starting airflow api-server with the review plugin")
            with api_server(env, folder) as base_url:
                done(base_url)
                picture = folder / "screenshot.png"
                photograph(base_url, password, picture)
            shutil.copyfile(picture, output)
    print(f"==> Wrote {output}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.review_screenshot", description=__doc__)
    parser.add_argument("--output", required=True, type=Path, help="PNG to write, e.g. docs/revisao-divergencias.png")
    args = parser.parse_args(argv)
    output = args.output.resolve()
    if not output.parent.is_dir():
        parser.error(f"folder {output.parent} does not exist")
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    try:
        generate(output)
    except PageNotReady as refused:
        print(f"review_screenshot: {refused}; {output} was not written", file=sys.stderr)
        return 1
    finally:
        stop_leftovers()
    return 0


def stop_leftovers() -> None:
    """Ends whatever this process started and is still running: a signal that lands while
    Playwright starts its driver skips the driver's own shutdown, and the driver and its
    Chromium would outlive this process."""
    import psutil

    leftovers = psutil.Process().children(recursive=True)
    for process in leftovers:
        with suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=10)
    for process in alive:
        with suppress(psutil.NoSuchProcess):
            process.kill()


if __name__ == "__main__":
    sys.exit(main())
