"""The rollback DAG's Python side: checking the request and the confirmation email.

The undo itself is SQL (include/sql/rollback/rollback_session.sql), one transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

import psycopg
from psycopg.rows import class_row

from divergencias import settings
from divergencias.database import financial_db, sql_file
from divergencias.migrations import MigrationRefused, apply_migrations
from divergencias.notifications import Mail, deliverable_recipients, render, send
from divergencias.operators import AuditedStep, record_failure

log = logging.getLogger(__name__)

# How the audit trail names a rollback that failed: refused by check_request or failed in its
# undo, it is a FAILED ROLLBACK operation with who asked, why and the error.
ROLLBACK_STEP = AuditedStep(
    "ROLLBACK", "Rollback da sessão {sessao_id}: {motivo}", "byd.controladoria", "MANUAL", session_step=False
)


@dataclass(frozen=True)
class SessionToUndo:
    """A row of rollback/session_to_undo.sql."""

    id: int
    status: str
    data_inicio: date | None
    data_fim: date | None
    correcoes_aplicadas: int
    em_execucao: bool
    correcoes_ativas: int
    correcoes_registradas: bool


class RollbackResult(NamedTuple):
    """The last row of rollback/rollback_session.sql, as the rollback task returns it:
    counts, then the (capped) lists as JSON text."""

    desfeitas: int
    total_conflitos: int
    conflitos: str
    restaurados: str


def _reject(message: str) -> None:
    """A rollback that cannot be done is not transient: fail at once, no retries."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)


def check_request(params: dict, user: str | None) -> dict:
    """Bound parameters of rollback_session.sql, once the session is known to exist and may be
    undone. A refusal of a well-formed request is recorded as a FAILED ROLLBACK operation, as a
    failed undo is: an auditor asking who tried to undo what, and why it was refused, finds it."""
    sessao_id = params.get("sessao_id")
    motivo = (params.get("motivo") or "").strip()
    if not isinstance(sessao_id, int) or isinstance(sessao_id, bool) or sessao_id < 1:
        _reject(f"Parâmetro sessao_id={sessao_id!r} inválido: informe o número da sessão.")
    if not motivo:
        _reject("Parâmetro motivo é obrigatório: diga por que a sessão está sendo desfeita.")
    request = {"sessao_id": sessao_id, "motivo": motivo, "usuario": f"airflow:{user or 'desconhecido'}"[:100]}
    from airflow.sdk.exceptions import AirflowFailException

    try:
        _check_session(sessao_id)
    except AirflowFailException as refusal:
        record_failure(ROLLBACK_STEP, request, refusal)
        raise
    return request


def _check_session(sessao_id: int) -> None:
    """Refuses (``_reject``) a session this rollback cannot undo, after migrating ``audit``."""
    # A rollback asked for right after an upgrade, before the daily run migrated audit, reads
    # and undoes with the functions this code calls, not fails on a missing one.
    with financial_db(autocommit=True) as conn:
        try:
            apply_migrations(conn)
        except MigrationRefused as error:
            _reject(str(error))
    try:
        with financial_db() as conn, conn.cursor(row_factory=class_row(SessionToUndo)) as cur:
            # The undo's own check, here first: a session still running may not have applied its
            # corrections yet (undone now, they would be applied right after).
            cur.execute("SELECT audit.verificar_sessao_parada(%s)", (sessao_id,))
            session = cur.execute(sql_file("rollback/session_to_undo.sql"), {"sessao_id": sessao_id}).fetchone()
    except psycopg.errors.ObjectInUse as refusal:
        _reject(refusal.diag.message_primary or str(refusal))
    if session is None:
        _reject(f"sessao_id={sessao_id}: sessão não encontrada em audit.sessoes_processamento.")
    if session.correcoes_aplicadas and not session.correcoes_registradas:
        _reject(
            f"sessao_id={sessao_id}: a sessão registra {session.correcoes_aplicadas} correção(ões), mas nenhuma "
            "operação deste sistema as liga às divergências (sessão do sistema anterior): não há o que este "
            "rollback possa desfazer com segurança. Os valores anteriores estão em audit.operacoes "
            "(dados_anteriores) das operações da época."
        )
    log.info("session %s (%s): %s correction(s) still applied", sessao_id, session.status, session.correcoes_ativas)


def confirmation_mail(request: dict, result: list) -> Mail:
    """``result``: the rollback task's row (see ``RollbackResult``)."""
    undone = RollbackResult(*result)
    ambiente = settings.environment_label()
    context = {
        "ambiente": ambiente,
        "sessao_id": request["sessao_id"],
        "motivo": request["motivo"],
        "usuario": request["usuario"],
        "desfeitas": undone.desfeitas,
        "total_conflitos": undone.total_conflitos,
        "conflitos": json.loads(undone.conflitos),
        "restaurados": json.loads(undone.restaurados),
    }
    return Mail(
        subject=(
            f"[{ambiente}] Rollback da sessão {request['sessao_id']}: "
            f"{undone.desfeitas} correções desfeitas, {undone.total_conflitos} conflitos"
        ),
        text=render("email_rollback.txt.j2", **context),
        html=render("email_rollback.html.j2", **context),
    )


def send_confirmation(request: dict, result: list) -> bool:
    to = deliverable_recipients("rollback confirmation email")
    if to:
        send(confirmation_mail(request, result), to)
    return bool(to)
