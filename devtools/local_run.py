"""``make run``, ``make migrate``, ``make airflow``, ``make stop``: the pipeline on this machine.

By default everything is local and kept in the project folder: the embedded PostgreSQL in
``.pgdata/`` (database ``financeiro_demo`` with the demo source), Airflow's own metadata in
``.airflow/`` (SQLite), CSV reports and caught emails in ``Datasets/``. With
``AIRFLOW_CONN_FINANCIAL_DB`` set, that database is used instead and no demo data is loaded;
with ``AIRFLOW_CONN_SMTP_DEFAULT`` set, email goes to that server.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PGDATA = PROJECT_ROOT / ".pgdata"
AIRFLOW_HOME = PROJECT_ROOT / ".airflow"
EMAIL_FOLDER = PROJECT_ROOT / "Datasets" / "emails"
DEMO_DATABASE = "financeiro_demo"
DEMO_SALES = 3000
# Richer in rare cases than production so a 3,000-sale demo shows every rule at work.
DEMO_RATES = {"trade_marketing": 0.05, "pendente": 0.01, "negativo_outlier": 0.01, "ilegivel": 0.005}
DEMO_RECIPIENTS = "controladoria@demo.local"
DAG_ID = "divergencias_diarias"
# The local UI's users (simple auth manager roles): two people who may approve, so the
# four-eyes flow can be tried at once, an auditor who only reads, and an admin.
LOCAL_USERS = {
    "controladora": ("user", "controller: reviews, approves and rejects"),
    "aprovador": ("user", "second approver for changes of limite_dupla_aprovacao or more"),
    "auditor": ("viewer", "read-only auditor"),
    "admin": ("admin", "data engineer: everything in Airflow"),
}
# How long Airflow gets to stop its own processes after a Ctrl-C before they are killed.
STOP_GRACE_SECONDS = 60
PASSWORD_FILE = AIRFLOW_HOME / "simple_auth_manager_passwords.json.generated"
# Where every Airflow process of this project finds the DAGs and the plugin, and nothing else.
PROJECT_AIRFLOW_LAYOUT = {
    "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}
_step_started = time.monotonic()


def step(message: str) -> None:
    global _step_started
    _step_started = time.monotonic()
    print(f"==> {message}", flush=True)


def done(detail: str = "") -> None:
    print(f"    ok ({time.monotonic() - _step_started:.1f}s){' ' + detail if detail else ''}", flush=True)


def airflow_environment() -> dict[str, str]:
    """Settings every Airflow command of this project runs with (user values win)."""
    env = {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        **PROJECT_AIRFLOW_LAYOUT,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }
    env.update({key: value for key, value in os.environ.items() if key in env})
    pythonpath = os.pathsep.join(filter(None, [str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH")]))
    # `airflow standalone` starts its components as `airflow …` found on PATH.
    path = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), os.environ.get("PATH")]))
    return {**env, "PYTHONPATH": pythonpath, "PATH": path}


def isolated_airflow_environment(home: Path) -> dict[str, str]:
    """For a throwaway Airflow (the benchmark's DAG run, the README's screenshot): this
    process's environment without any Airflow setting, connection or Variable of the user's,
    which would change what it does, plus the project's layout with ``home`` as Airflow's home."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW_")}
    return {**env, "AIRFLOW_HOME": str(home), **PROJECT_AIRFLOW_LAYOUT}


def use_external_database() -> bool:
    return bool(os.environ.get("AIRFLOW_CONN_FINANCIAL_DB"))


