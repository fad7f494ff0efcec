"""First task of the daily DAG: check the params, migrate ``audit``, fix the period.

Params are checked before the database is touched, so a bad trigger writes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime

from divergencias import __version__
from divergencias.database import financial_db
from divergencias.migrations import apply_migrations
from divergencias.period import InvalidParams, resolve_period, validate_params
from divergencias.settings import environment


def prepare_run(params: dict, run_type: str, run_moment: datetime, dag_run_id: str) -> dict[str, str]:
    """Everything open_session records about the run, as bound parameters."""
    try:
        validate_params(params)
    except InvalidParams as error:
        from airflow.sdk.exceptions import AirflowFailException

        # A wrong trigger is not transient: fail at once, no retries.
        raise AirflowFailException(str(error)) from None
    ambiente = environment()
    with financial_db(autocommit=True) as conn:
        apply_migrations(conn)
        (dias_retroativos,) = conn.execute("SELECT audit.configuracao('dias_retroativos')::int").fetchone()
    period = resolve_period(params, run_type, run_moment, dias_retroativos)
    return {
        **period.as_xcom(),
        "dag_run_id": dag_run_id,
        "ambiente": ambiente,
        "versao_sistema": __version__,
        "parametros_execucao": json.dumps(params, default=str, sort_keys=True),
    }
