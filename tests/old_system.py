"""The databases users already have, rebuilt for tests: the old system's ``audit`` (its DDL,
with or without five months of its cron job's rows) and an ``audit`` built and run by main
as of commit 308fd28 (migrations 001-008). All three sit beside the demo ``byd`` the tests
use, loaded the way ``test_dag`` loads it.

Facts the rows reproduce, and what a correct first run of the DAG must do with them, are the
constants below; ``tests/test_old_system_fixture.py`` proves them on the fixture.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import psycopg

from devtools import demo_source
from devtools.sql_steps import run_sql
from divergencias.migrations import MIGRATIONS_DIR

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OLD_SYSTEM = FIXTURES / "old_system"
MAIN_V2 = FIXTURES / "main_v2"

DEMO_SALES = 3000
DEMO_END = date(2026, 10, 31)
# The pass main_v2 databases were run with: the whole demo, corrections applied.
MAIN_V2_PERIOD = (date(2026, 9, 1), DEMO_END)

# What the old rows hold (deterministic: the generator uses no random()).
OLD_SESSIONS = 165
OLD_RUNNING_SESSIONS = 3
OLD_OPEN_ROWS = 413  # DETECTED rows
OLD_OPEN_KEYS = 119  # distinct (idnfsexterno, tipo_divergencia, campo_afetado) among them
OLD_DUPLICATE_GROUPS = 114  # keys with more than one DETECTED row
# After the first run, whatever its period (every open divergence is re-checked):
OLD_OPEN_STILL_DIVERGING = 87  # stay DETECTED (one row each once duplicates are collapsed)
OLD_OPEN_NO_LONGER_HOLDING = 29  # RESOLVED: the sale is in byd but the condition is gone
OLD_OPEN_SALE_GONE = 3  # RESOLVED: the sale is not in byd.bonus_view any more
# Traps among the still-diverging keys: the old job re-detected, after a controller REJECTED
# it, a divergence whose values had not changed; and two APPROVED rows were never applied
# (processado_em NULL, so vw_divergencias_abertas lists them beside their DETECTED rows).
OLD_REJECTED_THEN_REDETECTED = 7
OLD_APPROVED_NOT_APPLIED = 2


def _load_demo_source(conn: psycopg.Connection) -> None:
    demo_source.generate_sales(conn, DEMO_SALES, end_date=DEMO_END, progress=None)


def _run_file(conn: psycopg.Connection, path: Path) -> None:
    with conn.transaction():
        conn.execute(path.read_text(encoding="utf-8"))


def build_old_system(conn: psycopg.Connection, with_rows: bool) -> None:
    """Create ``audit`` as the old DDL and the deployment guide's dashboard view left it and,
    with ``with_rows``, fill it as the old cron job did. Needs the demo ``byd`` for the rows.
    ``conn`` must be in autocommit."""
    _run_file(conn, OLD_SYSTEM / "ddl.sql")
    _run_file(conn, OLD_SYSTEM / "dashboard.sql")
    if with_rows:
        _run_file(conn, OLD_SYSTEM / "rows.sql")


def apply_main_v2_migrations(conn: psycopg.Connection) -> None:
    """Migrations 001-008 recorded exactly as main's runner recorded them at 308fd28
    (file name and sha256 in audit.schema_migracoes): a frozen copy on purpose, since the
    live runner is what is being changed."""
    with conn.transaction():
        conn.execute(
            """CREATE SCHEMA IF NOT EXISTS audit;
               CREATE TABLE IF NOT EXISTS audit.schema_migracoes (
                   versao       text PRIMARY KEY,
                   checksum     text NOT NULL,
                   aplicada_em  timestamp NOT NULL DEFAULT now()
               )"""
        )
    # 001-008 are frozen in include/sql/migrations (their checksums are recorded in users'
    # databases and verified on every run), so main's files are read from there.
    for path in sorted(MIGRATIONS_DIR.glob("00[1-8]_*.sql")):
        text = path.read_text(encoding="utf-8")
        with conn.transaction():
            conn.execute(text)
            conn.execute(
                "INSERT INTO audit.schema_migracoes (versao, checksum) VALUES (%s, %s)",
                (path.name, hashlib.sha256(text.encode()).hexdigest()),
            )


def run_main_v2_pass(conn: psycopg.Connection, data_inicio: date, data_fim: date, modo: str = "auto") -> int:
    """One run of main's DAG at 308fd28 without Airflow: its own SQL steps, the report and
    the email marked done, so the session ends COMPLETED. Returns the session id."""

    def step(name: str, params: dict) -> list[tuple] | None:
        return run_sql(conn, (MAIN_V2 / "steps" / f"{name}.sql").read_text(encoding="utf-8"), params)

    (opened,) = step(
        "open_session",
        {
            "tipo_sessao": "MANUAL_RUN",
            "data_inicio": str(data_inicio),
            "data_fim": str(data_fim),
            "modo": modo,
            "dag_run_id": f"manual__main_v2_{data_inicio}_{data_fim}",
            "ambiente": "DEVELOPMENT",
            "versao_sistema": "308fd28",
            "parametros_execucao": "{}",
        },
    )
    params = dict(zip(("sessao_id", "data_inicio", "data_fim", "modo"), opened, strict=True))
    step("detect_divergences", params)
    step("apply_corrections", params)
    for etapa in ("export_csv", "email_summary"):
        step("mark_step_done", {**params, "etapa": etapa})
    step("close_session", params)
    return params["sessao_id"]


def build_old_system_database(conn: psycopg.Connection, with_rows: bool) -> None:
    """The demo ``byd`` and the old ``audit``, in a database the system created."""
    _load_demo_source(conn)
    build_old_system(conn, with_rows)


def build_main_v2_database(conn: psycopg.Connection) -> None:
    """The demo ``byd`` and an ``audit`` migrated and run once by main at 308fd28."""
    apply_main_v2_migrations(conn)
    _load_demo_source(conn)
    run_main_v2_pass(conn, *MAIN_V2_PERIOD)
