"""Reruns, the re-check of open divergences, manual mode, and decisions that stick."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from devtools.sql_steps import run_session, run_sql
from divergencias.database import sql_file
from tests.helpers import add_sale, booked, divergences

DAY = date(2026, 11, 10)


def _snapshot(conn) -> str:
    return conn.execute(
        "SELECT md5(string_agg(c::text, '|' ORDER BY c.idnfsexterno)) FROM byd.controladoria c"
    ).fetchone()[0]


def _seed(conn) -> None:
    add_sale(conn, "NF_TM", valor_bonus="5000.00", bonus_dpto="4000.00")
    add_sale(conn, "NF_PEND", bonus_utilizado="PENDENTE VERIFICACAO")
    add_sale(conn, "NF_BAD", trade="xyz")


def test_rerun_records_nothing_twice_and_applies_nothing_twice(conn):
    _seed(conn)
    first = run_session(conn, DAY, DAY)
    rows_after_first = divergences(conn)
    second = run_session(conn, DAY, DAY)
    assert divergences(conn) == rows_after_first
    counts = conn.execute(
        "SELECT id, divergencias_detectadas, correcoes_aplicadas FROM audit.sessoes_processamento ORDER BY id"
    ).fetchall()
    assert counts == [(first["sessao_id"], 3, 1), (second["sessao_id"], 0, 0)]
    assert conn.execute("SELECT count(*) FROM audit.operacoes WHERE tipo_operacao = 'BULK_UPDATE'").fetchone()[0] == 1


def test_manual_mode_changes_nothing_in_byd(conn):
    _seed(conn)
    before = _snapshot(conn)
    params = run_session(conn, DAY, DAY, modo="manual")
    assert _snapshot(conn) == before
    assert {d["status_processamento"] for d in divergences(conn)} == {"DETECTED"}
    assert len(divergences(conn)) == 3
    status = conn.execute(
        "SELECT status, correcoes_aplicadas FROM audit.sessoes_processamento WHERE id = %s", (params["sessao_id"],)
    ).fetchone()
    # data work only (no report, no email): PARTIAL, and nothing applied
    assert status == ("PARTIAL", 0)
    # the next auto run applies what manual mode left open
    run_session(conn, DAY, DAY)
    assert booked(conn, "NF_TM")[0] == "5000.00"


def test_open_divergences_are_rechecked_and_resolved_even_outside_the_period(conn):
    _seed(conn)
    run_session(conn, DAY, DAY, modo="manual")
    conn.execute("UPDATE byd.incentivos SET bonus_utilizado = 'SIM' WHERE idnfsexterno = 'NF_PEND'")
    conn.execute("DELETE FROM byd.controladoria WHERE idnfsexterno = 'NF_BAD'")
    conn.execute("DELETE FROM byd.incentivos WHERE idnfsexterno = 'NF_BAD'")
    conn.execute("DELETE FROM byd.vendas WHERE idnfsexterno = 'NF_BAD'")
    later = DAY + timedelta(days=5)
    params = run_session(conn, later, later, modo="manual")
    rows = {d["idnfsexterno"]: d for d in divergences(conn)}
    assert rows["NF_PEND"]["status_processamento"] == "RESOLVED"
    assert rows["NF_PEND"]["sessao_alteracao_id"] == params["sessao_id"]
    assert rows["NF_BAD"]["status_processamento"] == "RESOLVED"
    assert "não encontrada" in rows["NF_BAD"]["dados_contextuais"]["motivo_resolucao"]
    assert rows["NF_TM"]["status_processamento"] == "DETECTED"


def test_a_sale_outside_the_period_is_re_checked_but_nothing_new_is_recorded_for_it(conn):
    old_day = date(2026, 10, 5)
    moment = datetime(2026, 10, 5, 9, 0)
    add_sale(conn, "NF_OLD", bonus_utilizado="PENDENTE VERIFICACAO", dta_processamento=moment, data_final_venda=moment)
    add_sale(conn, "NF_NOW")
    run_session(conn, old_day, old_day, modo="manual")
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '-10.00' WHERE idnfsexterno = 'NF_OLD'")

    run_session(conn, DAY, DAY, modo="manual")
    rows = [(d["tipo_divergencia"], d["status_processamento"]) for d in divergences(conn, "NF_OLD")]
    assert rows == [("PENDENTE_VERIFICACAO", "DETECTED")]

    run_session(conn, old_day, old_day, modo="manual")
    assert {d["tipo_divergencia"] for d in divergences(conn, "NF_OLD")} == {
        "PENDENTE_VERIFICACAO",
        "TRADE_MARKETING_BONUS",
        "VALIDACAO_VALOR",
    }


def test_a_sale_repeated_in_and_before_the_period_is_recorded_for_the_period(conn):
    """The view repeats the sale with one row before the period (read to re-check what is
    open) and one inside: what fires is recorded, whichever row detection keeps."""
    first = date(2026, 11, 1)
    moment = datetime(2026, 11, 1, 9, 0)
    add_sale(conn, "NF_R", bonus_utilizado="PENDENTE VERIFICACAO", dta_processamento=moment, data_final_venda=moment)
    run_session(conn, first, first, modo="manual")
    conn.execute("ALTER TABLE byd.vendas DROP CONSTRAINT vendas_pkey")
    conn.execute(
        """INSERT INTO byd.vendas (idnfsexterno, dta_processamento, data_final_venda, des_modelo, chassi, revenda)
           SELECT idnfsexterno, %s, data_final_venda, des_modelo, chassi, revenda FROM byd.vendas
            WHERE idnfsexterno = 'NF_R'""",
        (datetime(2026, 11, 10, 9, 0),),
    )
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '6000.00' WHERE idnfsexterno = 'NF_R'")

    run_session(conn, DAY, DAY, modo="manual")
    assert {d["tipo_divergencia"]: d["status_processamento"] for d in divergences(conn, "NF_R")} == {
        "PENDENTE_VERIFICACAO": "DETECTED",
        "TRADE_MARKETING_BONUS": "DETECTED",
    }


def test_rejected_and_rolled_back_are_not_reopened_while_values_stay_the_same(conn):
    _seed(conn)
    run_session(conn, DAY, DAY, modo="manual")
    conn.execute(
        """UPDATE audit.divergencias_processadas SET status_processamento = 'REJECTED', motivo_rejeicao = 'ok'
            WHERE idnfsexterno = 'NF_TM'"""
    )
    conn.execute(
        "UPDATE audit.divergencias_processadas SET status_processamento = 'ROLLED_BACK' WHERE idnfsexterno = 'NF_PEND'"
    )
    run_session(conn, DAY, DAY)
    assert booked(conn, "NF_TM")[0] == "4000.00"
    assert [d["status_processamento"] for d in divergences(conn, "NF_TM")] == ["REJECTED"]
    assert [d["status_processamento"] for d in divergences(conn, "NF_PEND")] == ["ROLLED_BACK"]
    # a new value is a new divergence
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '3000.00' WHERE idnfsexterno = 'NF_TM'")
    run_session(conn, DAY, DAY)
    assert [d["status_processamento"] for d in divergences(conn, "NF_TM")] == ["REJECTED", "AUTO_APPLIED"]
    assert booked(conn, "NF_TM")[0] == "5000.00"


def test_sale_without_controladoria_row_is_not_corrected_and_says_why(conn):
    add_sale(conn, "NF1", valor_bonus="5000.00", booked=False)
    run_session(conn, DAY, DAY)
    (d,) = divergences(conn, "NF1")
    assert d["status_processamento"] == "DETECTED"
    assert "controladoria" in d["dados_contextuais"]["motivo_nao_aplicada"]


def test_a_reference_with_more_than_two_decimals_is_left_for_review_and_not_reapplied(conn):
    # below half a cent, the two-decimal text the system writes never matches the reference
    conn.execute("UPDATE audit.configuracoes_sistema SET valor = '0.001' WHERE chave = 'tolerancia_valor'")
    add_sale(conn, "NF1", valor_bonus="1234.567", bonus_dpto="1000.00")
    add_sale(conn, "NF_CENTS", valor_bonus="1234.560", bonus_dpto="1000.00")
    for _ in range(3):
        run_session(conn, DAY, DAY)
    applied = conn.execute(
        "SELECT idnfsexterno, count(*) FROM audit.divergencias_processadas"
        " WHERE status_processamento = 'AUTO_APPLIED' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert applied == [("NF_CENTS", 1)]
    assert booked(conn, "NF1")[0] == "1000.00"
    (d,) = divergences(conn, "NF1")
    assert d["status_processamento"] == "DETECTED"
    assert "mais de duas casas decimais" in d["dados_contextuais"]["motivo_nao_aplicada"]
    # a reference that is a whole number of cents is applied, once
    assert booked(conn, "NF_CENTS")[0] == "1234.56"


def test_an_open_divergence_whose_reference_became_empty_suggests_and_applies_zero(conn):
    add_sale(conn, "NF1", valor_bonus="800.00", bonus_dpto="500.00")
    run_session(conn, DAY, DAY, modo="manual")
    conn.execute("UPDATE byd.incentivos SET valor_bonus = NULL WHERE idnfsexterno = 'NF1'")
    run_session(conn, DAY, DAY)
    (d,) = divergences(conn, "NF1")
    assert (d["status_processamento"], d["valor_aplicado"]) == ("AUTO_APPLIED", Decimal("0.00"))
    assert booked(conn, "NF1")[0] == "0.00"
    assert "valor_referencia" not in d["dados_contextuais"]


def test_a_value_a_person_approved_is_not_overwritten_by_the_next_runs(conn):
    """A controller approves 4.500,00 where the rule suggests 5.000,00 (what the source holds):
    the next run used to find the same sale divergent again and auto-apply 5.000,00 over it."""
    from divergencias.review import decisions

    add_sale(conn, "NF_TM", valor_bonus="5000.00", bonus_dpto="4000.00")
    run_session(conn, DAY, DAY, modo="manual")
    (detected,) = divergences(conn, "NF_TM")
    decisions.approve([detected["id"]], Decimal("4500.00"), "acordo com a montadora", "controladora")
    assert booked(conn, "NF_TM")[0] == "4500.00"

    run_session(conn, DAY, DAY)
    run_session(conn, DAY, DAY)
    assert booked(conn, "NF_TM")[0] == "4500.00"
    assert [d["status_processamento"] for d in divergences(conn, "NF_TM")] == ["APPROVED"]

    # the decision holds for the values it was given for: a new reference is a new divergence
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '6000.00' WHERE idnfsexterno = 'NF_TM'")
    run_session(conn, DAY, DAY)
    assert [d["status_processamento"] for d in divergences(conn, "NF_TM")] == ["APPROVED", "AUTO_APPLIED"]
    assert booked(conn, "NF_TM")[0] == "6000.00"


def test_a_value_a_person_approved_stands_on_a_numeric_column_and_when_typed_again(conn):
    """The approval wrote '4500.00'; a numeric(15,3) column shows it as '4500.000', and a
    person typing the same amount again writes '4.500,00': the decision compared texts, so the
    next run recorded the sale again and auto-applied 5.000,00 over the approved amount."""
    from devtools import demo_source
    from divergencias.review import decisions

    add_sale(conn, "NF_NUM", valor_bonus="5000.00", bonus_dpto="4000.00")
    add_sale(conn, "NF_TXT", valor_bonus="0", trade="5000.00", bonus_dpto="0", trade_mkt_dpto="4000.00")
    conn.execute("DROP VIEW byd.bonus_view")
    conn.execute("ALTER TABLE byd.controladoria ALTER bonus_dpto TYPE numeric(15,3) USING bonus_dpto::numeric")
    conn.execute("CREATE VIEW" + demo_source.FIXTURE_SQL.read_text().split("CREATE OR REPLACE VIEW")[1])
    run_session(conn, DAY, DAY, modo="manual")
    ids = [d["id"] for d in divergences(conn)]
    for ident in ids:
        decisions.approve([ident], Decimal("4500.00"), "acordo com a montadora", "controladora")
    conn.execute("UPDATE byd.controladoria SET trade_mkt_dpto = '4.500,00' WHERE idnfsexterno = 'NF_TXT'")

    run_session(conn, DAY, DAY)
    assert booked(conn, "NF_NUM")[0] == Decimal("4500.000")
    assert booked(conn, "NF_TXT")[1] == "4.500,00"
    assert [d["status_processamento"] for d in divergences(conn)] == ["APPROVED", "APPROVED"]


def test_a_decision_holds_while_the_amounts_stay_the_same_however_the_source_writes_them(conn):
    """A rejection, a rollback and an approval each hold for amounts, not for how the source
    spells them: the commercial side re-exporting '5000.00' as '5000' or a person re-typing
    '4000.00' as '4.000,00' used to reopen the decision and auto-apply the rule's suggestion
    over it the next morning."""
    from divergencias.review import decisions

    add_sale(conn, "NF_REJ", valor_bonus="5000.00", bonus_dpto="4000.00")
    add_sale(conn, "NF_APR", valor_bonus="5000.00", bonus_dpto="4000.00")
    add_sale(conn, "NF_NEG", valor_bonus="-100.00", bonus_dpto="-100.00")
    run_session(conn, DAY, DAY, modo="manual")
    rejected = [d["id"] for d in divergences(conn) if d["idnfsexterno"] in ("NF_REJ", "NF_NEG")]
    decisions.reject(rejected, "acordo com a montadora", "controladora")
    (approved,) = divergences(conn, "NF_APR")
    decisions.approve([approved["id"]], Decimal("4500.00"), "acordo com a montadora", "controladora")
    add_sale(conn, "NF_RB", valor_bonus="5000.00", bonus_dpto="4000.00", trade="R$ 100,00")
    undone = run_session(conn, DAY, DAY)["sessao_id"]
    run_sql(conn, sql_file("rollback/rollback_session.sql"), {"sessao_id": undone, "motivo": "errada", "usuario": "u"})
    assert booked(conn, "NF_RB") == ("4000.00", "0")

    conn.execute("UPDATE byd.incentivos SET valor_bonus = '5000' WHERE idnfsexterno IN ('NF_REJ', 'NF_APR')")
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '-100.0' WHERE idnfsexterno = 'NF_NEG'")
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '5.000,00', trade = '100' WHERE idnfsexterno = 'NF_RB'")
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = '4.000,00' WHERE idnfsexterno = 'NF_REJ'")
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = ' -100 ' WHERE idnfsexterno = 'NF_NEG'")
    run_session(conn, DAY, DAY)

    assert [booked(conn, nf)[0] for nf in ("NF_REJ", "NF_APR", "NF_NEG", "NF_RB")] == [
        "4.000,00",
        "4500.00",
        " -100 ",
        "4000.00",
    ]
    assert {d["status_processamento"] for d in divergences(conn)} == {"REJECTED", "APPROVED", "ROLLED_BACK"}

    # a different amount is a new divergence, applied as any other
    conn.execute("UPDATE byd.incentivos SET valor_bonus = '5000.01' WHERE idnfsexterno = 'NF_REJ'")
    run_session(conn, DAY, DAY)
    assert booked(conn, "NF_REJ")[0] == "5000.01"


def test_two_texts_are_the_same_amount_only_when_they_read_exactly_alike(conn):
    pairs = [
        ("5000.00", "5000", True),
        ("4000.00", "R$ 4.000,00", True),
        ("", None, True),
        ("NaN", " null ", True),
        ("abc", "abc", True),
        ("5000.005", "5000.00", False),
        ("1.234", "1.234,00", False),
        ("0", None, False),
        ("abc", "ABC", False),
        ("abc", None, False),
    ]
    found = [
        (a, b, conn.execute("SELECT audit.mesmo_valor_monetario(%s, %s)", (a, b)).fetchone()[0]) for a, b, _ in pairs
    ]
    assert found == pairs


def test_settings_changed_between_runs_judge_the_open_queue_again(conn):
    """An operator adds a new version of a setting between two mornings: the next run judges
    what is open with it, both ways."""

    def setting(key: str, value: str) -> None:
        conn.execute(
            """INSERT INTO audit.configuracoes_sistema (chave, valor, tipo_valor, versao, ativo, criado_por)
               SELECT chave, %(valor)s, tipo_valor, max(versao) + 1, true, 'operador'
                 FROM audit.configuracoes_sistema WHERE chave = %(chave)s GROUP BY chave, tipo_valor""",
            {"chave": key, "valor": value},
        )

    add_sale(conn, "NF_CENTS", valor_bonus="5000.00", bonus_dpto="4999.50")
    add_sale(conn, "NF_BIG", valor_bonus="150000.00", bonus_dpto="150000.00")
    add_sale(conn, "NF_TM", valor_bonus="5000.00", bonus_dpto="4000.00")
    run_session(conn, DAY, DAY, modo="manual")

    setting("tolerancia_valor", "1.00")
    setting("limite_outlier", "200000")
    setting("limite_auto_aplicacao", "0.96")
    run_session(conn, DAY, DAY)
    assert {d["status_processamento"] for d in divergences(conn, "NF_CENTS") + divergences(conn, "NF_BIG")} == {
        "RESOLVED"
    }
    (held,) = divergences(conn, "NF_TM")
    assert held["status_processamento"] == "DETECTED"
    assert "confiança abaixo" in held["dados_contextuais"]["motivo_nao_aplicada"]

    setting("limite_auto_aplicacao", "0.95")
    run_session(conn, DAY, DAY)
    (applied,) = divergences(conn, "NF_TM")
    assert applied["status_processamento"] == "AUTO_APPLIED"
    assert "motivo_nao_aplicada" not in applied["dados_contextuais"]
    assert booked(conn, "NF_TM")[0] == "5000.00"
