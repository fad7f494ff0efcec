"""The writers meeting each other in real concurrent sessions: two runs over overlapping
periods in separate processes record and apply nothing twice; a person's decision that
arrives while a run's step holds the writer lock is served after it, on what it left."""

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from airflow.providers.common.sql.hooks.sql import DbApiHook
from fastapi import HTTPException

from devtools.sql_steps import open_session, run_session, run_sql, run_step
from divergencias.database import sql_file
from tests.helpers import add_sale, booked, divergences, run_session_at

FIRST = date(2026, 11, 10)


@pytest.mark.slow
def test_overlapping_runs_started_together_record_and_apply_once(conn, business_db):
    for day in range(4):
        moment = datetime(2026, 11, 10, 12, 0) + timedelta(days=day)
        for i in range(150):
            add_sale(
                conn,
                f"NF{day}_{i:03d}",
                valor_bonus="5000.00",
                bonus_dpto="4000.00",
                trade="10",
                trade_mkt_dpto="x" if i % 10 == 0 else "",
                dta_processamento=moment,
            )
    start_at = time.time() + 3
    periods = [(FIRST, FIRST + timedelta(days=2)), (FIRST + timedelta(days=1), FIRST + timedelta(days=3))]
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        results = [pool.apply_async(run_session_at, (business_db, start_at, *p)) for p in periods]
        sessions = [r.get(timeout=120) for r in results]
    assert len(set(sessions)) == 2

    duplicates = conn.execute(
        """SELECT idnfsexterno, tipo_divergencia, campo_afetado, count(*)
             FROM audit.divergencias_processadas GROUP BY 1, 2, 3 HAVING count(*) > 1"""
    ).fetchall()
    assert duplicates == []
    # 600 sales: 600 bonus corrections, 540 trade corrections, 60 unreadable trade bookings
    counts = dict(
        conn.execute("SELECT status_processamento, count(*) FROM audit.divergencias_processadas GROUP BY 1").fetchall()
    )
    assert counts == {"AUTO_APPLIED": 1140, "DETECTED": 60}
    applied_by_operations = conn.execute(
        "SELECT sum(jsonb_array_length(dados_posteriores)) FROM audit.operacoes WHERE tipo_operacao = 'BULK_UPDATE'"
    ).fetchone()[0]
    assert applied_by_operations == 1140
    assert conn.execute("SELECT count(*) FROM byd.controladoria WHERE bonus_dpto <> '5000.00'").fetchone()[0] == 0


@contextmanager
def step_in_progress(dsn: str, task_id: str, params: dict) -> Iterator[None]:
    """A data step of the DAG run up to its commit on a connection of its own: its writer
    lock and its writes are held until the block ends, then committed."""
    with psycopg.connect(dsn) as step:
        for statement in DbApiHook.split_sql_string(sql_file(f"divergencias/{task_id}.sql"), strip_semicolon=True):
            step.execute(statement, params)
        yield
        step.commit()


def wait_for_lock_waits(conn: psycopg.Connection, count: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if waiting >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"expected {count} session(s) waiting on a lock")


