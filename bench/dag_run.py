"""The whole DAG under Airflow: one ``airflow dags test`` on a copy of the loaded database.

Answers the issue's two end-to-end targets: the run costs at most ``OVERHEAD_TARGET_S``
more than its data work (the repetitions' median detect + apply + export on the same data
and period), and no task process peaks above ``TASK_RSS_TARGET_MB``. ``airflow dags test``
runs every task inside its own process, so that process's high-water mark (``VmHWM``) is
the task peak; its descendants, if any, are watched too and the highest peak is kept.

Airflow's metadata lives in a temporary ``AIRFLOW_HOME`` (SQLite, migrated once, not
timed). No SMTP connection and no recipients are configured, so the email task only logs
that email is skipped: sending mail is not part of the data work being compared.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psutil
import psycopg

from bench import PROJECT_ROOT

DAG_ID = "divergencias_diarias"
OVERHEAD_TARGET_S = 20.0
TASK_RSS_TARGET_MB = 300.0
POLL_SECONDS = 0.2


def _airflow_executable() -> str:
    return str(Path(sys.executable).with_name("airflow"))


class AirflowHome:
    """A temporary AIRFLOW_HOME whose metadata database is migrated in the background
    (started early so it overlaps the data load); ``wait()`` before using it."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="bench_airflow_"))
        self.output_dir = self.path / "relatorios"
        self.migrate_log = self.path / "db_migrate.log"
        self._log = self.migrate_log.open("w")
        self._migrate = subprocess.Popen(
            [_airflow_executable(), "db", "migrate"],
            env=self.environment(),
            cwd=PROJECT_ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def environment(self, financial_db: str | None = None) -> dict[str, str]:
        """The environment of every Airflow command here: the caller's, minus any Airflow
        setting, connection or Variable it carries (no SMTP, no recipients), plus ours."""
        from devtools.local_run import isolated_airflow_environment

        env = isolated_airflow_environment(self.path)
        env.update(
            {
                "AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR": str(self.output_dir),
                "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
                "PATH": os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")])),
            }
        )
        if financial_db is not None:
            from devtools.databases import airflow_connection_json

            env["AIRFLOW_CONN_FINANCIAL_DB"] = airflow_connection_json(financial_db)
        return env

    def wait(self) -> None:
        returncode = self._migrate.wait()
        self._log.close()
        if returncode != 0:
            tail = "\n".join(self.migrate_log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"airflow db migrate failed ({returncode}):\n{tail}")

    def cleanup(self) -> None:
        if self._migrate.poll() is None:
            self._migrate.kill()
        self._migrate.wait()
        self._log.close()
        shutil.rmtree(self.path, ignore_errors=True)


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return None  # gone, or a zombie (no memory left to report)


def _watch_peaks(process: subprocess.Popen) -> dict[int, tuple[str, int]]:
    """Poll ``process`` and all its descendants until it exits: the highest VmHWM seen
    per pid (kB) with the process name. Growth in the last poll interval is not seen."""
    peaks: dict[int, tuple[str, int]] = {}
    root = psutil.Process(process.pid)
    while True:
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            processes = []
        for proc in processes:
            hwm = _vm_hwm_kb(proc.pid)
            if hwm is None:
                continue
            name, seen = peaks.get(proc.pid, (None, 0))
            if name is None:
                try:
                    name = " ".join(proc.cmdline()[:4]) or proc.name()
                except psutil.Error:
                    name = "?"
            peaks[proc.pid] = (name, max(seen, hwm))
        if process.poll() is not None:
            return peaks
        time.sleep(POLL_SECONDS)


def _last_session(dsn: str) -> tuple[str, object, object] | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT status, inicio_processamento, fim_processamento "
            "FROM audit.sessoes_processamento ORDER BY id DESC LIMIT 1"
        ).fetchone()


def run_dag(home: AirflowHome, dsn: str, period_start: date, period_end: date) -> dict:
    """Time one ``airflow dags test`` against ``dsn`` and watch its memory.

    Returns wall seconds, the peak RSS over the process tree, the exit code, and the
    status and times of the session the run recorded in ``dsn``.
    """
    home.wait()
    conf = {"data_inicio": str(period_start), "data_fim": str(period_end), "modo": "auto"}
    log_file = home.path / "dags_test.log"
    command = [_airflow_executable(), "dags", "test", DAG_ID, "--conf", json.dumps(conf)]
    with log_file.open("w") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, env=home.environment(dsn), cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            peaks = _watch_peaks(process)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
        seconds = time.perf_counter() - started
    session = _last_session(dsn)
    status, started_at, finished_at = session if session else (None, None, None)
    session_seconds = (finished_at - started_at).total_seconds() if started_at and finished_at else None
    return {
        "seconds": seconds,
        "returncode": process.returncode,
        "peak_rss_mb": max((kb for _, kb in peaks.values()), default=0) / 1024,
        "process_peaks_mb": {f"{pid} {name}": kb / 1024 for pid, (name, kb) in sorted(peaks.items())},
        "session_status": status,
        "session_seconds": session_seconds,
        "conf": conf,
        "log": str(log_file),
    }
