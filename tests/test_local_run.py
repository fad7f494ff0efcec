"""``make run`` and ``make airflow`` on a fresh machine (devtools.local_run).

The embedded server here lives in the test's temporary folder, never in the project's
``.pgdata/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import embedded_postgres, local_run
from divergencias.database import financial_db

MIGRATIONS = Path(__file__).resolve().parents[1] / "include" / "sql" / "migrations"


@pytest.fixture
def fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No financial_db of the user's and no embedded server yet: what ``make run`` and
    ``make airflow`` find the first time."""
    pgdata = tmp_path / ".pgdata"
    monkeypatch.setattr(local_run, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(local_run, "PGDATA", pgdata)
    monkeypatch.delenv("AIRFLOW_CONN_FINANCIAL_DB", raising=False)
    try:
        yield pgdata
    finally:
        embedded_postgres.stop(pgdata)


def test_the_demo_database_is_migrated_before_the_review_page_reads_it(fresh_machine: Path) -> None:
    # make airflow opens the review page, which reads audit.*, before any run migrated it.
    local_run.prepare_business_database()

    with financial_db() as conn:
        applied = conn.execute("SELECT count(*) FROM audit.schema_migracoes").fetchone()[0]
        sales = conn.execute("SELECT count(*) FROM byd.bonus_view").fetchone()[0]
    assert applied == len(list(MIGRATIONS.glob("*.sql")))
    assert sales == local_run.DEMO_SALES


# A command that, like `airflow standalone`, needs a moment after Ctrl-C to stop what it
# started; it says so in its file when it got to finish.
_SLOW_TO_STOP = """
import pathlib, signal, sys, time
done = pathlib.Path(sys.argv[1])
def stop(*_):
    time.sleep(1)
    done.write_text("stopped its children")
    sys.exit(0)
signal.signal(signal.SIGINT, stop)
done.with_suffix(".ready").touch()
time.sleep(60)
"""

_LOCAL_RUN_WAITING = """
import subprocess, sys
from devtools.local_run import wait_for
sys.exit(wait_for(subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])))
"""


def test_ctrl_c_lets_airflow_stop_its_own_processes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    done = tmp_path / "airflow"
    # Its own process group, SIGINT at its default: a terminal's foreground job.
    job = subprocess.Popen(
        [sys.executable, "-c", _LOCAL_RUN_WAITING, _SLOW_TO_STOP, str(done)],
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while not done.with_suffix(".ready").exists():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.1)

    os.killpg(job.pid, signal.SIGINT)  # Ctrl-C reaches every process of the job

    assert job.wait(30) != 0
    assert done.read_text() == "stopped its children"
