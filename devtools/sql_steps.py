"""Runs the DAG's own SQL steps (include/sql/divergencias) outside Airflow.

Statements are split exactly as SQLExecuteQueryOperator splits them (split_statements=True)
and run in one transaction, so tests and the benchmark exercise the very files the DAG runs.
"""

from __future__ import annotations

import json
from datetime import date

import psycopg
from airflow.providers.common.sql.hooks.sql import DbApiHook

from divergencias.dag_helpers import OpenedSession
from divergencias.database import sql_file


def run_step(conn: psycopg.Connection, task_id: str, params: dict) -> list[tuple] | None:
    """Run include/sql/divergencias/<task_id>.sql in one transaction; return the last
    statement's rows."""
    return run_sql(conn, sql_file(f"divergencias/{task_id}.sql"), params)


def run_sql(conn: psycopg.Connection, text: str, params: dict) -> list[tuple] | None:
    """Run a step's SQL text split as the operator splits it, in one transaction; return the
    last statement's rows."""
    rows = None
    with conn.transaction():
        for statement in DbApiHook.split_sql_string(text, strip_semicolon=True):
            cur = conn.execute(statement, params)
            rows = cur.fetchall() if cur.description else None
    return rows


def open_session(
    conn: psycopg.Connection,
    data_inicio: date,
    data_fim: date,
    modo: str = "auto",
    tipo_sessao: str = "MANUAL_RUN",
    dag_run_id: str | None = None,
    parametros: dict | None = None,
) -> dict:
    """open_session.sql; returns the parameters the later steps take. ``parametros`` are the
    run's params as the DAG records them (e.g. confirmar_resolucao_em_massa)."""
    rows = run_step(
        conn,
        "open_session",
        {
            "tipo_sessao": tipo_sessao,
            "data_inicio": str(data_inicio),
            "data_fim": str(data_fim),
            "modo": modo,
            "dag_run_id": dag_run_id,
            "ambiente": "DEVELOPMENT",
            "versao_sistema": "test",
            "parametros_execucao": json.dumps(parametros or {}),
            "disparado_por": None,
        },
    )
    return OpenedSession(*rows[0]).params()


def run_session(
    conn: psycopg.Connection, data_inicio: date, data_fim: date, modo: str = "auto", parametros: dict | None = None
) -> dict:
    """open_session, detect_divergences, apply_corrections, close_session: the data work of
    one run without the report and the email."""
    params = open_session(conn, data_inicio, data_fim, modo, parametros=parametros)
    for task_id in ("detect_divergences", "apply_corrections", "close_session"):
        run_step(conn, task_id, params)
    return params
