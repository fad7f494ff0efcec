"""Shared fixtures: a real PostgreSQL, a real SMTP server, an isolated Airflow home.

PostgreSQL is the embedded server (started in a temporary folder) unless TEST_DATABASE_URL
names an admin connection to another server; every test gets databases of its own,
created (and marked) by the tests and dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# Imports no Airflow module: safe before Airflow's settings are isolated below.
from devtools.local_run import PROJECT_AIRFLOW_LAYOUT

PROJECT_ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

# Airflow reads its settings when first imported: isolate it before any test imports it.
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="divergencias_airflow_"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        **PROJECT_AIRFLOW_LAYOUT,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
    }
)
for _key in [k for k in os.environ if k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
    del os.environ[_key]

from devtools import databases, demo_source, embedded_postgres  # noqa: E402
from devtools.smtp_catcher import smtp_catcher  # noqa: E402
from divergencias.migrations import migrate  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata database (SQLite in the temporary AIRFLOW_HOME), migrated once."""
    run_airflow("db", "migrate")
    return _AIRFLOW_HOME


def run_airflow(*args: str) -> subprocess.CompletedProcess:
    """``airflow <args>`` in this session's Airflow home, with the project's plugins importable."""
    return subprocess.run(
        [AIRFLOW, *args],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "plugins")},
    )


@pytest.fixture(scope="session")
def pg_admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    with embedded_postgres.temporary(tmp_path_factory.mktemp("pg") / "data") as admin_dsn:
        yield admin_dsn


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def system_db(pg_admin_dsn: str) -> str:
    """A new empty database marked as created by the system."""
    name = _unique("t")
    dsn = databases.create_database(pg_admin_dsn, name)
    yield dsn
    databases.drop_database(pg_admin_dsn, name)


@pytest.fixture(scope="session")
def template_db(pg_admin_dsn: str) -> str:
    """Migrated audit schema plus the empty demo byd schema, copied for each test."""
    import psycopg

    name = _unique("tmpl")
    dsn = databases.create_database(pg_admin_dsn, name)
    migrate(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        demo_source.create_fixture(conn)
    yield name
    databases.drop_database(pg_admin_dsn, name)


@pytest.fixture
def make_business_db(pg_admin_dsn: str, template_db: str):
    """Factory of migrated business databases with an empty demo ``byd``."""
    names: list[str] = []

    def make() -> str:
        names.append(_unique("t"))
        return databases.create_database(pg_admin_dsn, names[-1], template=template_db)

    yield make
    for name in names:
        databases.drop_database(pg_admin_dsn, name)


@pytest.fixture
def business_db(make_business_db, monkeypatch: pytest.MonkeyPatch) -> str:
    """A migrated business database with an empty demo ``byd``; financial_db points at it."""
    dsn = make_business_db()
    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", databases.airflow_connection_json(dsn))
    return dsn


def _template_built_by(admin_dsn: str, build: Callable) -> Iterator[str]:
    import psycopg

    name = _unique("tmpl")
    dsn = databases.create_database(admin_dsn, name)
    with psycopg.connect(dsn, autocommit=True) as connection:
        build(connection)
    yield name
    databases.drop_database(admin_dsn, name)


def _copy_as_financial_db(admin_dsn: str, template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    with databases.fresh_copy(admin_dsn, _unique("t"), template) as dsn:
        monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", databases.airflow_connection_json(dsn))
        yield dsn


@pytest.fixture(scope="session")
def old_schema_template(pg_admin_dsn: str) -> Iterator[str]:
    from tests.old_system import build_old_system_database

    yield from _template_built_by(pg_admin_dsn, lambda c: build_old_system_database(c, with_rows=False))


@pytest.fixture(scope="session")
def old_rows_template(pg_admin_dsn: str) -> Iterator[str]:
    from tests.old_system import build_old_system_database

    yield from _template_built_by(pg_admin_dsn, lambda c: build_old_system_database(c, with_rows=True))


@pytest.fixture(scope="session")
def main_v2_template(pg_admin_dsn: str) -> Iterator[str]:
    from tests.old_system import build_main_v2_database

    yield from _template_built_by(pg_admin_dsn, build_main_v2_database)


@pytest.fixture
def old_schema_db(pg_admin_dsn: str, old_schema_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Demo byd plus ``audit`` as the old DDL created it, without rows; financial_db points at it."""
    yield from _copy_as_financial_db(pg_admin_dsn, old_schema_template, monkeypatch)


@pytest.fixture
def old_rows_db(pg_admin_dsn: str, old_rows_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Demo byd plus the old ``audit`` after five months of the old cron job (tests/old_system.py);
    financial_db points at it."""
    yield from _copy_as_financial_db(pg_admin_dsn, old_rows_template, monkeypatch)


@pytest.fixture
def main_v2_db(pg_admin_dsn: str, main_v2_template: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Demo byd plus ``audit`` migrated by main at 308fd28 and run once by it (Sept-Oct 2026,
    modo auto); financial_db points at it."""
    yield from _copy_as_financial_db(pg_admin_dsn, main_v2_template, monkeypatch)


@pytest.fixture
def conn(business_db: str):
    import psycopg

    with psycopg.connect(business_db, autocommit=True) as connection:
        yield connection


@pytest.fixture
def smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real SMTP server on localhost wired as smtp_default, with one recipient."""
    with smtp_catcher(tmp_path / "emails") as catcher:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", catcher.airflow_connection_json())
        monkeypatch.setenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", "controladoria@teste.local")
        yield catcher


@pytest.fixture
def output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "relatorios"
    monkeypatch.setenv("AIRFLOW_VAR_DIVERGENCIAS_OUTPUT_DIR", str(folder))
    return folder


def _fresh_dag(dag_id: str):
    """A freshly parsed DAG for each test (dag.test() keeps a run's conf in the DAG's params),
    without retries: tests that break things want the failure, not the backoff wait."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    for task in dag.tasks:
        task.retries = 0
    return dag


@pytest.fixture
def dag(airflow_db: Path):
    return _fresh_dag("divergencias_diarias")


@pytest.fixture
def rollback_dag(airflow_db: Path):
    return _fresh_dag("divergencias_rollback")


@pytest.fixture
def backup_dag(airflow_db: Path):
    return _fresh_dag("divergencias_backup_auditoria")
