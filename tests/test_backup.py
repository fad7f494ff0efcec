"""divergencias_backup_auditoria: pg_dump of schema audit into the reports storage, the
last N days kept, and a restore of the latest dump that gives back every row."""

import json
import subprocess
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pendulum
import psycopg
import pytest
from psycopg import sql

from devtools import databases
from devtools.sql_steps import run_session
from divergencias import backup
from divergencias.settings import PROJECT_ROOT
from tests.helpers import add_sale

SAO_PAULO = "America/Sao_Paulo"


@pytest.fixture
def audited(conn):
    """An audit trail with rows in the tables a run writes: two sessions, corrections and
    their history."""
    for i in range(5):
        add_sale(conn, f"NF{i}", bonus_dpto="1", dta_processamento=datetime(2026, 11, 10, 9))
    add_sale(conn, "NFX", valor_bonus="abc", dta_processamento=datetime(2026, 11, 10, 9))
    run_session(conn, date(2026, 11, 10), date(2026, 11, 10))
    run_session(conn, date(2026, 11, 10), date(2026, 11, 10), modo="manual")
    return conn


def test_backup_keeps_n_days_and_the_latest_dump_restores_every_row(
    backup_dag, audited, business_db, pg_admin_dsn, output_dir, monkeypatch
):
    folder = output_dir / "backups_auditoria"
    folder.mkdir(parents=True)
    for old in ("2026-11-20", "2026-11-25", "2026-11-26"):
        (folder / f"auditoria_{old}.dump").write_bytes(b"antigo")
    # what a backup killed mid-dump leaves (write_atomically cannot clean up after a SIGKILL)
    (folder / "auditoria_2026-11-20.dump.part").write_bytes(b"interrompido")
    (folder / "LEIA-ME.txt").write_text("não é um dump")
    monkeypatch.setenv("AIRFLOW_VAR_DIVERGENCIAS_BACKUP_DIAS", "3")
    monkeypatch.setattr(backup, "today", lambda: date(2026, 11, 28))

    run = backup_dag.test(logical_date=pendulum.datetime(2026, 11, 28, 8, 30, tz=SAO_PAULO))

    assert run.state == "success"
    assert sorted(p.name for p in folder.iterdir()) == [
        "LEIA-ME.txt",
        "auditoria_2026-11-26.dump",
        "auditoria_2026-11-28.dump",
    ]
    latest = backup.latest_dump(folder)
    assert latest.name == "auditoria_2026-11-28.dump"

    # as the README does it: a database an administrator created for the financial_db login
    # (not a superuser), restored by that login
    login, password = f"financeiro_{uuid.uuid4().hex[:12]}", uuid.uuid4().hex
    scratch = f"restauracao_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(sql.Identifier(login), sql.Literal(password)))
    scratch_dsn = databases.create_database(pg_admin_dsn, scratch)
    try:
        with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(scratch), sql.Identifier(login))
            )
        with psycopg.connect(scratch_dsn, autocommit=True) as target:
            as_login = {**_libpq(scratch_dsn), "PGUSER": login, "PGPASSWORD": password}
            backup.restore(latest, as_login, backup.server_major(target))
            restored = backup.audit_row_counts(target), _audit_sequences(target)
        original = backup.audit_row_counts(audited), _audit_sequences(audited)
        assert restored == original
        for table in ("sessoes_processamento", "divergencias_processadas", "operacoes", "schema_migracoes"):
            assert original[0][table] > 0, table
        # the next id of each table continues after the restored rows
        assert original[1]["audit.operacoes_id_seq"][0] >= original[0]["operacoes"]
    finally:
        databases.drop_database(pg_admin_dsn, scratch)
        with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(login)))


def _audit_sequences(conn: psycopg.Connection) -> dict[str, tuple]:
    rows = conn.execute(
        """SELECT schemaname || '.' || sequencename, last_value, increment_by
             FROM pg_sequences WHERE schemaname = 'audit'"""
    )
    return {name: (last_value, increment) for name, last_value, increment in rows}


