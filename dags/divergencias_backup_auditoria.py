"""
### Divergências: backup diário da trilha de auditoria

Every day at 08:30 (America/Sao_Paulo), after the 07:00 run of `divergencias_diarias`,
dumps schema `audit` of `financial_db` (`pg_dump -n audit -Fc`, the client of the server's
major version) to `<divergencias_output_dir>/backups_auditoria/auditoria_AAAA-MM-DD.dump`
(the São Paulo day the dump is taken, also in a run cleared days later), then deletes the
dumps older than the last `divergencias_backup_dias` days (default 14).
A failed dump deletes nothing. Restore: see the README, "Backups and restore".
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

from divergencias import settings
from divergencias.dag_helpers import task_defaults

with DAG(
    dag_id="divergencias_backup_auditoria",
    description="Backup diário do schema audit (pg_dump) no armazenamento dos relatórios",
    doc_md=__doc__,
    schedule=CronTriggerTimetable("30 8 * * *", timezone=settings.LOCAL_TIMEZONE),
    # No start_date: for a run dated before it (the trigger form takes a logical date)
    # Airflow creates no task and marks the run successful, a backup that dumped nothing.
    catchup=False,
    max_active_runs=1,
    default_args=task_defaults(execution_timeout=timedelta(hours=1)),
    tags=["controladoria", "byd", "divergencias"],
) as dag:

    @task
    def dump_audit() -> str:
        """pg_dump of schema audit, streamed to the reports storage, named by today's São
        Paulo day (a snapshot of now, even in a run cleared days later)."""
        from divergencias.backup import backup, today

        return backup(today())

    @task
    def prune_old_dumps(written: str) -> list[str]:
        """Keeps the last divergencias_backup_dias days of dumps, counted from the dump just
        written (not from the clock: a prune after midnight must not drop it)."""
        from divergencias.backup import dump_day, prune_backups

        return prune_backups(dump_day(written))

    prune_old_dumps(dump_audit())
