"""The DAG as Airflow runs it: dag.test() against real PostgreSQL and a real SMTP server."""

import csv
import io
from datetime import date

import psycopg
import pytest

from devtools import demo_source
from divergencias.period import PARAMS
from tests.helpers import add_sale

TASKS = [
    "validate_and_migrate",
    "open_session",
    "detect_divergences",
    "apply_corrections",
    "export_csv",
    "email_summary",
    "close_session",
]
CSV_COLUMNS = (
    "id,sessao_id,idnfsexterno,tipo_divergencia,campo_afetado,valor_original,valor_anterior,valor_sugerido,"
    "valor_aplicado,competencia,status_processamento,confidence_score,regras_aplicadas,detectado_em,"
    "processado_em,processado_por,motivo_rejeicao"
).split(",")
PERIOD = {"data_inicio": "2026-10-01", "data_fim": "2026-10-31"}


def test_dag_bag_imports_with_the_contract_tasks_in_order(dag):
    assert dag.dag_id == "divergencias_diarias"
    order = [t.task_id for t in dag.topological_sort()]
    assert [task_id for task_id in order if task_id in TASKS] == TASKS
    assert set(order) - set(TASKS) == {"fail_if_a_step_failed"}
    assert dag.get_task("close_session").is_teardown
    assert set(dag.params.keys()) == {
        "data_inicio",
        "data_fim",
        "modo",
        "permitir_periodo_longo",
        "confirmar_resolucao_em_massa",
    }
    assert dag.params["modo"] == "auto"
    # the first task refuses any other key: both lists must name the same params
    assert set(dag.params.keys()) == set(PARAMS)


def _session(dsn: str) -> dict:
    from psycopg.rows import dict_row

    with psycopg.connect(dsn, row_factory=dict_row) as c:
        return c.execute("SELECT * FROM audit.sessoes_processamento ORDER BY id DESC LIMIT 1").fetchone()


@pytest.fixture
def demo_db(business_db):
    with psycopg.connect(business_db, autocommit=True) as c:
        demo_source.generate_sales(c, 3000, end_date=date(2026, 10, 31), progress=None)
    return business_db


def test_full_run_database_csv_and_email(dag, demo_db, smtp, output_dir):
    run = dag.test(run_conf={**PERIOD, "modo": "auto"})
    assert run.state == "success"
    session = _session(demo_db)
    assert session["status"] == "COMPLETED" and session["tipo_sessao"] == "MANUAL_RUN"
    assert (str(session["data_inicio"]), str(session["data_fim"])) == (PERIOD["data_inicio"], PERIOD["data_fim"])
    assert session["divergencias_detectadas"] > 0 and session["correcoes_aplicadas"] > 0
    assert session["alertas_enviados"] and session["destinatarios_notificados"] == ["controladoria@teste.local"]

    path = output_dir / f"divergencias_2026-10-01_2026-10-31_sessao{session['id']}.csv"
    assert session["arquivo_relatorio"] == str(path)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(rows[0].keys()) == CSV_COLUMNS
    with psycopg.connect(demo_db) as c:
        expected = c.execute(
            """SELECT count(*) FROM audit.divergencias_processadas
                WHERE sessao_id = %(s)s OR sessao_alteracao_id = %(s)s OR status_processamento = 'DETECTED'""",
            {"s": session["id"]},
        ).fetchone()[0]
    assert len(rows) == expected
    assert {r["status_processamento"] for r in rows} >= {"AUTO_APPLIED", "DETECTED"}

    (mail,) = smtp.mails
    message = mail.message
    subject = message["Subject"]
    assert "[DEVELOPMENT]" in subject and "01/10/2026 a 31/10/2026" in subject
    assert f"{session['divergencias_detectadas']} novas" in subject
    assert f"{session['correcoes_aplicadas']} corrigidas" in subject
    assert f"{session['correcoes_pendentes']} pendentes" in subject
    assert mail.recipients == ["controladoria@teste.local"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "TRADE_MARKETING_BONUS" in text and "TRADE_MARKETING_BONUS" in html
    assert "Criticidade" in text and "/dags/divergencias_diarias/runs/" in html
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == path.name
    assert attachment.get_payload(decode=True) == raw
    assert attachment.get_content_charset() == "utf-8"

    # same period again: nothing new, nothing applied twice
    assert dag.test(run_conf={**PERIOD, "modo": "auto"}).state == "success"
    again = _session(demo_db)
    assert (again["divergencias_detectadas"], again["correcoes_aplicadas"]) == (0, 0)


def test_manual_mode_run_changes_nothing_in_byd(dag, demo_db, smtp, output_dir):
    query = "SELECT md5(string_agg(c::text, '|' ORDER BY idnfsexterno)) FROM byd.controladoria c"
    with psycopg.connect(demo_db) as c:
        before = c.execute(query).fetchone()[0]
    assert dag.test(run_conf={**PERIOD, "modo": "manual"}).state == "success"
    with psycopg.connect(demo_db) as c:
        assert c.execute(query).fetchone()[0] == before
    assert _session(demo_db)["modo"] == "manual"


def test_every_value_in_the_email_is_html_escaped(dag, conn, business_db, smtp, output_dir):
    add_sale(conn, "<b>NF&1</b>", valor_bonus="-10", bonus_dpto="5", revenda="<script>alert(1)</script>")
    assert dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}).state == "success"
    html = smtp.mails[0].message.get_body(("html",)).get_content()
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "<b>NF&1</b>" not in html and "&lt;b&gt;NF&amp;1&lt;/b&gt;" in html


