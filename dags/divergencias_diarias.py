"""
### Divergências de incentivos BYD: execução diária

Every morning at 07:00 (America/Sao_Paulo) compares the incentives registered by sales
(`valor_bonus`, `trade`) with what controllership booked (`bonus_dpto`,
`trade_mkt_dpto`) in `byd.bonus_view`, records every **divergência** in
`audit.divergencias_processadas`, applies the safe corrections to `byd.controladoria`
(modo `auto`), writes the CSV report and emails the summary.

Trigger with `{"data_inicio": "AAAA-MM-DD", "data_fim": "AAAA-MM-DD", "modo": "auto|manual"}`;
with no dates a run covers the day before it and the `dias_retroativos` days before that.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task
from airflow.timetables.trigger import CronTriggerTimetable

from divergencias import settings
from divergencias.dag_helpers import run_url, session_params, step_started, task_defaults
from divergencias.operators import AuditedSQLOperator, AuditedStep

# Bound parameters of the steps after open_session, rendered natively (ints stay ints).
# A dict of templates: the SQL operator would literal_eval a single template string.
SESSION = {key: f"{{{{ sessao(ti)['{key}'] }}}}" for key in ("sessao_id", "data_inicio", "data_fim", "modo", "usuario")}


def sql_task(task_id: str, parameters: object, **kwargs: object) -> AuditedSQLOperator:
    """A step written in SQL: include/sql/divergencias/<task_id>.sql, one transaction."""
    return AuditedSQLOperator(
        task_id=task_id,
        conn_id=settings.FINANCIAL_DB_CONN_ID,
        sql=f"divergencias/{task_id}.sql",
        parameters=parameters,
        split_statements=True,
        **kwargs,
    )


with DAG(
    dag_id="divergencias_diarias",
    description="Detecta, corrige e reporta divergências de incentivos BYD",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("0 7 * * *", timezone=settings.LOCAL_TIMEZONE),
    # No start_date: Airflow creates no task for a run dated before it and marks the run
    # successful, so a backfill of past months (the business has sales from before the
    # system) would silently do nothing. catchup=False keeps the scheduler to today's run.
    catchup=False,
    template_searchpath=[str(settings.SQL_DIR)],
    render_template_as_native_obj=True,
    user_defined_macros={"sessao": session_params},
    default_args=task_defaults(execution_timeout=timedelta(hours=1)),
    params={
        "data_inicio": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Data início",
            description="Primeiro dia do período (inclusive). Vazio: dia anterior menos dias_retroativos.",
        ),
        "data_fim": Param(
            None,
            type=["null", "string"],
            format="date",
            title="Data fim",
            description="Último dia do período (inclusive). Informe junto com data início.",
        ),
        "modo": Param(
            "auto",
            type="string",
            enum=["auto", "manual"],
            title="Modo",
            description="auto: detecta e aplica correções seguras; manual: apenas detecta.",
        ),
        "permitir_periodo_longo": Param(
            False,
            type="boolean",
            title="Permitir período longo",
            description="Necessário para períodos de mais de 366 dias.",
        ),
        "confirmar_resolucao_em_massa": Param(
            False,
            type="boolean",
            title="Confirmar resolução em massa",
            description="Permite resolver mais da metade da fila como 'venda não encontrada' "
            "(sem isso a detecção para antes de gravar, suspeitando de uma origem quebrada).",
        ),
    },
    tags=["controladoria", "byd", "divergencias"],
) as dag:

    @task
    def validate_and_migrate(params: dict, dag_run=None) -> dict[str, str]:  # noqa: ANN001
        """Checks the params (nothing is written when they are wrong), verifies and applies
        the `audit` migrations, checks every setting the run reads, resolves the period and
        session type."""
        from divergencias.preparation import prepare_run

        return prepare_run(
            dict(params),
            dag_run.run_type,
            dag_run.logical_date or dag_run.run_after,
            dag_run.run_id,
            getattr(dag_run, "triggering_user_name", None),
        )

    @task
    def export_csv(ti=None) -> str:  # noqa: ANN001
        """Streams the session's CSV report to the output folder with COPY."""
        from divergencias.database import financial_db
        from divergencias.report import export_session_report, report_path

        session = session_params(ti)
        step_started(session["sessao_id"], "export_csv")
        path = report_path(settings.output_dir(), session["data_inicio"], session["data_fim"], session["sessao_id"])
        with financial_db(autocommit=True) as conn:
            export_session_report(conn, session["sessao_id"], path)
        return str(path)

    @task(trigger_rule="all_done")
    def email_summary(ti=None, dag_run=None) -> list[str]:  # noqa: ANN001
        """Emails the pt-BR summary with the CSV attached, also when the CSV failed (PARTIAL);
        skipped when the data work did not commit (the failure email covers it), or with a
        warning when there are no recipients or no SMTP connection."""
        from divergencias.notifications import send_summary

        sessao_id = session_params(ti)["sessao_id"]
        step_started(sessao_id, "email_summary")
        return send_summary(sessao_id, run_url(dag_run.dag_id, dag_run.run_id))

    @task
    def fail_if_a_step_failed() -> None:
        """Ends the run failed when the CSV failed: email_summary runs anyway (PARTIAL), and
        close_session is a teardown, so without this leaf the run would end in success."""

    prepared = validate_and_migrate()
    open_session = sql_task("open_session", parameters=prepared)
    detect = sql_task(
        "detect_divergences",
        parameters=SESSION,
        do_xcom_push=False,
        audited_step=AuditedStep("DETECT", "Detecção de divergências", "audit.divergencias_processadas"),
    )
    apply = sql_task(
        "apply_corrections",
        parameters=SESSION,
        do_xcom_push=False,
        audited_step=AuditedStep("BULK_UPDATE", "Correção automática de divergências", "byd.controladoria"),
    )
    close_session = sql_task("close_session", parameters=SESSION).as_teardown(setups=open_session)

    prepared >> open_session >> detect >> apply
    csv = export_csv()
    email = email_summary()
    apply >> csv >> email >> close_session
    [csv, email] >> fail_if_a_step_failed()
