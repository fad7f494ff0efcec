"""Bad input and odd source data: a clear error or a recorded divergence, never a crash
with partial writes."""

from datetime import date, datetime

import psycopg
import pytest

from devtools.sql_steps import run_session
from divergencias.period import InvalidParams, resolve_period
from tests.helpers import add_sale, booked, by_key, divergences, flag_every_sale

DAY = date(2026, 11, 10)
NOW = datetime(2026, 11, 28, 10, 0)


def test_a_period_over_366_days_needs_explicit_permission():
    long_period = {"data_inicio": "2025-01-01", "data_fim": "2026-01-02"}
    with pytest.raises(InvalidParams, match="permitir_periodo_longo"):
        resolve_period(long_period, "manual", NOW.astimezone(), 31)
    allowed = resolve_period({**long_period, "permitir_periodo_longo": True}, "manual", NOW.astimezone(), 31)
    assert (allowed.data_fim - allowed.data_inicio).days == 366
    exactly_366 = {"data_inicio": "2025-01-01", "data_fim": "2026-01-01"}
    assert resolve_period(exactly_366, "manual", NOW.astimezone(), 31).data_fim == date(2026, 1, 1)


def test_a_retroactive_window_over_366_days_needs_explicit_permission_too():
    # dias_retroativos 3100 (a typo for 31): every daily run would reach back to 2018
    with pytest.raises(InvalidParams, match="dias_retroativos=3100.*permitir_periodo_longo"):
        resolve_period({}, "scheduled", NOW.astimezone(), 3100)
    with pytest.raises(InvalidParams, match="dias_retroativos"):
        resolve_period({}, "manual", NOW.astimezone(), 366)
    assert resolve_period({}, "scheduled", NOW.astimezone(), 365).data_inicio == date(2025, 11, 27)
    allowed = resolve_period({"permitir_periodo_longo": True}, "manual", NOW.astimezone(), 3100)
    assert allowed.data_inicio == date(2018, 6, 2)


def test_duplicate_rows_of_a_sale_in_the_view_are_recorded_once_and_reported(conn):
    add_sale(conn, "NF_DUP", valor_bonus="5000.00", bonus_dpto="4000.00")
    # a second incentive row for the same nota fiscal duplicates it in the view
    conn.execute("ALTER TABLE byd.incentivos DROP CONSTRAINT incentivos_pkey")
    conn.execute("INSERT INTO byd.incentivos VALUES ('NF_DUP', '5000.00', '0', 'SIM')")
    assert conn.execute("SELECT count(*) FROM byd.bonus_view WHERE idnfsexterno = 'NF_DUP'").fetchone()[0] == 2
    params = run_session(conn, DAY, DAY)
    (d,) = divergences(conn, "NF_DUP")
    assert d["status_processamento"] == "AUTO_APPLIED"
    assert booked(conn, "NF_DUP")[0] == "5000.00"
    log = conn.execute(
        "SELECT log_completo FROM audit.sessoes_processamento WHERE id = %s", (params["sessao_id"],)
    ).fetchone()[0]
    assert "1 linha(s) repetida(s) de idnfsexterno" in log


def test_sales_without_dta_processamento_are_reported_not_processed(conn):
    add_sale(conn, "NF_NULL_DATE", bonus_dpto="1", dta_processamento=None)
    add_sale(conn, "NF_OK", bonus_dpto="1")
    params = run_session(conn, DAY, DAY)
    assert [d["idnfsexterno"] for d in divergences(conn)] == ["NF_OK"]
    log = conn.execute(
        "SELECT log_completo FROM audit.sessoes_processamento WHERE id = %s", (params["sessao_id"],)
    ).fetchone()[0]
    assert "1 venda(s) sem dta_processamento" in log


def test_a_clean_source_leaves_no_warning(conn):
    add_sale(conn, "NF_OK", bonus_dpto="1")
    params = run_session(conn, DAY, DAY)
    log = conn.execute(
        "SELECT log_completo FROM audit.sessoes_processamento WHERE id = %s", (params["sessao_id"],)
    ).fetchone()[0]
    assert log is None


