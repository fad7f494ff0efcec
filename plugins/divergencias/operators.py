"""The DAGs' SQL steps: one file, one transaction, and a trace when it fails.

A failed step's transaction is rolled back with everything it wrote, so the failure itself
is recorded afterwards on a connection of its own: an ``operacoes`` row with status FAILED
and the error, which the old system's monitoring views already count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import psycopg
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from psycopg.types.json import Jsonb

from divergencias import settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditedStep:
    """How the audit trail names a step's failure. ``descricao`` is formatted with the step's
    parameters (``str.format``). A data step of a divergencias_diarias session
    (``session_step``) drops its done mark before it runs and its failure belongs to that
    session; the rollback is no step of the session it undoes: its failure names the session
    in filtros_aplicados and the person who asked, as its ROLLBACK operation does."""

    tipo_operacao: str
    descricao: str
    tabela_afetada: str
    origem: str = "AUTOMATION"
    session_step: bool = True


class LockWaitTimeout(RuntimeError):
    """A step waited longer than limite_espera_bloqueio_s for a lock someone else holds, or
    PostgreSQL cancelled it to break a deadlock with someone else's transaction."""


def _database_error_in(error: BaseException | None, kind: type[psycopg.Error]) -> psycopg.Error | None:
    """The database error of ``kind`` behind ``error`` (the operator wraps what psycopg raised)."""
    while error is not None:
        if isinstance(error, kind):
            return error
        error = error.__cause__ or error.__context__
    return None


def _usuario(parameters: dict[str, Any]) -> str:
    return parameters.get("usuario") or settings.PIPELINE_USER


def attempt_started(step: AuditedStep, task_id: str, parameters: dict[str, Any]) -> int:
    """Before a data step of a session runs (again): drops its done mark, turns the attempts of
    this step a killed worker left behind into FAILED operations, and records this attempt, in
    one transaction of its own. Returns the attempt's id, the step's ``tentativa`` parameter."""
    from divergencias.database import financial_db, sql_file

    sessao_id = int(parameters["sessao_id"])
    with financial_db() as conn:
        conn.execute("SELECT audit.iniciar_etapa(limitar_espera => false)")
        conn.execute(sql_file("divergencias/step_started.sql"), {"sessao_id": sessao_id, "etapa": task_id})
        conn.execute("SELECT audit.encerrar_etapas_interrompidas(%s, %s)", (sessao_id, task_id))
        (tentativa,) = conn.execute(
            sql_file("divergencias/attempt_started.sql"),
            {
                "sessao_id": sessao_id,
                "etapa": task_id,
                "tipo_operacao": step.tipo_operacao,
                "descricao": step.descricao.format(**parameters),
                "origem": step.origem,
                "tabela_afetada": step.tabela_afetada,
                "usuario": _usuario(parameters),
            },
        ).fetchone()
    return tentativa


def record_failure(step: AuditedStep, parameters: dict[str, Any], error: BaseException) -> None:
    """Write the FAILED operation of the step run with ``parameters`` (its bound parameters:
    sessao_id, and usuario when someone asked), closing its attempt (``tentativa``) so that it
    is not recorded again as interrupted; never raises (the step's own error is what matters)."""
    from divergencias.database import financial_db, sql_file

    try:
        sessao_id = int(parameters["sessao_id"])
        with financial_db() as conn:
            conn.execute("SELECT audit.iniciar_etapa(limitar_espera => false)")
            # a rollback, or a step refused before its attempt was recorded, has none
            if parameters.get("tentativa") is not None:
                conn.execute("DELETE FROM audit.etapas_em_andamento WHERE id = %s", (parameters["tentativa"],))
            conn.execute(
                sql_file("divergencias/record_failure.sql"),
                {
                    "sessao_id": sessao_id if step.session_step else None,
                    "filtros": None if step.session_step else Jsonb({"sessao_id": sessao_id}),
                    "tipo_operacao": step.tipo_operacao,
                    "descricao": f"FALHA: {step.descricao.format(**parameters)}",
                    "origem": step.origem,
                    "tabela_afetada": step.tabela_afetada,
                    "usuario": _usuario(parameters),
                    "erro": f"{type(error).__name__}: {error}"[:10_000],
                },
            )
    except Exception:
        log.exception("could not record the failure of %s in audit.operacoes", step.descricao)


# A step cancelled over someone else's lock wrote nothing and is retried: what the failure
# says instead of PostgreSQL's bare message. Every writer of this system takes the writer lock
# first (audit.iniciar_etapa), so a deadlock's other party is someone's transaction editing
# several of the same rows.
LOCK_REFUSALS: dict[type[psycopg.Error], str] = {
    psycopg.errors.LockNotAvailable: (
        "esperou mais que limite_espera_bloqueio_s (audit.configuracoes_sistema) por um bloqueio, provavelmente "
        "uma transação aberta em byd.controladoria ou audit. Encerre-a; a tarefa será tentada de novo."
    ),
    psycopg.errors.DeadlockDetected: (
        "cancelada pelo PostgreSQL num impasse (deadlock) com outra transação que alterava as mesmas vendas em "
        "byd.controladoria em outra ordem. Nada foi gravado; a tarefa será tentada de novo."
    ),
}


class AuditedSQLOperator(SQLExecuteQueryOperator):
    """SQLExecuteQueryOperator that turns a lock wait timeout into a message a person can act
    on (the task is then retried), fails a refusal at once (no retry) and, given an
    ``audited_step``, records its failure in ``audit.operacoes``."""

    def __init__(self, *, audited_step: AuditedStep | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.audited_step = audited_step

    def execute(self, context: Any) -> Any:
        try:
            if self.audited_step is not None and self.audited_step.session_step:
                self.parameters = {
                    **self.parameters,
                    "tentativa": attempt_started(self.audited_step, self.task_id, self.parameters),
                }
            return super().execute(context)
        # BaseException: Airflow's task timeout (AirflowTaskTimeout) is not an Exception, and a
        # step stopped by it failed like any other.
        except BaseException as error:
            if self.audited_step is not None:
                record_failure(self.audited_step, self.parameters, error)
            # object_in_use: a refusal the step's SQL raised (a rollback of a session still
            # running), not transient, so no retry
            refusal = _database_error_in(error, psycopg.errors.ObjectInUse)
            if refusal is not None:
                from airflow.sdk.exceptions import AirflowFailException

                raise AirflowFailException(f"{self.task_id}: {refusal.diag.message_primary or refusal}") from error
            for kind, reason in LOCK_REFUSALS.items():
                if _database_error_in(error, kind) is not None:
                    raise LockWaitTimeout(f"{self.task_id}: {reason}") from error
            raise
