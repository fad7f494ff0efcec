"""The five detection rules and the auto-apply conditions, on the DAG's own SQL files."""

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from devtools.sql_steps import open_session, run_session, run_step
from tests.helpers import add_sale, booked, by_key, divergences

DAY = date(2026, 11, 10)


def test_tolerance_is_exclusive_at_one_cent(conn):
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="5000.01")
    add_sale(conn, "NF2", valor_bonus="5000.00", bonus_dpto="5000.02")
    run_session(conn, DAY, DAY)
    assert divergences(conn, "NF1") == []
    (d,) = divergences(conn, "NF2")
    assert (d["tipo_divergencia"], d["campo_afetado"], d["status_processamento"]) == (
        "TRADE_MARKETING_BONUS",
        "bonus_dpto",
        "AUTO_APPLIED",
    )
    assert booked(conn, "NF2")[0] == "5000.00"


def test_trade_marketing_fields_with_messy_text(conn):
    add_sale(conn, "NF_NAN", valor_bonus="7000.0", bonus_dpto="NaN")
    add_sale(conn, "NF_EMPTY", trade="1.234,56", trade_mkt_dpto="")
    add_sale(conn, "NF_SAME_BR", valor_bonus="1234.56", bonus_dpto="1.234,56", trade="R$ 300,00", trade_mkt_dpto="300")
    add_sale(conn, "NF_BOTH_EMPTY", valor_bonus="5000", bonus_dpto="5000", trade="None", trade_mkt_dpto="")
    run_session(conn, DAY, DAY)

    (nan,) = divergences(conn, "NF_NAN")
    assert nan["valor_original"] == "NaN" and nan["valor_anterior"] is None
    assert nan["valor_sugerido"] == Decimal("7000.00") and nan["confidence_score"] == Decimal("0.95")
    assert booked(conn, "NF_NAN") == ("7000.00", "0")

    (empty,) = divergences(conn, "NF_EMPTY")
    assert (empty["campo_afetado"], empty["valor_original"], empty["valor_sugerido"]) == (
        "trade_mkt_dpto",
        "",
        Decimal("1234.56"),
    )
    assert booked(conn, "NF_EMPTY")[1] == "1234.56"
    assert divergences(conn, "NF_SAME_BR") == []
    assert divergences(conn, "NF_BOTH_EMPTY") == []


def test_registered_value_empty_suggests_zero(conn):
    add_sale(conn, "NF1", valor_bonus="", bonus_dpto="800.00")
    run_session(conn, DAY, DAY)
    (d,) = divergences(conn, "NF1")
    assert d["valor_sugerido"] == Decimal("0.00") and d["status_processamento"] == "AUTO_APPLIED"
    assert booked(conn, "NF1")[0] == "0.00"


def test_unreadable_text_is_its_own_divergence_and_blocks_the_comparison(conn):
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="12,34,56", trade="abc", trade_mkt_dpto="0")
    run_session(conn, DAY, DAY)
    found = by_key(divergences(conn, "NF1"))
    assert set(found) == {("VALOR_INVALIDO", "bonus_dpto"), ("VALOR_INVALIDO", "trade")}
    invalid = found[("VALOR_INVALIDO", "bonus_dpto")]
    assert invalid["valor_original"] == "12,34,56" and invalid["valor_anterior"] is None
    assert invalid["confidence_score"] == Decimal("1.00") and invalid["status_processamento"] == "DETECTED"
    assert booked(conn, "NF1") == ("12,34,56", "0")


def test_negative_or_outlier_suggestion_is_never_applied(conn):
    add_sale(conn, "NF_NEG", valor_bonus="-500.00", bonus_dpto="500.00")
    add_sale(conn, "NF_BIG", valor_bonus="250000.00", bonus_dpto="25000.00")
    run_session(conn, DAY, DAY)
    neg = by_key(divergences(conn, "NF_NEG"))
    assert neg[("TRADE_MARKETING_BONUS", "bonus_dpto")]["status_processamento"] == "DETECTED"
    assert "inválido" in neg[("TRADE_MARKETING_BONUS", "bonus_dpto")]["dados_contextuais"]["motivo_nao_aplicada"]
    assert neg[("VALIDACAO_VALOR", "valor_bonus")]["regras_aplicadas"] == ["VALOR_NEGATIVO"]
    assert neg[("VALIDACAO_VALOR", "valor_bonus")]["confidence_score"] == Decimal("0.70")
    big = by_key(divergences(conn, "NF_BIG"))
    assert big[("TRADE_MARKETING_BONUS", "bonus_dpto")]["status_processamento"] == "DETECTED"
    assert big[("VALIDACAO_VALOR", "valor_bonus")]["regras_aplicadas"] == ["VALOR_OUTLIER"]
    assert booked(conn, "NF_NEG")[0] == "500.00" and booked(conn, "NF_BIG")[0] == "25000.00"