def test_long_period_refused_at_the_first_task(dag, system_db, monkeypatch):
    from devtools.databases import airflow_connection_json

    monkeypatch.setenv("AIRFLOW_CONN_FINANCIAL_DB", airflow_connection_json(system_db))
    run = dag.test(run_conf={"data_inicio": "2024-01-01", "data_fim": "2026-01-01"})
    assert run.state == "failed"
    assert {ti.task_id: ti.state for ti in run.get_task_instances()}["validate_and_migrate"] == "failed"


def test_other_scripts_digits_in_a_unicode_collated_column_are_unreadable_not_a_crash(conn):
    """A byd column (or database) with an ICU collation: its regular expressions take
    Arabic-Indic and full-width digits for \\d, and the parser's cast of them failed the run."""
    from devtools import demo_source

    collation = conn.execute(
        "SELECT collname FROM pg_collation WHERE collname IN ('und-x-icu', 'pg_unicode_fast') ORDER BY 1 LIMIT 1"
    ).fetchone()
    if collation is None:
        pytest.skip("this server has no ICU nor builtin Unicode collation")
    conn.execute("DROP VIEW byd.bonus_view")
    conn.execute(f'ALTER TABLE byd.incentivos ALTER valor_bonus TYPE text COLLATE "{collation[0]}"')
    demo_source.create_fixture(conn)
    add_sale(conn, "NF_AR", valor_bonus="٥٠٠٠", bonus_dpto="5000.00")
    add_sale(conn, "NF_FW", valor_bonus="R$ ５.０００,００", bonus_dpto="5000.00")
    run_session(conn, DAY, DAY)
    for sale, text in (("NF_AR", "٥٠٠٠"), ("NF_FW", "R$ ５.０００,００")):
        (d,) = divergences(conn, sale)
        assert (d["tipo_divergencia"], d["campo_afetado"]) == ("VALOR_INVALIDO", "valor_bonus")
        assert d["valor_original"] == text
        assert booked(conn, sale)[0] == "5000.00"


def test_an_amount_that_rounds_beyond_numeric_15_2_keeps_only_its_text(conn):
    """Under 10^13 but rounding to it at two decimals: stored as numeric(15,2) the reading
    overflowed and failed the whole detection."""
    add_sale(conn, "NF_HUGE", valor_bonus="9999999999999.995", bonus_dpto="5000.00")
    add_sale(conn, "NF_HUGE_NEG", valor_bonus="5000.00", bonus_dpto="-9.999.999.999.999,999")
    run_session(conn, DAY, DAY)
    huge = by_key(divergences(conn, "NF_HUGE"))
    outlier = huge[("VALIDACAO_VALOR", "valor_bonus")]
    assert outlier["valor_original"] == "9999999999999.995" and outlier["valor_anterior"] is None
    assert outlier["regras_aplicadas"] == ["VALOR_OUTLIER"]
    correction = huge[("TRADE_MARKETING_BONUS", "bonus_dpto")]
    assert correction["valor_sugerido"] is None and correction["status_processamento"] == "DETECTED"
    negative = by_key(divergences(conn, "NF_HUGE_NEG"))[("VALIDACAO_VALOR", "bonus_dpto")]
    assert negative["valor_anterior"] is None and negative["regras_aplicadas"] == ["VALOR_NEGATIVO"]
    assert booked(conn, "NF_HUGE")[0] == "5000.00" and booked(conn, "NF_HUGE_NEG")[0] == "-9.999.999.999.999,999"


def test_a_data_final_venda_with_a_five_digit_year_falls_back_to_dta_processamento(conn):
    """'20261-11-10' (a typo for 2026) made competencia '20261-11', too long for its
    varchar(7): the whole detection failed. A date YYYY-MM cannot write is no date for it."""
    add_sale(conn, "NF_TYPO", bonus_dpto="1", dta_processamento=datetime(2026, 11, 10, 10, 0))
    add_sale(conn, "NF_OK", bonus_dpto="1", data_final_venda=datetime(2026, 10, 31, 10, 0))
    conn.execute("UPDATE byd.vendas SET data_final_venda = '20261-11-10 10:00' WHERE idnfsexterno = 'NF_TYPO'")
    run_session(conn, DAY, DAY)
    competencias = {d["idnfsexterno"]: d["competencia"] for d in divergences(conn)}
    assert competencias == {"NF_OK": "2026-10", "NF_TYPO": "2026-11"}