def started(work: Callable[..., Any], *args: Any) -> tuple[threading.Thread, dict[str, Any]]:
    """``work(*args)`` in a thread of its own; the outcome (result or error) lands in the dict."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work(*args)
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


@pytest.mark.parametrize("action", ["aprovar", "rejeitar"])
def test_a_decision_waiting_for_a_detection_is_refused_when_it_refreshes_the_divergence(action, conn, business_db):
    """The person saw 4.000,00 -> 5.000,00; someone booked 4.800,00 meanwhile, and the decision
    arrives while a run's detection is taking it in. It used to be applied to what detection
    left: 5.000,00 written over the booking the person never saw, or a rejection kept for it."""
    from divergencias.review import decisions

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    run_session(conn, FIRST, FIRST, modo="manual")
    (seen,) = divergences(conn, "NF1")
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '4800.00' WHERE idnfsexterno = 'NF1'")
    decide = {
        "aprovar": lambda: decisions.approve([seen["id"]], None, None, "controladora"),
        "rejeitar": lambda: decisions.reject([seen["id"]], "valor conferido", "controladora"),
    }[action]

    with step_in_progress(business_db, "detect_divergences", open_session(conn, FIRST, FIRST, modo="manual")):
        thread, outcome = started(decide)
        wait_for_lock_waits(conn, 1)
    thread.join(30)

    assert "error" in outcome and outcome["error"].status_code == 409, outcome
    assert "atualizou" in outcome["error"].detail and "nada foi gravado" in outcome["error"].detail
    assert booked(conn, "NF1")[0] == "4800.00"
    (row,) = divergences(conn, "NF1")
    assert (row["status_processamento"], row["valor_original"]) == ("DETECTED", "4800.00")
    assert (
        conn.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao IN ('APPROVE', 'REJECT')").fetchone()[0]
        == 0
    )


def test_two_people_approving_a_large_change_at_once_apply_it_once_as_two_users(conn, business_db):
    from divergencias.review import decisions

    add_sale(conn, "NF_BIG", valor_bonus="60000.00", bonus_dpto="0")
    run_session(conn, FIRST, FIRST, modo="manual")
    (big,) = divergences(conn, "NF_BIG")

    # Both requests in flight behind a run's step, then released together.
    with step_in_progress(business_db, "apply_corrections", open_session(conn, FIRST, FIRST, modo="manual")):
        decisions_in_flight = [started(decisions.approve, [big["id"]], None, None, u) for u in ("ana", "bruno")]
        wait_for_lock_waits(conn, 2)
    for thread, _ in decisions_in_flight:
        thread.join(30)

    outcomes = sorted(
        (outcome["result"]["aprovadas"], outcome["result"]["aguardando_segunda_aprovacao"])
        for _, outcome in decisions_in_flight
    )
    assert outcomes == [([], [big["id"]]), ([big["id"]], [])]
    assert booked(conn, "NF_BIG")[0] == "60000.00"
    approvals = conn.execute("SELECT usuario, operacao_id IS NOT NULL FROM audit.aprovacoes ORDER BY id").fetchall()
    assert sorted(user for user, _ in approvals) == ["ana", "bruno"] and [a for _, a in approvals] == [False, True]
    assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchone()[0] == 1


def test_an_approval_waiting_for_the_run_that_applies_the_same_divergence_is_refused(conn, business_db):
    from divergencias.review import decisions

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    params = open_session(conn, FIRST, FIRST)
    run_step(conn, "detect_divergences", params)
    (row,) = divergences(conn, "NF1")
    with step_in_progress(business_db, "apply_corrections", params):
        thread, outcome = started(decisions.approve, [row["id"]], Decimal("4500.00"), None, "controladora")
        wait_for_lock_waits(conn, 1)
    thread.join(30)

    assert outcome["error"].status_code == 409 and "AUTO_APPLIED" in outcome["error"].detail
    assert booked(conn, "NF1")[0] == "5000.00"
    assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchone()[0] == 0


def test_a_rollback_waiting_for_a_run_that_corrects_the_same_field_again_reports_the_conflict(conn, business_db):
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    undone = run_session(conn, FIRST, FIRST)["sessao_id"]
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '5500.00' WHERE idnfsexterno = 'NF1'")
    params = open_session(conn, FIRST, FIRST)
    run_step(conn, "detect_divergences", params)
    request = {"sessao_id": undone, "motivo": "teste", "usuario": "airflow:auditor"}

    def rollback() -> list[tuple]:
        with psycopg.connect(business_db, autocommit=True) as own:
            return run_sql(own, sql_file("rollback/rollback_session.sql"), request)

    with step_in_progress(business_db, "apply_corrections", params):
        thread, outcome = started(rollback)
        wait_for_lock_waits(conn, 1)
    thread.join(30)

    ((desfeitas, conflitos, *_),) = outcome["result"]
    assert (desfeitas, conflitos) == (0, 1)
    assert booked(conn, "NF1")[0] == "5500.00"
    statuses = sorted(d["status_processamento"] for d in divergences(conn, "NF1"))
    assert statuses == ["AUTO_APPLIED", "AUTO_APPLIED"]


def test_an_approval_held_up_by_a_booking_being_edited_answers_503_and_writes_nothing(conn, business_db):
    """A person editing the sale's row in byd.controladoria holds it past the API's 15 s: the
    answer says what can hold it (it used to blame a pipeline run that was not there)."""
    from divergencias.review import decisions

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    run_session(conn, FIRST, FIRST, modo="manual")
    (row,) = divergences(conn, "NF1")
    with psycopg.connect(business_db) as editor:
        editor.execute("SELECT 1 FROM byd.controladoria WHERE idnfsexterno = 'NF1' FOR UPDATE")
        with pytest.raises(HTTPException) as refused:
            decisions.approve([row["id"]], None, None, "controladora")
        editor.rollback()

    assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "30"}
    assert "byd.controladoria" in refused.value.detail and "Nada foi gravado" in refused.value.detail
    assert booked(conn, "NF1")[0] == "4000.00"
    assert [d["status_processamento"] for d in divergences(conn, "NF1")] == ["DETECTED"]
    assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchone()[0] == 0


def test_an_upgrade_held_up_by_an_open_reader_gives_up_naming_it_and_stalls_nobody(business_db, tmp_path, monkeypatch):
    """A controller's export (or a SQL client left in a transaction) holds a snapshot on
    audit.divergencias_processadas when an upgrade's run applies a migration that alters it.
    The migration waited for it with no limit, and every reader and writer of the table queued
    behind the migration's request: the review page hung and every decision answered 503 until
    the task's one-hour timeout. It now gives up after a short wait, naming who holds it."""
    from divergencias import migrations

    copy = tmp_path / "migrations"
    copy.mkdir()
    for path in migrations.MIGRATIONS_DIR.glob("*.sql"):
        (copy / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (copy / "999_nova_coluna.sql").write_text(
        "ALTER TABLE audit.divergencias_processadas ADD COLUMN IF NOT EXISTS nova integer;\n", encoding="utf-8"
    )
    monkeypatch.setattr(migrations, "MIGRATIONS_DIR", copy)

    def upgrade() -> list[str]:
        with psycopg.connect(business_db, autocommit=True) as own:
            return migrations.apply_migrations(own)

    def review_page() -> int:
        with psycopg.connect(business_db, autocommit=True) as page:
            return page.execute("SELECT count(*) FROM audit.divergencias_processadas").fetchone()[0]

    monkeypatch.setattr(migrations, "MIGRATION_LOCK_TIMEOUT_S", 2)
    with (
        psycopg.connect(business_db, autocommit=True) as watcher,
        psycopg.connect(business_db, application_name="exportacao da controladoria") as reader,
    ):
        reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        reader.execute("SELECT count(*) FROM audit.divergencias_processadas").fetchone()
        migrating, outcome = started(upgrade)
        wait_for_lock_waits(watcher, 1)
        # Someone opening the review page while the migration waits.
        reading, _ = started(review_page)
        migrating.join(10)
        reading.join(5)
        still_waiting = migrating.is_alive() or reading.is_alive()
        reader.rollback()
    migrating.join(30)
    reading.join(30)

    assert not still_waiting, "the migration waited for the reader with no limit, the page behind it"
    error = outcome["error"]
    assert isinstance(error, migrations.MigrationLockWait)
    assert "999_nova_coluna.sql" in str(error) and "exportacao da controladoria" in str(error)
    assert "Nenhuma migração foi aplicada" in str(error)
    with psycopg.connect(business_db, autocommit=True) as check:
        assert check.execute(
            "SELECT count(*) FROM audit.schema_migracoes WHERE versao = '999_nova_coluna.sql'"
        ).fetchone() == (0,)
    # Once the reader is gone, the retry applies it.
    assert upgrade() == ["999_nova_coluna.sql"]


def test_an_approval_deadlocked_with_a_person_editing_its_sales_answers_503_naming_the_edit(conn, business_db):
    """A person's transaction edits NF2, then NF1, while a bulk approval of both locks NF1 and
    waits for NF2: PostgreSQL breaks the deadlock by cancelling the approval, which answered
    "Banco financial_db indisponível." (the database was there; an edit was in the way)."""
    from divergencias.review import decisions

    for name in ("NF1", "NF2"):
        add_sale(conn, name, valor_bonus="5000.00", bonus_dpto="4000.00")
    run_session(conn, FIRST, FIRST, modo="manual")
    ids = [row["id"] for name in ("NF1", "NF2") for row in divergences(conn, name)]
    with psycopg.connect(business_db) as editor:
        editor.execute("UPDATE byd.controladoria SET bonus_dpto = '4100.00' WHERE idnfsexterno = 'NF2'")
        thread, outcome = started(decisions.approve, ids, None, None, "controladora")
        wait_for_lock_waits(conn, 1)
        # The approval waits for NF2 holding NF1 (the order its lock takes them): the editor's
        # next row closes the cycle, and the approval, waiting longer, is the one cancelled.
        editor.execute("UPDATE byd.controladoria SET bonus_dpto = '4200.00' WHERE idnfsexterno = 'NF1'")
        thread.join(30)
        editor.commit()

    refused = outcome["error"]
    assert isinstance(refused, HTTPException), refused
    assert refused.status_code == 503 and refused.headers == {"Retry-After": "30"}
    assert "byd.controladoria" in refused.detail and "Nada foi gravado" in refused.detail
    assert booked(conn, "NF1")[0] == "4200.00" and booked(conn, "NF2")[0] == "4100.00"
    assert [d["status_processamento"] for d in divergences(conn, "NF1") + divergences(conn, "NF2")] == [
        "DETECTED",
        "DETECTED",
    ]
    assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'APPROVE'").fetchone()[0] == 0


@pytest.mark.parametrize("writer", ["apply_corrections", "rollback_session"])
def test_an_edit_committed_while_a_writer_waits_for_its_row_is_kept(writer, conn, business_db):
    """A person's UPDATE of the booked field is in flight when apply (or a rollback) reaches
    the sale: the writer waits for it and must then see the new text, not the one it read
    before, so the person's edit is kept and the correction (or its undo) is the conflict."""
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    if writer == "apply_corrections":
        params = open_session(conn, FIRST, FIRST)
        run_step(conn, "detect_divergences", params)
        text = sql_file("divergencias/apply_corrections.sql")
    else:
        undone = run_session(conn, FIRST, FIRST)["sessao_id"]
        params = {"sessao_id": undone, "motivo": "teste", "usuario": "airflow:auditor"}
        text = sql_file("rollback/rollback_session.sql")

    def write() -> list[tuple] | None:
        with psycopg.connect(business_db, autocommit=True) as own:
            return run_sql(own, text, params)

    with psycopg.connect(business_db) as person:
        person.execute("UPDATE byd.controladoria SET bonus_dpto = '4800.00' WHERE idnfsexterno = 'NF1'")
        thread, outcome = started(write)
        wait_for_lock_waits(conn, 1)
        person.commit()
    thread.join(30)

    assert "error" not in outcome, outcome
    assert booked(conn, "NF1")[0] == "4800.00"
    if writer == "apply_corrections":
        (row,) = divergences(conn, "NF1")
        assert row["status_processamento"] == "DETECTED"
        assert row["dados_contextuais"]["motivo_nao_aplicada"].startswith("campo alterado")
        assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'BULK_UPDATE'").fetchone() == (
            0,
        )
    else:
        ((desfeitas, conflitos, *_),) = outcome["result"]
        assert (desfeitas, conflitos) == (0, 1)
        assert [d["status_processamento"] for d in divergences(conn, "NF1")] == ["AUTO_APPLIED"]