def prepare_demo_database() -> str:
    """Start the embedded server, create and fill the demo database; return its DSN."""
    import psycopg

    from devtools import databases, demo_source, embedded_postgres

    step(f"Starting the embedded PostgreSQL (data in {PGDATA.relative_to(PROJECT_ROOT)}/)")
    admin_dsn = embedded_postgres.start(PGDATA)
    done()
    if databases.database_exists(admin_dsn, DEMO_DATABASE):
        dsn = databases.dsn_for(admin_dsn, DEMO_DATABASE)
    else:
        dsn = databases.create_database(admin_dsn, DEMO_DATABASE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        if demo_source.is_empty(conn):
            step(f"Loading the demo source into {DEMO_DATABASE} ({DEMO_SALES:,} sales)")
            demo_source.generate_sales(
                conn,
                DEMO_SALES,
                rates=demo_source.DemoRates(**DEMO_RATES),
                progress=lambda line: print(f"    {line}", flush=True),
            )
            done()
        else:
            print(f"==> Demo source already loaded in {DEMO_DATABASE}", flush=True)
    return dsn


def configure_business_database() -> bool:
    """Point ``financial_db`` at the demo database unless the user pointed it elsewhere; True
    when it is the demo database. Callers must use this answer, not ``use_external_database()``
    afterwards: pointing at the demo database sets the very variable that one reads."""
    from devtools.databases import airflow_connection_json

    if use_external_database():
        print("==> Using AIRFLOW_CONN_FINANCIAL_DB (no demo data is loaded)", flush=True)
        return False
    os.environ["AIRFLOW_CONN_FINANCIAL_DB"] = airflow_connection_json(prepare_demo_database())
    return True


def migrate_audit() -> None:
    from divergencias.database import financial_db
    from divergencias.migrations import apply_migrations

    step("Migrating schema audit")
    with financial_db(autocommit=True) as conn:
        applied = apply_migrations(conn, progress=lambda line: print(f"    {line}", flush=True))
    done(f"{len(applied)} migration(s) applied" if applied else "already up to date")


def airflow(*args: str, log_file: Path | None = None) -> int:
    env = {**os.environ, **airflow_environment()}
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    # Its own process group, so that every process Airflow starts can be found and stopped.
    if log_file is None:
        return wait_for(subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, start_new_session=True))
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as out:
        return wait_for(
            subprocess.Popen(
                command, env=env, cwd=PROJECT_ROOT, start_new_session=True, stdout=out, stderr=subprocess.STDOUT
            )
        )


def wait_for(process: subprocess.Popen, grace_seconds: float = STOP_GRACE_SECONDS) -> int:
    """The command's exit code. On Ctrl-C the command gets it too and ``grace_seconds`` to
    stop on its own; then whatever of its process group is left is killed. Killed at once
    (as subprocess.call does), `airflow standalone` left its scheduler and workers running,
    orphaned; and its scheduler sometimes never ends after a Ctrl-C."""
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # nothing of it was left
        process.wait()
        raise


def prepare_business_database() -> None:
    """``financial_db`` for ``make run`` and ``make airflow``: the demo database is migrated
    here, since the review page reads schema audit before the first run; an external one is
    migrated by the DAG's first task (``make migrate`` does it at once)."""
    if configure_business_database():
        migrate_audit()


def migrate_airflow_metadata() -> None:
    step(f"Preparing Airflow's metadata database ({AIRFLOW_HOME.relative_to(PROJECT_ROOT)}/)")
    log_file = AIRFLOW_HOME / "logs" / "db_migrate.log"
    if airflow("db", "migrate", log_file=log_file) != 0:
        sys.exit(f"airflow db migrate failed; see {log_file}")
    done()


@contextmanager
def mail_destination() -> Iterator[object | None]:
    """The local SMTP catcher, unless the user configured a real SMTP connection."""
    if os.environ.get("AIRFLOW_CONN_SMTP_DEFAULT"):
        print("==> Using AIRFLOW_CONN_SMTP_DEFAULT for email", flush=True)
        yield None
        return
    from devtools.smtp_catcher import smtp_catcher

    with smtp_catcher(EMAIL_FOLDER) as catcher:
        os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = catcher.airflow_connection_json()
        os.environ.setdefault("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", DEMO_RECIPIENTS)
        print(f"==> Local SMTP server on {catcher.host}:{catcher.port} saving to {EMAIL_FOLDER}", flush=True)
        try:
            yield catcher
        finally:
            del os.environ["AIRFLOW_CONN_SMTP_DEFAULT"]


def last_session_id() -> int:
    """Highest session id so far; 0 on a database the DAG has not migrated yet."""
    from divergencias.database import financial_db

    with financial_db() as conn:
        if conn.execute("SELECT to_regclass('audit.sessoes_processamento')").fetchone()[0] is None:
            return 0
        return conn.execute("SELECT coalesce(max(id), 0) FROM audit.sessoes_processamento").fetchone()[0]