def test_a_source_with_case_insensitive_columns_is_read_byte_for_byte(conn):
    """A column with a nondeterministic collation (ICU, case-insensitive) reached the money
    parser's regular expressions, which PostgreSQL refuses for such collations: detection
    failed on every run (046). And detection takes the reference's reading for a booked
    field whose text is the same (045): the same byte for byte, since under this collation
    'r$ 5,00' equals 'R$ 5,00', which the parser reads while it cannot read the lower-case
    one."""
    try:
        conn.execute(
            "CREATE COLLATION byd.sem_caixa (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
        )
    except psycopg.errors.FeatureNotSupported as no_icu:  # the embedded server is built without ICU
        pytest.skip(str(no_icu))
    conn.execute("DROP VIEW byd.bonus_view")
    for table, column in (("incentivos", "valor_bonus"), ("incentivos", "trade"), ("controladoria", "bonus_dpto")):
        conn.execute(f"ALTER TABLE byd.{table} ALTER COLUMN {column} TYPE text COLLATE byd.sem_caixa")
    # the business's view, flagging every sale (the demo view's own reading uses LIKE)
    flag_every_sale(conn)
    add_sale(conn, "NF_CAIXA", valor_bonus="R$ 5,00", bonus_dpto="r$ 5,00", trade="NAN")
    add_sale(conn, "NF_LEGIVEL", valor_bonus="R$ 5.000,00", bonus_dpto="4.000,00")
    assert conn.execute(
        "SELECT bool_and(bonus_dpto = valor_bonus) FROM byd.bonus_view WHERE idnfsexterno = 'NF_CAIXA'"
    ).fetchone()[0]
    run_session(conn, DAY, DAY)
    assert [(d["tipo_divergencia"], d["campo_afetado"]) for d in divergences(conn, "NF_CAIXA")] == [
        ("VALOR_INVALIDO", "bonus_dpto"),
        ("VALOR_INVALIDO", "trade"),
    ]
    assert booked(conn, "NF_LEGIVEL")[0] == "5000.00"


def test_the_email_shows_an_amount_with_more_than_two_decimals_as_the_source_holds_it(conn):
    """The audit's numeric(15,2) columns keep cents and the email rounded to cents: an outlier
    of 100000.004 was shown as R$ 100.000,00, not above limite_outlier, a negative -0.004 as
    R$ 0,00, and a reference of 5000.004 left for review as a suggestion of R$ 5.000,00."""
    from divergencias.notifications import summary_mail

    add_sale(conn, "NF_OUTLIER", valor_bonus="100000.004", bonus_dpto="100000.004")
    add_sale(conn, "NF_NEG", valor_bonus="-0,004", bonus_dpto="-0,004")
    add_sale(conn, "NF_REF", valor_bonus="5000.004", bonus_dpto="4000.00")
    params = run_session(conn, DAY, DAY)
    mail = summary_mail(conn, params["sessao_id"], "http://airflow")
    for body in (mail.text, mail.html):
        assert "R$\xa0100.000,004" in body
        assert "-R$\xa00,004" in body
        assert "R$\xa05.000,004" in body and "R$\xa01.000,004" in body  # suggestion, difference


def test_the_email_ranks_an_amount_too_large_for_the_audit_columns_by_its_size(conn):
    """valor_anterior (numeric(15,2)) stays empty for 10^13 or more: the email counted such an
    absurd booking as a difference of zero, so behind 20 pending cents it was not listed."""
    from divergencias.notifications import summary_mail

    for i in range(20):
        add_sale(conn, f"NF_CENTAVO{i:02}", valor_bonus="-0.01", bonus_dpto="-0.01")
    add_sale(conn, "NF_ABSURDA", valor_bonus="50000000000000.00", bonus_dpto="50000000000000.00")
    params = run_session(conn, DAY, DAY)
    mail = summary_mail(conn, params["sessao_id"], "http://airflow")
    for body in (mail.text, mail.html):
        assert "NF_ABSURDA" in body and "R$\xa050.000.000.000.000,00" in body
