"""The DAG under a real scheduler: `airflow backfill create` over three past days gives
three REPROCESSING sessions, one per day, each with its own period.

Starts the api-server, scheduler and dag-processor as real processes, with Airflow's
metadata in a PostgreSQL database of its own (several processes write to it at once).
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest

from tests.airflow_processes import airflow_components, wait_for
from tests.helpers import add_sale, booked


@pytest.mark.slow
def test_backfill_over_three_days_runs_three_reprocessing_sessions(
    conn, business_db, pg_admin_dsn, tmp_path, monkeypatch
):
    for day in (date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)):
        add_sale(conn, f"NF{day:%m%d}", bonus_dpto="1", dta_processamento=datetime(day.year, day.month, day.day, 9))

    settings = {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR": str(tmp_path / "relatorios"),
    }
    with airflow_components(pg_admin_dsn, tmp_path, settings) as airflow:
        airflow.wait_for_dag("divergencias_diarias")
        airflow.airflow(
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
        )

        def reprocessing_sessions() -> list[tuple]:
            return conn.execute(
                """SELECT data_inicio, data_fim, status FROM audit.sessoes_processamento
                    WHERE tipo_sessao = 'REPROCESSING' AND status <> 'RUNNING' ORDER BY data_inicio"""
            ).fetchall()

        wait_for(lambda: len(reprocessing_sessions()) >= 3, 300, "three backfill sessions", airflow.logs, conn)
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

        wait_for(lambda: len(daily_sessions()) >= 1, 120, "the scheduled run", airflow.logs)
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


@pytest.mark.slow
def test_a_backfill_reprocessing_a_day_in_manual_mode_corrects_nothing(conn, business_db, pg_admin_dsn, tmp_path):
    """`--reprocess-behavior` clears the day's existing run and hands it the backfill's conf,
    under the same run id: open_session reopened that run's session, mode included, so a
    reprocessing asked for in modo manual auto-applied corrections to byd.controladoria."""
    add_sale(conn, "NF_ANTES", bonus_dpto="1", dta_processamento=datetime(2026, 9, 1, 9))
    tick = "2026-09-02T07:00:00-03:00"
    settings = {
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR": str(tmp_path / "relatorios"),
    }
    with airflow_components(pg_admin_dsn, tmp_path, settings) as airflow:
        airflow.wait_for_dag("divergencias_diarias")

        def run_of_the_day() -> tuple | None:
            with psycopg.connect(airflow.meta_dsn) as meta:
                return meta.execute(
                    """SELECT r.state, r.conf::text, b.completed_at IS NOT NULL FROM dag_run r
                         JOIN backfill b ON b.id = r.backfill_id
                        WHERE r.dag_id = 'divergencias_diarias' AND r.logical_date = %s::timestamptz""",
                    (tick,),
                ).fetchone()

        backfill = ("backfill", "create", "--dag-id", "divergencias_diarias", "--from-date", tick, "--to-date", tick)
        airflow.airflow(*backfill)
        wait_for(lambda: (run_of_the_day() or ())[::2] == ("success", True), 300, "the first backfill", airflow.logs)
        assert booked(conn, "NF_ANTES")[0] == "5000.00"

        add_sale(conn, "NF_DEPOIS", bonus_dpto="1", dta_processamento=datetime(2026, 9, 1, 10))
        airflow.airflow(*backfill, "--reprocess-behavior", "completed", "--dag-run-conf", '{"modo": "manual"}')
        wait_for(
            lambda: "manual" in run_of_the_day()[1] and run_of_the_day()[::2] in {("success", True), ("failed", True)},
            300,
            "the reprocessing",
            airflow.logs,
        )
        # refused at its first task, naming the session it would have reopened; nothing written
        assert run_of_the_day()[0] == "failed"
        assert booked(conn, "NF_DEPOIS")[0] == "1"
        assert conn.execute("SELECT count(*) FROM audit.divergencias_processadas").fetchone()[0] == 1
