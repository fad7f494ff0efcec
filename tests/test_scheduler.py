"""The DAG under a real scheduler: `airflow backfill create` over three past days gives
three REPROCESSING sessions, one per day, each with its own period.

Starts the api-server, scheduler and dag-processor as real processes, with Airflow's
metadata in a PostgreSQL database of its own (several processes write to it at once).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from devtools import databases
from tests.conftest import PROJECT_ROOT
from tests.helpers import add_sale

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _sqlalchemy_url(dsn: str) -> str:
    params = conninfo_to_dict(dsn)
    host = params.get("host", "localhost")
    user = params.get("user", "postgres")
    if host.startswith("/"):
        return f"postgresql+psycopg://{user}@/{params['dbname']}?host={host}"
    return f"postgresql+psycopg://{user}@{host}:{params.get('port', 5432)}/{params['dbname']}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(condition, timeout: float, what: str, logs: Path, conn=None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(1)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in sorted(logs.glob("*.log")))
    if conn is not None:
        sessions = conn.execute(
            "SELECT id, tipo_sessao, status, data_inicio, data_fim FROM audit.sessoes_processamento ORDER BY id"
        ).fetchall()
        tails = f"sessions: {sessions}\n{tails}"
    pytest.fail(f"timed out waiting for {what}\n{tails}")


@pytest.mark.slow
def test_backfill_over_three_days_runs_three_reprocessing_sessions(
    conn, business_db, pg_admin_dsn, tmp_path, monkeypatch
):
    for day in (date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)):
        add_sale(conn, f"NF{day:%m%d}", bonus_dpto="1", dta_processamento=datetime(day.year, day.month, day.day, 9))

    meta_name = f"airflow_meta_{os.getpid()}"
    databases.drop_database(pg_admin_dsn, meta_name)
    meta_dsn = databases.create_database(pg_admin_dsn, meta_name)
    port = _free_port()
    logs = tmp_path / "logs"
    logs.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _sqlalchemy_url(meta_dsn),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": "segredo-apenas-para-este-teste",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR": str(tmp_path / "relatorios"),
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    commands = {
        "api-server": [AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", str(port)],
        "scheduler": [AIRFLOW, "scheduler"],
        "dag-processor": [AIRFLOW, "dag-processor"],
    }
    processes = []
    try:
        for name, command in commands.items():
            out = (logs / f"{name}.log").open("w")
            processes.append(
                subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            )

        def dag_is_serialized() -> bool:
            with psycopg.connect(meta_dsn) as meta:
                return bool(
                    meta.execute("SELECT 1 FROM serialized_dag WHERE dag_id = 'divergencias_diarias'").fetchone()
                )

        _wait_for(dag_is_serialized, 120, "the dag-processor to parse the DAG", logs)
        subprocess.run(
            [
                AIRFLOW,
                "backfill",
                "create",
                "--dag-id",
                "divergencias_diarias",
                "--from-date",
                "2026-11-01T07:00:00-03:00",
                "--to-date",
                "2026-11-03T07:00:00-03:00",
                "--max-active-runs",
                "3",
            ],
            env=env,
            check=True,
            capture_output=True,
        )

        def reprocessing_sessions() -> list[tuple]:
            return conn.execute(
                """SELECT data_inicio, data_fim, status FROM audit.sessoes_processamento
                    WHERE tipo_sessao = 'REPROCESSING' AND status <> 'RUNNING' ORDER BY data_inicio"""
            ).fetchall()

        _wait_for(lambda: len(reprocessing_sessions()) >= 3, 300, "three backfill sessions", logs, conn)
        assert reprocessing_sessions() == [
            (date(2026, 10, 31), date(2026, 10, 31), "COMPLETED"),
            (date(2026, 11, 1), date(2026, 11, 1), "COMPLETED"),
            (date(2026, 11, 2), date(2026, 11, 2), "COMPLETED"),
        ]

        # unpaused with catchup off, the scheduler also ran the latest 07:00 tick: DAILY_AUTO
        def daily_sessions() -> list[tuple]:
            return conn.execute(
                """SELECT data_inicio, data_fim FROM audit.sessoes_processamento
                    WHERE tipo_sessao = 'DAILY_AUTO' AND status <> 'RUNNING'"""
            ).fetchall()

        _wait_for(lambda: len(daily_sessions()) >= 1, 120, "the scheduled run", logs)
        now = datetime.now(ZoneInfo("America/Sao_Paulo"))
        tick = now.date() if now.hour >= 7 else now.date() - timedelta(days=1)
        reference = tick - timedelta(days=1)
        assert daily_sessions() == [(reference - timedelta(days=31), reference)]

        # the scheduled run overlaps the backfill: each sale is recorded once, and a backfill
        # session only ever records sales of its own day
        recorded = conn.execute(
            """SELECT d.idnfsexterno, s.tipo_sessao, s.data_inicio, d.dta_processamento::date
                 FROM audit.divergencias_processadas d
                 JOIN audit.sessoes_processamento s ON s.id = d.sessao_id ORDER BY 1"""
        ).fetchall()
        assert [row[0] for row in recorded] == ["NF1031", "NF1101", "NF1102", "NF1103"]
        assert all(day == start for _, tipo, start, day in recorded if tipo == "REPROCESSING")
    finally:
        for process in processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        databases.drop_database(pg_admin_dsn, meta_name)
