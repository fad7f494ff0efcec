"""Applies the ordered SQL migrations of schema ``audit`` (include/sql/migrations).

Every file is idempotent on its own, and the applied ones are recorded in
``audit.schema_migracoes`` so a file runs once. A session-level advisory lock makes
concurrent DAG runs (a backfill starts several) apply them one at a time.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

import psycopg

from divergencias.settings import SQL_DIR

log = logging.getLogger(__name__)

MIGRATIONS_DIR = SQL_DIR / "migrations"
# Arbitrary constant shared by every process that migrates this schema.
MIGRATION_LOCK_KEY = 7_420_261_128

_BOOKKEEPING = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.schema_migracoes (
    versao       text PRIMARY KEY,
    checksum     text NOT NULL,
    aplicada_em  timestamp NOT NULL DEFAULT now()
)
"""


def apply_migrations(conn: psycopg.Connection, progress: Callable[[str], None] = log.info) -> list[str]:
    """Apply pending migrations; return the names applied. ``conn`` must be in autocommit."""
    files = sorted(MIGRATIONS_DIR.glob("*.sql"))
    applied: list[str] = []
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        with conn.transaction():
            conn.execute(_BOOKKEEPING)
        done = {row[0] for row in conn.execute("SELECT versao FROM audit.schema_migracoes")}
        for path in files:
            if path.name in done:
                continue
            text = path.read_text(encoding="utf-8")
            progress(f"migration {path.name}")
            with conn.transaction():
                conn.execute(text)
                conn.execute(
                    "INSERT INTO audit.schema_migracoes (versao, checksum) VALUES (%s, %s)",
                    (path.name, hashlib.sha256(text.encode()).hexdigest()),
                )
            applied.append(path.name)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    return applied


def migrate(dsn: str, progress: Callable[[str], None] = log.info) -> list[str]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return apply_migrations(conn, progress)