@pytest.mark.parametrize(("valor_bonus", "bonus_dpto"), [("-0.004", "500.00"), ("100000.004", "90000.00")])
def test_a_reference_out_of_bounds_by_less_than_a_cent_is_never_applied(conn, valor_bonus, bonus_dpto):
    # stored in cents the suggestion reads 0.00 or 100000.00, both within bounds
    add_sale(conn, "NF1", valor_bonus=valor_bonus, bonus_dpto=bonus_dpto)
    run_session(conn, DAY, DAY)
    d = by_key(divergences(conn, "NF1"))[("TRADE_MARKETING_BONUS", "bonus_dpto")]
    assert d["status_processamento"] == "DETECTED"
    assert "inválido" in d["dados_contextuais"]["motivo_nao_aplicada"]
    assert booked(conn, "NF1")[0] == bonus_dpto


def test_pending_verification(conn):
    add_sale(conn, "NF1", bonus_utilizado="PENDENTE VERIFICACAO")
    run_session(conn, DAY, DAY)
    (d,) = divergences(conn, "NF1")
    assert (d["tipo_divergencia"], d["campo_afetado"], d["confidence_score"], d["valor_sugerido"]) == (
        "PENDENTE_VERIFICACAO",
        "bonus_utilizado",
        Decimal("0.50"),
        None,
    )


def test_a_persons_edit_between_detection_and_apply_is_never_overwritten(conn):
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="4000.00")
    params = open_session(conn, DAY, DAY)
    run_step(conn, "detect_divergences", params)
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '4500.00' WHERE idnfsexterno = 'NF1'")
    run_step(conn, "apply_corrections", params)
    (d,) = divergences(conn, "NF1")
    assert d["status_processamento"] == "DETECTED"
    assert "alterado" in d["dados_contextuais"]["motivo_nao_aplicada"]
    assert booked(conn, "NF1")[0] == "4500.00"
    assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'BULK_UPDATE'").fetchone()[0] == 0


def test_period_bounds_are_local_midnight_to_midnight(conn):
    add_sale(conn, "IN_START", bonus_dpto="1", dta_processamento=datetime(2026, 11, 10, 0, 0, 0))
    add_sale(conn, "IN_END", bonus_dpto="1", dta_processamento=datetime(2026, 11, 10, 23, 59, 59))
    add_sale(conn, "OUT_BEFORE", bonus_dpto="1", dta_processamento=datetime(2026, 11, 9, 23, 59, 59))
    add_sale(conn, "OUT_AFTER", bonus_dpto="1", dta_processamento=datetime(2026, 11, 11, 0, 0, 0))
    params = run_session(conn, DAY, DAY)
    assert {d["idnfsexterno"] for d in divergences(conn)} == {"IN_START", "IN_END"}
    analysed = conn.execute(
        "SELECT total_registros_analisados FROM audit.sessoes_processamento WHERE id = %s", (params["sessao_id"],)
    ).fetchone()[0]
    assert analysed == 2


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2026, 12, 31), date(2026, 12, 31)),  # the year ends inside the period's last day
        (date(2028, 2, 29), date(2028, 2, 29)),  # leap day
        # São Paulo had no 00:00 on 2018-11-04 (summer time began): the bounds are wall time
        (date(2018, 11, 4), date(2018, 11, 4)),
        # summer time ended at 2019-02-17 00:00: 23:00-23:59 of the 16th happened twice
        (date(2019, 2, 16), date(2019, 2, 16)),
    ],
)
def test_period_bounds_are_wall_time_to_the_microsecond(conn, first, last):
    """dta_processamento is timestamp without time zone: a sale is in the period from the
    first day's 00:00 to the last one's 23:59:59.999999, whatever the zone's history."""
    start = datetime.combine(first, datetime.min.time())
    end = datetime.combine(last + timedelta(days=1), datetime.min.time())
    tick = timedelta(microseconds=1)
    for name, moment in (
        ("IN_START", start),
        ("IN_END", end - tick),
        ("OUT_BEFORE", start - tick),
        ("OUT_AFTER", end),
        ("IN_HALF_PAST", start + timedelta(minutes=30)),
    ):
        add_sale(conn, name, bonus_dpto="1", dta_processamento=moment, data_final_venda=None)
    run_session(conn, first, last)
    recorded = {d["idnfsexterno"]: d["competencia"] for d in divergences(conn)}
    assert recorded == dict.fromkeys(("IN_START", "IN_END", "IN_HALF_PAST"), f"{first:%Y-%m}")


