"""``make run`` and ``make airflow`` on a fresh machine (devtools.local_run).

The embedded server here lives in the test's temporary folder, never in the project's
``.pgdata/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools import embedded_postgres, local_run
from divergencias.database import financial_db

MIGRATIONS = Path(__file__).resolve().parents[1] / "include" / "sql" / "migrations"


@pytest.fixture
def fresh_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No financial_db of the user's and no embedded server yet: what ``make run`` and
    ``make airflow`` find the first time."""
    pgdata = tmp_path / ".pgdata"
    monkeypatch.setattr(local_run, "PROJECT_ROOT", tmp_path)
    monkeypatch.setattr(local_run, "PGDATA", pgdata)
    monkeypatch.delenv("AIRFLOW_CONN_FINANCIAL_DB", raising=False)
    try:
        yield pgdata
    finally:
        embedded_postgres.stop(pgdata)


def test_the_demo_database_is_migrated_before_the_review_page_reads_it(fresh_machine: Path) -> None:
    # make airflow opens the review page, which reads audit.*, before any run migrated it.
    local_run.prepare_business_database()

    with financial_db() as conn:
        applied = conn.execute("SELECT count(*) FROM audit.schema_migracoes").fetchone()[0]
        sales = conn.execute("SELECT count(*) FROM byd.bonus_view").fetchone()[0]
    assert applied == len(list(MIGRATIONS.glob("*.sql")))
    assert sales == local_run.DEMO_SALES
