"""Two runs over overlapping periods at the same time, in separate processes: nothing is
recorded twice and nothing is applied twice."""

import multiprocessing
import time
from datetime import date, datetime, timedelta

import pytest

from tests.helpers import add_sale, run_session_at

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