def _libpq(dsn: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD", "dbname": "PGDATABASE"}
    return {names[k]: str(v) for k, v in conninfo_to_dict(dsn).items() if k in names}


def test_the_password_goes_in_the_environment_never_on_the_command_line(audited, business_db, output_dir, monkeypatch):
    secret = "senha-do-backup-7f3a"
    connection = json.loads(databases.airflow_connection_json(business_db))
    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", json.dumps({**connection, "password": secret}))
    launched = []
    real_popen = subprocess.Popen

    def recording_popen(command, **kwargs):
        launched.append((command, kwargs.get("env", {})))
        return real_popen(command, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", recording_popen)
    where = backup.backup(date(2026, 11, 28))

    assert where.endswith("backups_auditoria/auditoria_2026-11-28.dump")
    dumps = [(command, env) for command, env in launched if "--schema=audit" in command]
    assert dumps, launched
    for command, env in dumps:
        assert not any(secret in str(part) for part in command)
        assert env["PGPASSWORD"] == secret


def test_a_server_without_a_matching_client_fails_naming_the_version(conn):
    with pytest.raises(RuntimeError, match=r"no pg_dump of PostgreSQL 9, .*install postgresql-client-9"):
        backup.client_for("pg_dump", 9)
    # the one chosen for this server is of its major version
    major = backup.server_major(conn)
    chosen = backup.client_for("pg_dump", major)
    assert f"(PostgreSQL) {major}." in subprocess.run([chosen, "--version"], capture_output=True, text=True).stdout


def test_the_connections_libpq_extras_reach_pg_dump(business_db, monkeypatch):
    """Every task connects with the extras of financial_db (PostgresHook hands them to libpq);
    pg_dump must get them too, or a server requiring verify-full with the company's CA fails
    only the backup."""
    connection = json.loads(databases.airflow_connection_json(business_db))
    extra = {
        "sslmode": "verify-full",
        "sslrootcert": "/opt/airflow/certs/ca.pem",
        "sslcert": "/opt/airflow/certs/cliente.crt",
        "sslkey": "/opt/airflow/certs/cliente.key",
        "connect_timeout": 10,
        "options": "-c statement_timeout=0",
    }
    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", json.dumps({**connection, "extra": extra}))

    env = backup.libpq_environment()

    assert {key: env.get(key) for key in ("PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY")} == {
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": "/opt/airflow/certs/ca.pem",
        "PGSSLCERT": "/opt/airflow/certs/cliente.crt",
        "PGSSLKEY": "/opt/airflow/certs/cliente.key",
    }
    assert (env["PGCONNECT_TIMEOUT"], env["PGOPTIONS"]) == ("10", "-c statement_timeout=0")


def test_a_failed_restore_of_a_large_dump_says_why(conn, business_db, output_dir):
    """pg_restore --exit-on-error stops reading at the first failed statement; with a dump larger
    than the pipe's buffer the rest of it cannot be written, and the failure must still carry
    pg_restore's own message (here: restoring over an existing schema audit), not a bare
    "Broken pipe"."""
    conn.execute(
        """INSERT INTO byd.vendas (idnfsexterno, dta_processamento, data_final_venda, des_modelo, chassi, revenda)
           SELECT 'NF' || i, '2026-11-10 09:00', '2026-11-10 09:00', 'BYD DOLPHIN', 'LGXCE4CB0R0000001',
                  'BYD Paulista'
             FROM generate_series(1, 6000) i"""
    )
    conn.execute(
        """INSERT INTO byd.incentivos (idnfsexterno, valor_bonus, trade, bonus_utilizado)
           SELECT 'NF' || i, '5000.00', '0', 'SIM' FROM generate_series(1, 6000) i"""
    )
    conn.execute(
        """INSERT INTO byd.controladoria (idnfsexterno, bonus_dpto, trade_mkt_dpto)
           SELECT 'NF' || i, (i % 997) || '.' || (i % 89), '0' FROM generate_series(1, 6000) i"""
    )
    run_session(conn, date(2026, 11, 10), date(2026, 11, 10))
    dump = Path(backup.backup(date(2026, 11, 28)))
    assert dump.stat().st_size > 4 * 65536  # well past a pipe's buffer

    with pytest.raises(RuntimeError, match=r'pg_restore failed \(exit 1\):.*schema "audit" already exists'):
        backup.restore(dump, _libpq(business_db), backup.server_major(conn))


def test_replacing_the_audit_trail_in_place_keeps_who_may_read_it(audited, business_db, pg_admin_dsn, output_dir):
    """README: after a loss, DROP SCHEMA audit CASCADE and restore the latest dump into the
    business database itself. The roles the DBA let read the audit trail (the old guide grants
    on every table of audit; 039 grants the views) are the same cluster's and must read it
    again afterwards, or the auditors' own logins are refused after the restore."""
    reader = f"leitor_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(reader)))
    try:
        audited.execute(sql.SQL("GRANT USAGE ON SCHEMA audit TO {}").format(sql.Identifier(reader)))
        audited.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA audit TO {}").format(sql.Identifier(reader)))
        original = backup.audit_row_counts(audited)
        dump = Path(backup.backup(date(2026, 11, 28)))

        audited.execute("DROP SCHEMA audit CASCADE")
        backup.restore(dump, _libpq(business_db), backup.server_major(audited), in_place=True)

        assert backup.audit_row_counts(audited) == original
        may_read = audited.execute(
            """SELECT has_schema_privilege(%(r)s, 'audit', 'USAGE'),
                      has_table_privilege(%(r)s, 'audit.operacoes', 'SELECT'),
                      has_table_privilege(%(r)s, 'audit.vw_divergencias_abertas', 'SELECT')""",
            {"r": reader},
        ).fetchone()
        assert may_read == (True, True, True)
    finally:
        audited.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(reader)))
        with psycopg.connect(pg_admin_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(reader)))