def test_the_session_of_a_run_a_person_triggered_names_who_and_its_corrections_lead_there(
    dag, conn, business_db, smtp, output_dir
):
    """A manual run in modo auto corrects byd, and its operations name only the pipeline user:
    who had the corrections applied was only in Airflow's own tables, which get purged."""
    add_sale(conn, "NF1", valor_bonus="200.00", bonus_dpto="100")
    assert dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}).state == "success"
    who = conn.execute(
        """SELECT o.usuario, s.tipo_sessao, s.disparado_por
             FROM audit.operacoes o JOIN audit.sessoes_processamento s ON s.id = o.sessao_id
            WHERE o.tipo_operacao = 'BULK_UPDATE'"""
    ).fetchall()
    assert who == [("airflow:divergencias_diarias", "MANUAL_RUN", "dag_test")]


def test_no_recipients_skips_the_email_with_a_warning(dag, conn, business_db, output_dir, monkeypatch):
    add_sale(conn, "NF1", bonus_dpto="1")
    monkeypatch.delenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", raising=False)
    assert dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}).state == "success"
    session = _session(business_db)
    assert session["status"] == "COMPLETED" and not session["alertas_enviados"]


def test_recipients_separated_by_semicolons_or_with_empty_items_all_get_the_summary(
    dag, conn, business_db, smtp, output_dir, monkeypatch
):
    """Outlook writes a list as 'a; b': in the To header that kept only the first address,
    and the second silently got nothing while the session named both as notified."""
    add_sale(conn, "NF1", bonus_dpto="1")
    recipients = " controladoria@teste.local; gerente@teste.local ,, ;auditoria@teste.local "
    monkeypatch.setenv("AIRFLOW_VAR_NOTIFICATION_RECIPIENTS", recipients)
    assert dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}).state == "success"
    expected = ["controladoria@teste.local", "gerente@teste.local", "auditoria@teste.local"]
    (mail,) = smtp.mails
    assert sorted(mail.recipients) == sorted(expected)
    assert _session(business_db)["destinatarios_notificados"] == expected


@pytest.mark.parametrize(
    "conf",
    [
        {"data_inicio": "2026-11-10"},
        {"data_fim": "2026-11-10"},
        {"data_inicio": "2026-11-10", "data_fim": "2026-11-01"},
    ],
)
def test_inconsistent_dates_fail_at_the_first_task_writing_nothing(dag, system_db, monkeypatch, conf):
    from devtools.databases import airflow_connection_json

    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", airflow_connection_json(system_db))
    run = dag.test(run_conf=conf)
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["validate_and_migrate"] == "failed"
    assert states["open_session"] == "upstream_failed"
    with psycopg.connect(system_db) as c:
        assert c.execute("SELECT to_regnamespace('audit')").fetchone()[0] is None


