"""First task of the daily DAG: check the params, migrate ``audit``, check the settings,
fix the period.

Params are checked before the database is touched, and every setting the run reads is
checked before anything is written, so a bad trigger or a broken setting writes nothing.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import NoReturn

import psycopg

from divergencias import __version__
from divergencias.database import financial_db, sql_file
from divergencias.migrations import MigrationRefused, apply_migrations
from divergencias.period import InvalidParams, RunPeriod, resolve_period, validate_params
from divergencias.settings import REQUIRED_SETTINGS, InvalidVariable, check_daily_run_variables


class InvalidSettings(ValueError):
    """A setting of audit.configuracoes_sistema a run needs is missing, inactive or malformed."""


# How a DBA corrects any of them: settings are versioned, so the row found stays as history
# (it may be the old system's own) and the active value is a newer version.
SETTINGS_FIX = (
    "Para corrigir, insira em audit.configuracoes_sistema uma nova versão de cada chave citada "
    "(versao maior que a atual, ativo = true) com um valor na forma indicada; nada foi gravado."
)


def read_required_settings(conn: psycopg.Connection) -> dict[str, str]:
    """Every setting the run reads, validated by audit.configuracao_validada (the same check
    the SQL steps make); raises InvalidSettings naming each key that fails and its value."""
    values: dict[str, str] = {}
    problems: list[str] = []
    for key in REQUIRED_SETTINGS:
        row, problem = _checked(conn, "SELECT audit.configuracao_validada(%s)", (key,))
        if problem:
            problems.append(problem)
        else:
            (values[key],) = row
    # Each level valid on its own can still contradict the other: audit.niveis_pendencias
    # refuses atencao > critico for every reader of the levels (the email, the review API).
    # Checked only when both are valid, so a key already reported is not reported twice.
    if {"pendentes_nivel_atencao", "pendentes_nivel_critico"} <= values.keys():
        _, problem = _checked(conn, "SELECT audit.niveis_pendencias()")
        if problem:
            problems.append(problem)
    if problems:
        raise InvalidSettings("; ".join(problems) + ". " + SETTINGS_FIX)
    return values


def _checked(conn: psycopg.Connection, query: str, params: tuple = ()) -> tuple[tuple | None, str | None]:
    """A query that validates settings, in its own subtransaction so a refusal leaves the
    connection usable for the next: its row, or the refusal's message."""
    try:
        with conn.transaction():
            return conn.execute(query, params).fetchone(), None
    except psycopg.errors.InvalidParameterValue as error:
        return None, error.diag.message_primary or str(error)


def check_session_of_the_run(conn: psycopg.Connection, dag_run_id: str, period: RunPeriod) -> None:
    """A cleared run reopens its own session, keeping that session's type, period and mode.
    Raises InvalidParams when the run came back as another kind of run or mode (a backfill's
    --reprocess-behavior turns the day's run into a backfill run with the backfill's conf):
    reopened, the session would process its old period in its old mode."""
    row = conn.execute(sql_file("divergencias/session_of_the_run.sql"), {"dag_run_id": dag_run_id}).fetchone()
    if row is None:
        return
    sessao_id, tipo_sessao, modo, data_inicio, data_fim = row
    if (tipo_sessao, modo) != (period.tipo_sessao, period.modo):
        raise InvalidParams(
            f"A execução {dag_run_id} já tem a sessão {sessao_id} ({tipo_sessao}, modo {modo}, "
            f"{data_inicio} a {data_fim}) e foi disparada de novo como {period.tipo_sessao}, modo {period.modo}: "
            "reaberta, a sessão processaria o período e o modo dela. Nada foi gravado. Para reprocessar "
            "com outro modo ou período, dispare uma execução manual com data_inicio, data_fim e modo."
        )


def _fail(error: Exception) -> NoReturn:
    from airflow.sdk.exceptions import AirflowFailException

    # Not transient: a retry would fail the same way. Fail at once.
    raise AirflowFailException(str(error)) from None


def prepare_run(
    params: dict, run_type: str, run_moment: datetime, dag_run_id: str, disparado_por: str | None = None
) -> dict[str, str | None]:
    """Everything open_session records about the run, as bound parameters; ``disparado_por``
    is the Airflow user who triggered it (None for the scheduler)."""
    try:
        validate_params(params, run_type)
        ambiente = check_daily_run_variables()
    except (InvalidParams, InvalidVariable) as error:
        _fail(error)
    with financial_db(autocommit=True) as conn:
        try:
            apply_migrations(conn)
            settings = read_required_settings(conn)
        except (MigrationRefused, InvalidSettings) as error:
            _fail(error)
        try:
            period = resolve_period(params, run_type, run_moment, int(settings["dias_retroativos"]))
            check_session_of_the_run(conn, dag_run_id, period)
        except InvalidParams as error:
            _fail(error)
    return {
        **period.as_xcom(),
        "dag_run_id": dag_run_id,
        "ambiente": ambiente,
        "versao_sistema": __version__,
        "parametros_execucao": json.dumps(params, default=str, sort_keys=True),
        "disparado_por": disparado_por[:100] if disparado_por else None,
    }
