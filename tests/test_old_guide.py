"""What the old system's deployment guide (/work/shared/seed) told its users to rely on, checked
against this system: its monitoring SQL and its SMTP settings."""

from datetime import date
from decimal import Decimal

from devtools.sql_steps import run_session
from tests.helpers import add_sale, divergences

DAY = date(2026, 11, 10)


def test_the_dashboard_counts_runs_today_not_approvals(conn):
    """The guide's vw_dashboard_monitoramento.execucoes_hoje counts the job's runs of the day;
    each approval here opens a MANUAL_APPROVAL session, which a controller approving one by one
    saw counted as a run."""
    from divergencias.review import decisions

    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    add_sale(conn, "NF2", trade="3000.00", trade_mkt_dpto="2000.00")
    run_session(conn, DAY, DAY, modo="manual")
    for detected in divergences(conn):
        decisions.approve([detected["id"]], None, None, "controladora")

    sessions = conn.execute("SELECT tipo_sessao FROM audit.sessoes_processamento ORDER BY id").fetchall()
    assert sessions == [("MANUAL_RUN",), ("MANUAL_APPROVAL",), ("MANUAL_APPROVAL",)]
    assert conn.execute("SELECT execucoes_hoje FROM audit.vw_dashboard_monitoramento").fetchone() == (1,)
    assert [d["valor_aplicado"] for d in divergences(conn)] == [Decimal("5000.00"), Decimal("3000.00")]