def test_a_misspelled_param_fails_the_first_task_instead_of_running_auto(dag, conn, business_db, output_dir):
    # "mode" for "modo": ignored, the run would apply corrections the user meant to only detect
    add_sale(conn, "NF1", bonus_dpto="1")
    run = dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10", "mode": "manual"})
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["validate_and_migrate"] == "failed" and states["open_session"] == "upstream_failed"
    assert conn.execute("SELECT count(*) FROM audit.sessoes_processamento").fetchone()[0] == 0
    assert conn.execute("SELECT bonus_dpto FROM byd.controladoria").fetchone()[0] == "1"


@pytest.mark.parametrize("conf", [{"modo": "automatico"}, {"data_inicio": "10/11/2026", "data_fim": "2026-11-10"}])
def test_bad_params_are_rejected_before_the_run_exists(dag, conf):
    from airflow.sdk.definitions.param import ParamValidationError

    with pytest.raises(ParamValidationError):
        dag.test(run_conf=conf)


def test_a_failed_task_fails_the_run_closes_the_session_and_sends_an_alert(dag, conn, business_db, smtp, output_dir):
    add_sale(conn, "NF1", bonus_dpto="1")
    conn.execute("DROP VIEW byd.bonus_view")
    run = dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10"})
    assert run.state == "failed"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["detect_divergences"] == "failed" and states["close_session"] == "success"
    session = _session(business_db)
    assert session["status"] == "FAILED" and session["erros_encontrados"] > 0
    subjects = [m.message["Subject"] for m in smtp.mails]
    assert any("FALHA" in s and "detect_divergences" in s for s in subjects), subjects


PRODUCTION_SHAPED = """
CREATE SCHEMA byd;
-- numeric and text money columns side by side, plus a column the pipeline must not touch
CREATE TABLE byd.controladoria (idnfsexterno varchar(40), bonus_dpto numeric(15,2), trade_mkt_dpto text,
                                observacao text DEFAULT 'intocada');
INSERT INTO byd.controladoria (idnfsexterno, bonus_dpto, trade_mkt_dpto) VALUES
    ('NF-A', 4000.00, '300.00'), ('NF-B', 9000.00, 'R$ 1.000,00'), ('NF-C', 100.00, '0');
CREATE VIEW byd.bonus_view AS
SELECT v.idnfsexterno, v.dta_processamento, v.data_final_venda, v.competencia, 'BYD SEAL'::text AS des_modelo,
       'LGXCE4CB0R0000009'::text AS chassi, 'BYD Moema'::text AS revenda, v.bonus_utilizado,
       CASE WHEN c.bonus_dpto::text = v.valor_bonus AND c.trade_mkt_dpto = v.trade THEN 'Certo!'
            ELSE 'Revisar Divergência!' END AS apontamento,
       v.valor_bonus, v.trade, c.bonus_dpto::text AS bonus_dpto, c.trade_mkt_dpto
  FROM (VALUES
        ('NF-A', timestamp '2026-11-02 08:00', timestamp '2026-11-01 10:00', 'Novembro', 'SIM', '5000.00', '350.00'),
        ('NF-B', timestamp '2026-11-03 23:59:59', timestamp '2026-10-31 10:00', 'Outubro', 'PENDENTE VERIFICACAO',
         '9000.00', '1000.00'),
        ('NF-C', timestamp '2026-11-04 00:00', NULL, 'Novembro', 'SIM', 'n/d', '0')
       ) AS v(idnfsexterno, dta_processamento, data_final_venda, competencia, bonus_utilizado, valor_bonus, trade)
  LEFT JOIN byd.controladoria c USING (idnfsexterno);
"""