def test_the_readme_restores_with_the_options_the_tests_use():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    for options, database in (
        (backup.restore_options(in_place=False), "auditoria_restaurada"),
        (backup.restore_options(in_place=True), "financeiro"),
    ):
        assert f"pg_restore {' '.join(options)} -d {database} " in readme


def test_a_run_cleared_days_later_does_not_pass_todays_data_off_as_that_days_dump(
    backup_dag, audited, business_db, output_dir, monkeypatch
):
    """A dump is a snapshot of the moment it is taken. The run of 2026-11-25 failed (say, no
    pg_dump of the server's version yet) and is cleared on 2026-11-28 once that is fixed: it
    must not write the 28th's audit trail as auditoria_2026-11-25.dump, and must not replace
    a real dump of the 25th that is still there."""
    folder = output_dir / "backups_auditoria"
    folder.mkdir(parents=True)
    (folder / "auditoria_2026-11-25.dump").write_bytes(b"o dump verdadeiro do dia 25")
    monkeypatch.setattr(backup, "today", lambda: date(2026, 11, 28))

    run = backup_dag.test(logical_date=pendulum.datetime(2026, 11, 25, 8, 30, tz=SAO_PAULO))

    assert run.state == "success"
    assert (folder / "auditoria_2026-11-25.dump").read_bytes() == b"o dump verdadeiro do dia 25"
    assert backup.latest_dump(folder).name == "auditoria_2026-11-28.dump"


def test_a_dump_is_named_by_the_sao_paulo_day_it_is_taken(monkeypatch):
    class LateEvening(datetime):
        @classmethod
        def now(cls, tz=None):  # noqa: ANN001, ANN206
            # 23:30 in São Paulo is already the next day in UTC
            return datetime(2026, 11, 29, 2, 30, tzinfo=UTC).astimezone(tz)

    monkeypatch.setattr(backup, "datetime", LateEvening)
    assert backup.today() == date(2026, 11, 28)
    written = "s3://aws_default@relatorios/controladoria/backups_auditoria/auditoria_2026-11-28.dump"
    assert backup.dump_day(written) == date(2026, 11, 28)


def test_a_file_named_like_a_dump_of_no_real_day_does_not_stop_the_retention(tmp_path):
    """Someone's copy named after no calendar day must not fail every day's prune (the old
    dumps would then pile up); it is not ours, so it stays."""
    (tmp_path / "auditoria_2026-02-30.dump").write_bytes(b"copia")
    (tmp_path / "auditoria_2026-11-01.dump").write_bytes(b"antigo")

    assert backup.prune(tmp_path, 3, date(2026, 11, 28)) == ["auditoria_2026-11-01.dump"]
    assert [p.name for p in tmp_path.iterdir()] == ["auditoria_2026-02-30.dump"]


def test_a_backup_run_dated_before_the_dags_first_day_still_dumps(backup_dag, audited, output_dir, monkeypatch):
    """The trigger form takes a logical date. For a run dated before the DAG's start_date
    Airflow creates no task and marks the run successful: a backup triggered dated 2025 said
    "success" and dumped nothing (the rollback DAG had the same defect)."""
    monkeypatch.setattr(backup, "today", lambda: date(2026, 11, 28))

    run = backup_dag.test(logical_date=pendulum.datetime(2025, 12, 10, 8, 30, tz=SAO_PAULO))

    assert run.state == "success"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {
        "dump_audit": "success",
        "prune_old_dumps": "success",
    }
    assert backup.latest_dump(output_dir / "backups_auditoria").name == "auditoria_2026-11-28.dump"
