"""PostgreSQL plans the data steps' joins from audit.divergencias_processadas' statistics;
statistics that describe a far smaller table than the one a run leaves make it plan nested
loops that grow with the square of the rows."""

from datetime import date

from devtools.sql_steps import run_session

DAY = date(2026, 11, 10)
SALES = 1_200


def _reltuples(conn) -> float:
    return conn.execute(
        "SELECT reltuples FROM pg_class WHERE oid = 'audit.divergencias_processadas'::regclass"
    ).fetchone()[0]


def _sales_with_a_divergence(conn, count: int) -> None:
    conn.execute(
        """INSERT INTO byd.vendas (idnfsexterno, dta_processamento, data_final_venda, des_modelo, chassi, revenda)
           SELECT 'NF' || i, %(day)s::timestamp + interval '10 hours', %(day)s, 'BYD DOLPHIN', 'CHASSI' || i,
                  'BYD Paulista'
             FROM generate_series(1, %(count)s) AS i""",
        {"day": DAY, "count": count},
    )
    conn.execute(
        """INSERT INTO byd.incentivos (idnfsexterno, valor_bonus, trade, bonus_utilizado)
           SELECT 'NF' || i, '5000.00', '0', 'SIM' FROM generate_series(1, %(count)s) AS i""",
        {"count": count},
    )
    conn.execute(
        """INSERT INTO byd.controladoria (idnfsexterno, bonus_dpto, trade_mkt_dpto)
           SELECT 'NF' || i, '4000.00', '0' FROM generate_series(1, %(count)s) AS i""",
        {"count": count},
    )


def test_statistics_analysed_on_an_empty_table_are_refreshed_by_the_run_that_outgrows_them(conn):
    """A database-wide ANALYZE before the first run (a DBA's routine, pg_upgrade's advice)
    records the table as empty. The first run at a million sales then took 45 s in one of
    apply_corrections' UPDATEs, a nested loop over 25,000 × 8,000 rows, instead of 0.3 s."""
    conn.execute("ANALYZE audit.divergencias_processadas")
    assert _reltuples(conn) == 0
    _sales_with_a_divergence(conn, SALES)
    run_session(conn, DAY, DAY)
    assert _reltuples(conn) >= SALES
