"""Databases the system creates itself (demo and tests), and how to tell them apart.

Demo data is only ever loaded into a database carrying ``SYSTEM_CREATED_MARKER`` as its
comment, so a mistyped connection can never fill a real business database with fake sales.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SYSTEM_CREATED_MARKER = "divergencias: banco criado pelo sistema (demo/testes)"
_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class NotASystemDatabase(RuntimeError):
    """Raised before writing demo data into a database the system did not create."""


def dsn_for(admin_dsn: str, dbname: str) -> str:
    """The same server as ``admin_dsn``, another database."""
    return make_conninfo(admin_dsn, dbname=dbname)


def _checked_name(name: str) -> str:
    if not _DATABASE_NAME.match(name):
        raise ValueError(f"invalid database name {name!r}: use lowercase letters, digits and _")
    return name


def database_exists(admin_dsn: str, name: str) -> bool:
    with psycopg.connect(admin_dsn) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None


def create_database(admin_dsn: str, name: str, template: str | None = None) -> str:
    """Create ``name`` marked as system-created and return its DSN."""
    name = _checked_name(name)
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        statement += sql.SQL(" TEMPLATE {} STRATEGY FILE_COPY").format(sql.Identifier(_checked_name(template)))
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(statement)
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(SYSTEM_CREATED_MARKER))
        )
    return dsn_for(admin_dsn, name)


def drop_database(admin_dsn: str, name: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_checked_name(name))))


@contextmanager
def fresh_copy(admin_dsn: str, name: str, template: str) -> Iterator[str]:
    """A system-created copy ``name`` of ``template``, dropped on leaving, whatever failed;
    yields its DSN."""
    dsn = create_database(admin_dsn, name, template=template)
    try:
        yield dsn
    finally:
        drop_database(admin_dsn, name)


def is_system_created(conn: psycopg.Connection) -> bool:
    row = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"
    ).fetchone()
    return row is not None and row[0] == SYSTEM_CREATED_MARKER


def require_system_created(conn: psycopg.Connection) -> None:
    if not is_system_created(conn):
        raise NotASystemDatabase(
            f"database {conn.info.dbname!r} was not created by this system; "
            "demo data is only loaded into the embedded demo database and test databases"
        )


def airflow_connection_json(dsn: str) -> str:
    """An Airflow connection (JSON form, as in AIRFLOW_CONN_*) for a libpq DSN or URI.

    JSON rather than URI because the embedded server listens on a unix socket whose
    path would have to be percent-encoded into the URI's host.
    """
    params = conninfo_to_dict(dsn)
    conn: dict[str, object] = {
        "conn_type": "postgres",
        "host": params.get("host", "localhost"),
        "login": params.get("user", "postgres"),
        "schema": params.get("dbname", "postgres"),
    }
    if params.get("port"):
        conn["port"] = int(params["port"])
    if params.get("password"):
        conn["password"] = params["password"]
    return json.dumps(conn)
