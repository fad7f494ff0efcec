"""
### Divergências: backup diário da trilha de auditoria

Every day at 08:30 (America/Sao_Paulo), after the 07:00 run of `divergencias_diarias`,
dumps schema `audit` of `financial_db` (`pg_dump -n audit -Fc`, the client of the server's
major version) to `<divergencias_output_dir>/backups_auditoria/auditoria_AAAA-MM-DD.dump`,
then deletes the dumps older than the last `divergencias_backup_dias` days (default 14).
A failed dump deletes nothing. Restore: see the README, "Backups and restore".
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

from divergencias import settings
from divergencias.dag_helpers import task_defaults


def local_day(dag_run) -> pendulum.Date:  # noqa: ANN001
    """The São Paulo day a run is for: its dump's name."""
    return pendulum.instance(dag_run.logical_date or dag_run.run_after).in_timezone(settings.LOCAL_TIMEZONE).date()


with DAG(
    dag_id="divergencias_backup_auditoria",
    description="Backup diário do schema audit (pg_dump) no armazenamento dos relatórios",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("30 8 * * *", timezone=settings.LOCAL_TIMEZONE),
    start_date=pendulum.datetime(2026, 1, 1, tz=settings.LOCAL_TIMEZONE),
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(execution_timeout=timedelta(hours=1)),
    tags=["controladoria", "byd", "divergencias"],
) as dag:

    @task
    def dump_audit(dag_run=None) -> str:  # noqa: ANN001
        """pg_dump of schema audit, streamed to the reports storage."""
        from divergencias.backup import backup

        return backup(local_day(dag_run))

    @task
    def prune_old_dumps(dag_run=None) -> list[str]:  # noqa: ANN001
        """Keeps the last divergencias_backup_dias days of dumps."""
        from divergencias.backup import prune_backups

        return prune_backups(local_day(dag_run))

    dump_audit() >> prune_old_dumps()
