"""Glue between Airflow's runtime and the audit session, shared by the DAG's tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, NamedTuple
from urllib.parse import quote

OPEN_SESSION_TASK_ID = "open_session"


class OpenedSession(NamedTuple):
    """The row open_session.sql returns (its RETURNING clause, in that order)."""

    sessao_id: int
    data_inicio: str
    data_fim: str
    modo: str

    def params(self) -> dict[str, Any]:
        """Bound parameters of every statement after open_session, with the pipeline user. No
        attempt (``tentativa``): a step run outside Airflow records none (the operator sets it)."""
        from divergencias.settings import PIPELINE_USER

        return {**self._asdict(), "sessao_id": int(self.sessao_id), "usuario": PIPELINE_USER, "tentativa": None}


def session_params(ti: Any) -> dict[str, Any]:
    """Bound parameters of every statement after open_session: the session id, its period and
    mode as open_session returned them, and the pipeline user. Used as the ``sessao`` macro."""
    rows = ti.xcom_pull(task_ids=OPEN_SESSION_TASK_ID)
    if not rows:
        raise RuntimeError("open_session returned no session: nothing to process")
    return OpenedSession(*rows[0]).params()


def step_started(sessao_id: int, etapa: str) -> None:
    """Drop the step's done mark before it runs, in a transaction of its own: the mark comes
    back only with the step's committed work, so a re-run that fails is not counted done."""
    from divergencias.database import financial_db, sql_file

    with financial_db() as conn:
        conn.execute(sql_file("divergencias/step_started.sql"), {"sessao_id": sessao_id, "etapa": etapa})


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
