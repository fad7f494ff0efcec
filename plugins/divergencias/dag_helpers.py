"""Glue between Airflow's runtime and the audit session, shared by the DAG's tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

OPEN_SESSION_TASK_ID = "open_session"


def session_params(ti: Any) -> dict[str, Any]:
    """Bound parameters of every statement after open_session: the session id, its period and
    mode as open_session returned them, and the pipeline user. Used as the ``sessao`` macro."""
    from divergencias.settings import PIPELINE_USER

    rows = ti.xcom_pull(task_ids=OPEN_SESSION_TASK_ID)
    if not rows:
        raise RuntimeError("open_session returned no session: nothing to process")
    sessao_id, data_inicio, data_fim, modo = rows[0]
    return {
        "sessao_id": int(sessao_id),
        "data_inicio": data_inicio,
        "data_fim": data_fim,
        "modo": modo,
        "usuario": PIPELINE_USER,
    }


def run_url(dag_id: str, run_id: str) -> str:
    from airflow.configuration import conf

    base_url = conf.get("api", "base_url", fallback="http://localhost:8080/")
    return f"{base_url.rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}"


def task_defaults(execution_timeout: timedelta) -> dict[str, Any]:
    """default_args of both DAGs. Every step is one transaction and idempotent, so a retry
    after a dropped connection or a busy mail server can neither record nor apply twice."""
    from divergencias.notifications import notify_task_failure

    return {
        "owner": "controladoria",
        "on_failure_callback": notify_task_failure,
        "execution_timeout": execution_timeout,
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
    }