def test_competencia_is_year_month_and_the_source_month_name_is_kept(conn):
    add_sale(conn, "NF_FEV", bonus_dpto="1", data_final_venda=datetime(2026, 2, 27, 15, 0))
    add_sale(conn, "NF_SET", bonus_dpto="1", data_final_venda=datetime(2025, 9, 30, 9, 0))
    add_sale(conn, "NF_NOFINAL", bonus_dpto="1", data_final_venda=None)
    run_session(conn, DAY, DAY)
    rows = {d["idnfsexterno"]: d for d in divergences(conn)}
    assert rows["NF_FEV"]["competencia"] == "2026-02"
    assert rows["NF_FEV"]["dados_contextuais"]["competencia_origem"] == "Fevereiro"
    assert rows["NF_SET"]["competencia"] == "2025-09"
    assert rows["NF_SET"]["dados_contextuais"]["competencia_origem"] == "Setembro"
    assert rows["NF_NOFINAL"]["competencia"] == "2026-11"


def test_one_operation_per_batch_keeps_every_field_before_and_after(conn):
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="NaN", trade="300", trade_mkt_dpto=None)
    add_sale(conn, "NF2", valor_bonus="6000.00", bonus_dpto="60.00")
    params = run_session(conn, DAY, DAY)
    (op,) = conn.execute(
        """SELECT registros_afetados, dados_anteriores, dados_posteriores, status, sessao_id
             FROM audit.operacoes WHERE tipo_operacao = 'BULK_UPDATE'"""
    ).fetchall()
    assert op[0] == 3 and op[3] == "SUCCESS" and op[4] == params["sessao_id"]
    before = {(e["idnfsexterno"], e["campo"]): e["valor"] for e in op[1]}
    after = {(e["idnfsexterno"], e["campo"]): e["valor"] for e in op[2]}
    assert before == {("NF1", "bonus_dpto"): "NaN", ("NF1", "trade_mkt_dpto"): None, ("NF2", "bonus_dpto"): "60.00"}
    assert after == {
        ("NF1", "bonus_dpto"): "5000.00",
        ("NF1", "trade_mkt_dpto"): "300.00",
        ("NF2", "bonus_dpto"): "6000.00",
    }
    assert booked(conn, "NF1") == ("5000.00", "300.00")


def test_correcting_a_negative_booking_resolves_its_value_check_in_the_same_run(conn):
    add_sale(conn, "NF1", valor_bonus="5000.00", bonus_dpto="-5000.00")
    run_session(conn, DAY, DAY)
    found = by_key(divergences(conn, "NF1"))
    assert found[("TRADE_MARKETING_BONUS", "bonus_dpto")]["status_processamento"] == "AUTO_APPLIED"
    check = found[("VALIDACAO_VALOR", "bonus_dpto")]
    assert check["status_processamento"] == "RESOLVED"
    assert check["dados_contextuais"]["motivo_resolucao"] == "campo corrigido automaticamente"


def test_amounts_with_no_break_spaces_are_compared_not_called_unreadable(conn):
    """'R$ 5.000,00' as Excel or the summary email writes it has a no-break space (U+00A0)."""
    add_sale(conn, "NF_SAME", valor_bonus="R$\xa05.000,00", bonus_dpto="5000.00\xa0")
    add_sale(conn, "NF_DIFF", valor_bonus="\xa05.000,00", bonus_dpto="R$\xa04.000,00")
    run_session(conn, DAY, DAY)
    assert divergences(conn, "NF_SAME") == []
    (d,) = divergences(conn, "NF_DIFF")
    assert (d["tipo_divergencia"], d["valor_anterior"], d["valor_sugerido"]) == (
        "TRADE_MARKETING_BONUS",
        Decimal("4000.00"),
        Decimal("5000.00"),
    )
    assert d["valor_original"] == "R$\xa04.000,00" and d["status_processamento"] == "AUTO_APPLIED"
    assert booked(conn, "NF_DIFF")[0] == "5000.00"
