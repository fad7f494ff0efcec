"""
### Divergências: rollback de uma sessão

Undoes every correction a session of `divergencias_diarias` applied to `byd.controladoria`,
in one transaction: each field gets back the exact text it had. A field changed since the
correction is left alone and reported as a conflict. Running it twice changes nothing more.
Manual runs only: `{"sessao_id": 123, "motivo": "..."}`.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task

from divergencias import settings
from divergencias.dag_helpers import task_defaults
from divergencias.operators import AuditedSQLOperator
from divergencias.rollback import ROLLBACK_STEP

with DAG(
    dag_id="divergencias_rollback",
    description="Desfaz as correções aplicadas por uma sessão de divergencias_diarias",
    doc_md=__doc__,
    schedule=None,
    # No start_date: the trigger form takes a logical date, and for a run dated before the
    # start_date Airflow creates no task and marks the run successful: an undo dated on the
    # day of the session it undoes would report success having undone nothing.
    catchup=False,
    max_active_runs=1,
    template_searchpath=[str(settings.SQL_DIR)],
    render_template_as_native_obj=True,
    default_args=task_defaults(execution_timeout=timedelta(minutes=30)),
    params={
        "sessao_id": Param(
            type="integer",
            minimum=1,
            maximum=settings.MAX_ID,
            title="Sessão",
            description="Número da sessão (audit.sessoes_processamento.id).",
        ),
        "motivo": Param(type="string", minLength=3, title="Motivo", description="Por que as correções são desfeitas."),
    },
    tags=["controladoria", "byd", "divergencias"],
) as dag:

    @task
    def check_request(params: dict, dag_run=None) -> dict:  # noqa: ANN001
        """Checks the params and that the session exists; names who asked."""
        from divergencias.rollback import check_request

        return check_request(dict(params), getattr(dag_run, "triggering_user_name", None))

    @task
    def email_confirmation(ti=None) -> bool:  # noqa: ANN001
        """Emails what was undone and what conflicted."""
        from divergencias.rollback import send_confirmation

        request = ti.xcom_pull(task_ids="check_request")
        result = ti.xcom_pull(task_ids="rollback_session")[0]
        return send_confirmation(request, result)

    request = check_request()
    undo = AuditedSQLOperator(
        task_id="rollback_session",
        conn_id=settings.FINANCIAL_DB_CONN_ID,
        sql="rollback/rollback_session.sql",
        parameters=request,
        split_statements=True,
        # A failed undo (a lock timeout, a database error) leaves a FAILED ROLLBACK operation.
        audited_step=ROLLBACK_STEP,
    )
    request >> undo >> email_confirmation()
