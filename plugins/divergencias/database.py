"""Connections to the business database and the SQL files the tasks run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import psycopg

from divergencias.settings import FINANCIAL_DB_CONN_ID, SQL_DIR


def connect_financial_db() -> psycopg.Connection:
    """A new connection to ``financial_db``; the caller closes it. For connections that must
    outlive a ``with`` block (a streamed export); everything else uses financial_db()."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=FINANCIAL_DB_CONN_ID).get_conn()


@contextmanager
def financial_db(autocommit: bool = False) -> Iterator[psycopg.Connection]:
    """A connection to ``financial_db``, always closed. Without ``autocommit`` the block is
    one transaction: committed when it ends normally, rolled back on an exception."""
    conn = connect_financial_db()
    try:
        if autocommit:
            conn.autocommit = True
            yield conn
        else:
            with conn.transaction():
                yield conn
    finally:
        conn.close()


@cache
def sql_file(relative_path: str) -> str:
    """Text of ``include/sql/<relative_path>``, our own files only."""
    path = (SQL_DIR / relative_path).resolve()
    if SQL_DIR.resolve() not in path.parents:
        raise ValueError(f"{relative_path!r} is outside include/sql")
    return path.read_text(encoding="utf-8")
