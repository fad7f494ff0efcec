"""Applies the ordered SQL migrations of schema ``audit`` (include/sql/migrations).

Every file is idempotent on its own, and the applied ones are recorded in
``audit.schema_migracoes`` with their checksum so a file runs once. A recorded file that
changed since stops everything: the database would no longer match the files. All pending
files run in one transaction, with the migration log itself, so adopting an old system's
schema happens whole or not at all: a failed take-over leaves ``audit`` as it found it. A
session-level advisory lock makes concurrent DAG runs (a backfill starts several) apply them
one at a time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import psycopg

from divergencias.settings import SQL_DIR

log = logging.getLogger(__name__)

MIGRATIONS_DIR = SQL_DIR / "migrations"
# Around the pending migrations: the grants of audit's views and functions, kept and given back.
SAVE_GRANTS_AND_COMMENTS = SQL_DIR / "migracao" / "guardar_concessoes_e_comentarios.sql"
RESTORE_GRANTS_AND_COMMENTS = SQL_DIR / "migracao" / "restaurar_concessoes_e_comentarios.sql"
# Arbitrary constant shared by every process that migrates this schema.
MIGRATION_LOCK_KEY = 7_420_261_128
# How long a migration waits for a lock someone else holds on audit (a controller's export, a
# SQL client left in a transaction). While it waits, every reader and writer of that object
# queues behind it (the review page, the decisions, the other runs): as long as a person
# waits in the review API, not limite_espera_bloqueio_s, which a fresh database lacks anyway.
MIGRATION_LOCK_TIMEOUT_S = 15

# The sessions holding a lock on an object of audit in this database, as the error names them.
_AUDIT_LOCK_HOLDERS = """
SELECT DISTINCT a.pid, a.usename, coalesce(nullif(a.application_name, ''), '?') AS aplicacao,
       coalesce(a.state, '?') AS estado, coalesce(to_char(a.xact_start, 'YYYY-MM-DD HH24:MI:SS'), '?') AS desde
  FROM pg_locks l
  JOIN pg_class c ON c.oid = l.relation
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.granted
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND c.relnamespace = 'audit'::regnamespace
   AND l.pid <> pg_backend_pid()
 ORDER BY a.pid
"""

_BOOKKEEPING_TABLE = """
CREATE TABLE audit.schema_migracoes (
    versao       text PRIMARY KEY,
    checksum     text NOT NULL,
    aplicada_em  timestamp NOT NULL DEFAULT now()
)
"""


class MigrationRefused(RuntimeError):
    """The migrations cannot be applied as the database stands; retrying will not help."""


class MigrationChanged(MigrationRefused):
    """A migration already applied to the database no longer matches its file."""


class MigrationLockWait(RuntimeError):
    """A migration gave up waiting for a lock another session holds on audit; nothing was
    applied, and a retry succeeds once that session ends (so no MigrationRefused)."""


class MigrationBlocked(MigrationRefused):
    """Objects outside the migrations depend on one a migration must replace."""


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _verify_applied(recorded: dict[str, str], files: dict[str, Path]) -> None:
    for name, recorded_checksum in sorted(recorded.items()):
        path = files.get(name)
        if path is None:
            raise MigrationChanged(
                f"migração {name} está registrada em audit.schema_migracoes mas o arquivo não existe mais em "
                f"{MIGRATIONS_DIR}: restaure o arquivo (migrações aplicadas nunca são removidas)"
            )
        if checksum(path.read_text(encoding="utf-8")) != recorded_checksum:
            raise MigrationChanged(
                f"migração {name} foi alterada depois de aplicada (checksum diferente do registrado em "
                f"audit.schema_migracoes): restaure o arquivo {path} e crie uma nova migração para a mudança"
            )


def _create_bookkeeping(conn: psycopg.Connection) -> None:
    """Schema audit and its migration log, only where missing: PostgreSQL checks the right to
    create before it sees that an object exists (CREATE … IF NOT EXISTS), so the owner of an
    existing audit without the right to create schemas in the database would be refused."""
    schema_missing, table_missing = conn.execute(
        "SELECT to_regnamespace('audit') IS NULL, to_regclass('audit.schema_migracoes') IS NULL"
    ).fetchone()
    if schema_missing:
        conn.execute("CREATE SCHEMA audit")
    if table_missing:
        conn.execute(_BOOKKEEPING_TABLE)


def apply_migrations(conn: psycopg.Connection, progress: Callable[[str], None] = log.info) -> list[str]:
    """Verify the applied migrations, apply the pending ones; return the names applied.
    ``conn`` must be in autocommit."""
    files = {path.name: path for path in sorted(MIGRATIONS_DIR.glob("*.sql"))}
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    pending: list[str] = []
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{MIGRATION_LOCK_TIMEOUT_S}s",))
            _create_bookkeeping(conn)
            recorded = dict(conn.execute("SELECT versao, checksum FROM audit.schema_migracoes").fetchall())
            _verify_applied(recorded, files)
            pending = [name for name in files if name not in recorded]
            if pending:
                conn.execute(SAVE_GRANTS_AND_COMMENTS.read_text(encoding="utf-8"))
            for name in pending:
                text = files[name].read_text(encoding="utf-8")
                progress(f"migration {name}")
                try:
                    conn.execute(text)
                except psycopg.errors.DependentObjectsStillExist as error:
                    raise _blocked(name, error) from error
                conn.execute(
                    "INSERT INTO audit.schema_migracoes (versao, checksum) VALUES (%s, %s)", (name, checksum(text))
                )
            if pending:
                conn.execute(RESTORE_GRANTS_AND_COMMENTS.read_text(encoding="utf-8"))
    except psycopg.errors.LockNotAvailable as error:
        raise _lock_wait(conn, pending) from error
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return pending


def _lock_wait(conn: psycopg.Connection, pending: list[str]) -> MigrationLockWait:
    """What held the migration up, read once its transaction is rolled back: the sessions
    still holding audit's objects (pg_locks shows them to any user)."""
    holders = conn.execute(_AUDIT_LOCK_HOLDERS).fetchall()
    sessions = "; ".join(
        f"pid {pid} ({user}, aplicação {app}, {state}, transação aberta desde {since})"
        for pid, user, app, state, since in holders
    )
    return MigrationLockWait(
        f"migrações de audit ({', '.join(pending) or 'verificação'}) esperaram mais de {MIGRATION_LOCK_TIMEOUT_S} s "
        f"por um bloqueio que outra sessão segura: {sessions or 'sessão já encerrada'}. Nenhuma migração "
        "foi aplicada. Encerre essa transação (uma exportação ou um cliente SQL com transação aberta) e tente de "
        "novo: a tarefa do DAG é tentada de novo sozinha."
    )


def _blocked(name: str, error: psycopg.errors.DependentObjectsStillExist) -> MigrationBlocked:
    """The DBA's own objects built on the old interface (a report view over
    vw_divergencias_abertas, as the old guide built its dashboard) keep a migration from
    replacing it. PostgreSQL's hint, DROP … CASCADE, would destroy them: the message says
    instead which they are and that moving them aside and back is the DBA's call."""
    return MigrationBlocked(
        f"migração {name} não pode ser aplicada: {error.diag.message_primary} "
        f"({error.diag.message_detail or 'dependências não informadas'}). Nenhuma migração foi aplicada e audit "
        "ficou como estava. Guarde a definição desses objetos, remova-os, execute de novo e recrie-os depois "
        "(as colunas antigas das visões de audit continuam com os mesmos nomes e na mesma ordem)."
    )


def migrate(dsn: str, progress: Callable[[str], None] = log.info) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return apply_migrations(conn, progress)