def test_production_shaped_database_gets_the_audit_schema_and_the_contract_results(dag, system_db, monkeypatch):
    from devtools.databases import airflow_connection_json

    with psycopg.connect(system_db, autocommit=True) as c:
        c.execute(PRODUCTION_SHAPED)
    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", airflow_connection_json(system_db))
    run = dag.test(run_conf={"data_inicio": "2026-11-01", "data_fim": "2026-11-30", "modo": "auto"})
    assert run.state == "success"
    with psycopg.connect(system_db) as c:
        found = c.execute(
            """SELECT idnfsexterno, tipo_divergencia, campo_afetado, status_processamento, valor_original,
                      valor_sugerido::text, competencia
                 FROM audit.divergencias_processadas ORDER BY 1, 2, 3"""
        ).fetchall()
        booked_rows = c.execute("SELECT * FROM byd.controladoria ORDER BY 1").fetchall()
    assert found == [
        ("NF-A", "TRADE_MARKETING_BONUS", "bonus_dpto", "AUTO_APPLIED", "4000.00", "5000.00", "2026-11"),
        ("NF-A", "TRADE_MARKETING_TRADE", "trade_mkt_dpto", "AUTO_APPLIED", "300.00", "350.00", "2026-11"),
        ("NF-B", "PENDENTE_VERIFICACAO", "bonus_utilizado", "DETECTED", "PENDENTE VERIFICACAO", None, "2026-10"),
        ("NF-C", "VALOR_INVALIDO", "valor_bonus", "DETECTED", "n/d", None, "2026-11"),
    ]
    from decimal import Decimal

    assert booked_rows == [
        ("NF-A", Decimal("5000.00"), "350.00", "intocada"),
        ("NF-B", Decimal("9000.00"), "R$ 1.000,00", "intocada"),
        ("NF-C", Decimal("100.00"), "0", "intocada"),
    ]


@pytest.mark.slow
def test_with_50000_divergences_the_email_stays_small_and_links_a_large_csv(
    dag, conn, business_db, smtp, output_dir, monkeypatch
):
    # each sale: pending verification, and a booking missing in controladoria (trade marketing)
    conn.execute(
        """INSERT INTO byd.vendas (idnfsexterno, dta_processamento)
           SELECT 'NF' || i, timestamp '2026-11-10 08:00' FROM generate_series(1, 25000) AS i"""
    )
    conn.execute(
        """INSERT INTO byd.incentivos (idnfsexterno, valor_bonus, trade, bonus_utilizado)
           SELECT 'NF' || i, '100.00', '0', 'PENDENTE VERIFICACAO' FROM generate_series(1, 25000) AS i"""
    )
    monkeypatch.setenv("AIRFLOW_VAR_DIVERGENCIAS_ANEXO_MAX_MB", "1")
    assert dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}).state == "success"
    session = _session(business_db)
    assert session["divergencias_detectadas"] == 50000
    csv_path = output_dir / f"divergencias_2026-11-10_2026-11-10_sessao{session['id']}.csv"
    assert csv_path.stat().st_size > 2**20
    (mail,) = smtp.mails
    assert len(mail.message.as_bytes()) < 100_000
    assert list(mail.message.iter_attachments()) == []
    assert str(csv_path) in mail.message.get_body(("plain",)).get_content()
    assert mail.message.get_body(("html",)).get_content().count("<tr") < 40


def test_manual_run_without_dates_covers_the_retroactive_window_before_its_date(dag, conn, business_db, output_dir):
    import pendulum

    add_sale(conn, "NF1", bonus_dpto="1")
    run = dag.test(logical_date=pendulum.datetime(2026, 11, 20, 1, 30, tz="UTC"))  # 19/11 22:30 in São Paulo
    assert run.state == "success"
    session = _session(business_db)
    assert session["tipo_sessao"] == "MANUAL_RUN"
    assert (session["data_inicio"], session["data_fim"]) == (date(2026, 10, 18), date(2026, 11, 18))
    assert session["divergencias_detectadas"] == 1