def print_summary(after_session: int, caught: object | None) -> bool:
    """Print what the run did, from the audit tables; True when its session COMPLETED."""
    from divergencias.database import financial_db

    with financial_db() as conn:
        session = conn.execute(
            """SELECT id, status, tipo_sessao, modo, data_inicio, data_fim, total_registros_analisados,
                      divergencias_detectadas, correcoes_aplicadas, correcoes_pendentes, arquivo_relatorio
                 FROM audit.sessoes_processamento WHERE id > %s ORDER BY id DESC LIMIT 1""",
            (after_session,),
        ).fetchone()
        if session is None:
            print("No session was recorded: the run failed before open_session.")
            return False
        rows = conn.execute(
            """SELECT tipo_divergencia, status_processamento, count(*)
                 FROM audit.divergencias_da_sessao(%(id)s)
                GROUP BY 1, 2 ORDER BY 1, 2""",
            {"id": session[0]},
        ).fetchall()
    sid, status, tipo, modo, inicio, fim, analisadas, novas, aplicadas, pendentes, csv = session
    print()
    print(f"Sessão {sid}: {status} ({tipo}, modo {modo}), período {inicio:%d/%m/%Y} a {fim:%d/%m/%Y}")
    print(f"  vendas analisadas {analisadas} | novas {novas} | corrigidas {aplicadas} | pendentes {pendentes}")
    print()
    print(f"  {'tipo_divergencia':<24} {'status':<14} {'total':>6}")
    for tipo_divergencia, status_processamento, total in rows:
        print(f"  {tipo_divergencia:<24} {status_processamento:<14} {total:>6}")
    print()
    print(f"  CSV:   {csv or '(não gerado)'}")
    mails = getattr(caught, "mails", None)
    if mails:
        print(f"  Email: {mails[-1].path}  ({mails[-1].message['Subject']})")
    elif caught is not None:
        print("  Email: none was sent (see the email_summary task log)")
    else:
        print("  Email: sent through AIRFLOW_CONN_SMTP_DEFAULT")
    return status == "COMPLETED"


def run(conf: str | None) -> int:
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    os.environ.update(airflow_environment())
    prepare_business_database()
    migrate_airflow_metadata()
    before = last_session_id()
    with mail_destination() as caught:
        step(f"Running {DAG_ID} once (airflow dags test)")
        log_file = AIRFLOW_HOME / "logs" / "make_run.log"
        args = ["dags", "test", DAG_ID] + (["--conf", conf] if conf else [])
        airflow(*args, log_file=log_file)
        done(f"log: {log_file.relative_to(PROJECT_ROOT)}")
    completed = print_summary(before, caught)
    if not completed:
        print(f"\nThe run did not complete; the Airflow log is {log_file}", file=sys.stderr)
    return 0 if completed else 1


def migrate() -> int:
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    os.environ.update(airflow_environment())
    configure_business_database()
    migrate_audit()
    return 0


def local_users() -> dict[str, str]:
    """LOCAL_USERS' passwords, kept across restarts in Airflow's own password file (the
    simple auth manager reads it and generates none for users already there)."""
    import json
    import secrets

    passwords = json.loads(PASSWORD_FILE.read_text()) if PASSWORD_FILE.exists() else {}
    for user in LOCAL_USERS:
        passwords.setdefault(user, secrets.token_urlsafe(12))
    PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
    PASSWORD_FILE.write_text(json.dumps(passwords) + "\n")
    PASSWORD_FILE.chmod(0o600)
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:{r}" for u, (r, _) in LOCAL_USERS.items())
    return passwords


def airflow_ui() -> int:
    sys.path.insert(0, str(PROJECT_ROOT / "plugins"))
    os.environ.update(airflow_environment())
    prepare_business_database()
    migrate_airflow_metadata()
    passwords = local_users()
    with mail_destination():
        print("==> Starting Airflow (api-server on http://localhost:8080, Ctrl-C to stop)", flush=True)
        print("    Review page: http://localhost:8080/plugin/divergencias (menu Divergências)")
        for user, (role, description) in LOCAL_USERS.items():
            print(f"    login {user:<13} password {passwords[user]:<18} role {role:<7} {description}")
        return airflow("standalone")


def stop() -> int:
    from devtools import embedded_postgres

    stopped = embedded_postgres.stop(PGDATA)
    print("Embedded PostgreSQL stopped." if stopped else "Embedded PostgreSQL was not running.")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.local_run", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="run divergencias_diarias once and print the summary")
    run_parser.add_argument("--conf", help='DAG run conf, e.g. \'{"data_inicio": "2026-11-01", ...}\'')
    sub.add_parser("migrate", help="apply the audit migrations to financial_db")
    sub.add_parser("airflow", help="local Airflow UI on the embedded database")
    sub.add_parser("stop", help="stop the embedded PostgreSQL")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return run(args.conf)
        return {"migrate": migrate, "airflow": airflow_ui, "stop": stop}[args.command]()
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
