"""``make run`` and ``make airflow`` on a fresh machine (devtools.local_run).

The embedded server here lives in the test's temporary folder, never in the project's
``.pgdata/``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
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
# started; it says so in its file when it got to finish. With "stuck", it never stops, like
# standalone's scheduler sometimes, and leaves a child behind.
_AIRFLOW_LIKE = """
import pathlib, signal, subprocess, sys, time
done = pathlib.Path(sys.argv[1])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
def stop(*_):
    time.sleep(1)
    done.write_text("stopped its children")
    child.kill()
    sys.exit(0)
signal.signal(signal.SIGINT, signal.SIG_IGN if sys.argv[2] == "stuck" else stop)
done.with_suffix(".ready").write_text(str(child.pid))
time.sleep(120)
"""

_LOCAL_RUN_WAITING = """
import subprocess, sys
from devtools.local_run import wait_for
command = subprocess.Popen([sys.executable, "-c", *sys.argv[1:]], start_new_session=True)
sys.exit(wait_for(command, grace_seconds=5))
"""


def ctrl_c_during(behaviour: str, tmp_path: Path) -> tuple[Path, int]:
    """Start the Airflow-like command through local_run's wait, as `make airflow` does in a
    terminal (its own process group, SIGINT at its default), press Ctrl-C once it started, and
    return its file and its child's pid once local_run has ended."""
    done = tmp_path / "airflow"
    job = subprocess.Popen(
        [sys.executable, "-c", _LOCAL_RUN_WAITING, _AIRFLOW_LIKE, str(done), behaviour],
        cwd=Path(__file__).resolve().parents[1],
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    ready = done.with_suffix(".ready")
    deadline = time.monotonic() + 30
    while not ready.exists() or not ready.read_text():
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.1)

    os.killpg(job.pid, signal.SIGINT)  # what the terminal does on Ctrl-C

    assert job.wait(30) != 0
    return done, int(ready.read_text())


def test_ctrl_c_lets_airflow_stop_its_own_processes(tmp_path: Path) -> None:
    done, _ = ctrl_c_during("graceful", tmp_path)

    assert done.read_text() == "stopped its children"


def test_ctrl_c_leaves_no_process_of_a_command_that_would_not_stop(tmp_path: Path) -> None:
    _, child = ctrl_c_during("stuck", tmp_path)

    assert not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
