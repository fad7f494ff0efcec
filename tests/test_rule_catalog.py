"""The rule catalog (audit.regras_divergencia) is the one definition of the rules: a rule
added there is detected, summarised, exported and emailed with nothing else changed."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import psycopg
import pytest

from devtools.sql_steps import open_session, run_session, run_step
from divergencias.settings import PROJECT_ROOT
from tests.helpers import add_sale, add_throwaway_rule, booked, divergences

CODES = ("TRADE_MARKETING_BONUS", "TRADE_MARKETING_TRADE", "PENDENTE_VERIFICACAO", "VALIDACAO_VALOR", "VALOR_INVALIDO")
CATALOG_MIGRATION = PROJECT_ROOT / "include/sql/migrations/020_regras_divergencia.sql"


def _product_files() -> list:
    files = [*PROJECT_ROOT.glob("dags/*.py"), *PROJECT_ROOT.glob("plugins/**/*.py"), *PROJECT_ROOT.glob("bench/*.py")]
    files += [*PROJECT_ROOT.glob("devtools/*.py"), *PROJECT_ROOT.glob("include/**/*.sql")]
    files += [*PROJECT_ROOT.glob("include/templates/*")]
    return [path for path in files if path != CATALOG_MIGRATION and path.is_file()]


def test_no_file_but_the_catalog_names_a_rule():
    for path in _product_files():
        text = path.read_text(encoding="utf-8")
        named = [code for code in CODES if code in text]
        assert not named, f"{path.relative_to(PROJECT_ROOT)} names rules {named}: read audit.regras_divergencia"


def test_no_file_but_the_catalog_restates_the_rows_of_a_session():
    session_rows = re.compile(r"sessao_alteracao_id\s*=\s*%\(\w+\)s\s+OR\s+\w*\.?status_processamento\s*=\s*'DETECTED'")
    for path in _product_files():
        assert not session_rows.search(path.read_text(encoding="utf-8")), path


def test_a_rule_added_to_the_catalog_is_detected_summarised_exported_and_emailed(dag, conn, smtp, output_dir):
    add_throwaway_rule(conn)
    add_sale(conn, "NF_NOVA", valor_bonus="8000.00", bonus_dpto="8000.00", bonus_utilizado="NAO")
    add_sale(conn, "NF_OUTRA", valor_bonus="8000.00", bonus_dpto="8000.00")
    assert dag.test(run_conf={"data_inicio": "2026-11-10", "data_fim": "2026-11-10"}).state == "success"

    (found,) = divergences(conn, "NF_NOVA")
    assert (found["tipo_divergencia"], found["campo_afetado"], found["status_processamento"]) == (
        "BONUS_ALTO_NAO_UTILIZADO",
        "valor_bonus",
        "DETECTED",
    )
    assert found["regras_aplicadas"] == ["BONUS_ALTO"] and str(found["confidence_score"]) == "0.60"
    assert divergences(conn, "NF_OUTRA") == []

    (mail,) = smtp.mails
    text = mail.message.get_body(("plain",)).get_content()
    line = next(row for row in text.splitlines() if row.startswith("Bônus alto não utilizado"))
    assert line.split()[-5:] == ["1", "0", "1", "0", "BONUS_ALTO_NAO_UTILIZADO"]
    assert "Bônus alto não utilizado" in mail.message.get_body(("html",)).get_content()
    (report,) = output_dir.glob("*.csv")
    rows = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert [r["idnfsexterno"] for r in rows if r["tipo_divergencia"] == "BONUS_ALTO_NAO_UTILIZADO"] == ["NF_NOVA"]


def test_a_catalog_row_cannot_name_a_column_the_rules_do_not_read(conn):
    conn.execute(
        """INSERT INTO audit.regras_divergencia
               (codigo, rotulo, descricao, campos, confidence_score, corrigivel, condicao, regra, ordem)
           VALUES ('CAMPO_ESTRANHO', 'x', 'x', '{chassi}', 0.5, false, 'true', '''X''', 98)"""
    )
    params = open_session(conn, date(2026, 11, 10), date(2026, 11, 10))
    with pytest.raises(psycopg.errors.RaiseException, match="campo chassi não é lido pelas regras"):
        run_step(conn, "detect_divergences", params)


def test_a_catalog_row_cannot_use_a_threshold_the_detection_does_not_read(conn):
    # Read as NULL, the threshold would make the rule never fire, and nobody would notice.
    conn.execute(
        """INSERT INTO audit.regras_divergencia
               (codigo, rotulo, descricao, campos, confidence_score, corrigivel, condicao, regra, ordem)
           VALUES ('LIMITE_ESTRANHO', 'x', 'x', '{valor_bonus}', 0.5, false,
                   'f.valor > cfg.limite_inexistente', '''X''', 98)"""
    )
    add_sale(conn, "NF_QUALQUER", valor_bonus="8000.00")
    params = open_session(conn, date(2026, 11, 10), date(2026, 11, 10))
    with pytest.raises(
        psycopg.errors.RaiseException,
        match="regra LIMITE_ESTRANHO: limite limite_inexistente não está entre os parâmetros da detecção",
    ):
        run_step(conn, "detect_divergences", params)


def _switch(conn: psycopg.Connection, ativo: bool, *codigos: str) -> None:
    conn.execute("UPDATE audit.regras_divergencia SET ativo = %s WHERE codigo = ANY(%s)", (ativo, list(codigos)))


def _state(conn: psycopg.Connection) -> dict[tuple[str, str, str], tuple]:
    return {
        (d["idnfsexterno"], d["tipo_divergencia"], d["campo_afetado"]): (
            d["status_processamento"],
            d["dados_contextuais"].get("motivo_resolucao"),
            d["dados_contextuais"].get("motivo_nao_avaliada"),
        )
        for d in divergences(conn)
    }


def _the_email_says_which_rules_were_not_evaluated(conn: psycopg.Connection, sessao_id: int) -> None:
    """Zero new divergences of a rule no run evaluated is not "none found": the per-rule table
    says the rule is off, and a pending divergence of it says why it waits for a person."""
    from divergencias.notifications import summary_mail

    mail = summary_mail(conn, sessao_id, "http://airflow/run")
    for body in (mail.text, mail.html):
        for rotulo, ativa in (("Bônus contabilizado diferente do registrado", False), ("Valor ilegível", True)):
            line = next(row for row in body.splitlines() if rotulo in row)
            assert ("regra inativa: não avaliada" in line) is not ativa, line
        pending = next(row for row in body.splitlines() if "NF_BONUS" in row)
        if body is mail.html:
            pending = body[body.index("NF_BONUS") : body.index("</tr>", body.index("NF_BONUS"))]
        assert "regra TRADE_MARKETING_BONUS inativa" in pending, pending


def test_an_inactive_rule_leaves_its_open_divergences_open_unapplied_and_says_why(conn):
    """A rule switched off is evaluated by no run: its open divergences used to be resolved
    as "a condição não se verifica mais" while the source still broke the rule. They stay
    open, are never applied (nor closed by a correction of their field) and say why; once
    the rule is on again the next run judges them and the reason goes."""
    dia = date(2026, 11, 10)
    add_sale(conn, "NF_BONUS", valor_bonus="5000.00", bonus_dpto="4000.00")
    add_sale(conn, "NF_NEGATIVO", valor_bonus="-50.00", bonus_dpto="-50.00")
    add_sale(conn, "NF_TRADE", trade="1000.00", trade_mkt_dpto="-100.00")
    run_session(conn, dia, dia, modo="manual")
    bonus = ("NF_BONUS", "TRADE_MARKETING_BONUS", "bonus_dpto")
    negativo = ("NF_NEGATIVO", "VALIDACAO_VALOR", "valor_bonus")
    trade = ("NF_TRADE", "TRADE_MARKETING_TRADE", "trade_mkt_dpto")
    trade_negativo = ("NF_TRADE", "VALIDACAO_VALOR", "trade_mkt_dpto")
    assert {k: v[0] for k, v in _state(conn).items() if k in (bonus, negativo, trade, trade_negativo)} == dict.fromkeys(
        (bonus, negativo, trade, trade_negativo), "DETECTED"
    )

    _switch(conn, False, "TRADE_MARKETING_BONUS", "VALIDACAO_VALOR")
    for _ in range(2):
        sessao_id = run_session(conn, dia, dia, modo="auto")["sessao_id"]
    state = _state(conn)
    for key in (bonus, negativo, trade_negativo):
        status, resolucao, nao_avaliada = state[key]
        assert (status, resolucao) == ("DETECTED", None), key
        assert f"regra {key[1]} inativa" in nao_avaliada, nao_avaliada
    assert state[trade][0] == "AUTO_APPLIED"
    assert booked(conn, "NF_BONUS") == ("4000.00", "0")
    assert booked(conn, "NF_TRADE") == ("5000.00", "1000.00")
    _the_email_says_which_rules_were_not_evaluated(conn, sessao_id)

    _switch(conn, True, "TRADE_MARKETING_BONUS", "VALIDACAO_VALOR")
    run_session(conn, dia, dia, modo="manual")
    state = _state(conn)
    assert state[bonus] == ("DETECTED", None, None)
    assert state[negativo] == ("DETECTED", None, None)
    assert state[trade_negativo] == ("RESOLVED", "a condição não se verifica mais na origem", None)
    assert len(divergences(conn)) == len(state) == 5


def test_an_approval_leaves_open_the_value_check_of_a_rule_switched_off(conn):
    """A person's approval writes a valid amount and closes the value checks open on that
    field, but not those of a rule switched off: no run or decision judges that rule."""
    from divergencias.review import decisions

    dia = date(2026, 11, 10)
    add_sale(conn, "NF_TRADE", trade="1000.00", trade_mkt_dpto="-100.00")
    run_session(conn, dia, dia, modo="manual")
    _switch(conn, False, "VALIDACAO_VALOR")
    run_session(conn, dia, dia, modo="manual")
    (trade,) = [d for d in divergences(conn, "NF_TRADE") if d["tipo_divergencia"] == "TRADE_MARKETING_TRADE"]
    decisions.approve([trade["id"]], None, None, "controladora")
    state = _state(conn)
    assert state[("NF_TRADE", "TRADE_MARKETING_TRADE", "trade_mkt_dpto")][0] == "APPROVED"
    status, resolucao, nao_avaliada = state[("NF_TRADE", "VALIDACAO_VALOR", "trade_mkt_dpto")]
    assert (status, resolucao) == ("DETECTED", None) and "inativa" in nao_avaliada


def test_a_confidence_lowered_in_the_catalog_stops_the_open_divergences_being_applied(conn):
    """An admin lowers a rule's confidence below limite_auto_aplicacao to stop it applying:
    the divergences it already left open must follow the catalog, not the confidence they
    were recorded with, and say so; raised again, the rule applies them."""
    dia = date(2026, 11, 10)
    add_sale(conn, "NF_BONUS", valor_bonus="5000.00", bonus_dpto="4000.00")
    run_session(conn, dia, dia, modo="manual")
    conn.execute("UPDATE audit.regras_divergencia SET confidence_score = 0.50 WHERE codigo = 'TRADE_MARKETING_BONUS'")

    run_session(conn, dia, dia, modo="auto")
    (bonus,) = [d for d in divergences(conn, "NF_BONUS") if d["tipo_divergencia"] == "TRADE_MARKETING_BONUS"]
    assert bonus["status_processamento"] == "DETECTED"
    assert str(bonus["confidence_score"]) == "0.50"
    assert bonus["dados_contextuais"]["motivo_nao_aplicada"] == "confiança abaixo do limite de aplicação automática"
    assert booked(conn, "NF_BONUS")[0] == "4000.00"

    conn.execute("UPDATE audit.regras_divergencia SET confidence_score = 0.95 WHERE codigo = 'TRADE_MARKETING_BONUS'")
    run_session(conn, dia, dia, modo="auto")
    (bonus,) = [d for d in divergences(conn, "NF_BONUS") if d["tipo_divergencia"] == "TRADE_MARKETING_BONUS"]
    assert (bonus["status_processamento"], str(bonus["confidence_score"])) == ("AUTO_APPLIED", "0.95")
    assert booked(conn, "NF_BONUS")[0] == "5000.00"


def test_a_confidence_lowered_between_detection_and_apply_holds(conn):
    """The admin's change lands while a run is between its two data steps: apply reads the
    catalog, not the confidence detection just copied."""
    dia = date(2026, 11, 10)
    add_sale(conn, "NF_BONUS", valor_bonus="5000.00", bonus_dpto="4000.00")
    params = open_session(conn, dia, dia)
    run_step(conn, "detect_divergences", params)
    conn.execute("UPDATE audit.regras_divergencia SET confidence_score = 0.50 WHERE codigo = 'TRADE_MARKETING_BONUS'")
    run_step(conn, "apply_corrections", params)
    (bonus,) = [d for d in divergences(conn, "NF_BONUS") if d["tipo_divergencia"] == "TRADE_MARKETING_BONUS"]
    assert bonus["status_processamento"] == "DETECTED"
    assert booked(conn, "NF_BONUS")[0] == "4000.00"


# (rotulo, campos, campo_referencia, corrigivel, condicao, sugestao, regra, the message expected)
MALFORMED_ROWS = {
    "condicao que não compila": (
        "x", "{valor_bonus}", None, False, "f.valor >", None, "'X'",
        "regra ERRADA: condicao inválida para o campo valor_bonus: syntax error",
    ),
    "condicao que não é booleana": (
        "x", "{valor_bonus}", None, False, "f.valor", None, "'X'",
        "regra ERRADA: condicao inválida para o campo valor_bonus: argument of AND must be type boolean",
    ),
    "limite escrito em maiúsculas": (
        "x", "{valor_bonus}", None, False, "f.valor > cfg.Limite_outlier", None, "'X'",
        'regra ERRADA: condicao inválida para o campo valor_bonus: missing FROM-clause entry for table "cfg"',
    ),
    "coluna fora da lista": (
        "x", "{valor_bonus}", None, False, "v.chassi = 'X'", None, "'X'",
        "regra ERRADA: condicao inválida para o campo valor_bonus: column v.chassi does not exist",
    ),
    "NULL em campos": (
        "x", "{valor_bonus,NULL}", None, False, "f.valor > 1", None, "'X'",
        "regra ERRADA: campo <NULL> não é lido pelas regras",
    ),
    "sugestao que não é valor": (
        "x", "{bonus_dpto}", "valor_bonus", False, "f.valor > 1", "'abc'", "'X'",
        'regra ERRADA: sugestao inválida para o campo bonus_dpto: invalid input syntax for type numeric: "abc"',
    ),
    "regra que dá NULL": (
        "x", "{valor_bonus}", None, False, "f.valor >= 0", None, "CASE WHEN f.valor < 0 THEN 'X' END",
        "regra ERRADA: a expressão regra deu NULL para a venda NF_A, campo valor_bonus",
    ),
    # Applied, it was recorded AUTO_APPLIED with nothing written: a correction writes only
    # bonus_dpto and trade_mkt_dpto, and apply compared valor_bonus with trade_mkt_dpto's text.
    "corrigível num campo que a correção não grava": (
        "x", "{valor_bonus}", "bonus_dpto", True, "f.valor <> f.referencia", "f.referencia", "'X'",
        "regra ERRADA: corrigível, mas o campo valor_bonus não é gravado por uma correção",
    ),
    "rótulo em branco": (
        " ", "{valor_bonus}", None, False, "f.valor > 1", None, "'X'",
        "regra ERRADA: rotulo ou descricao em branco",
    ),
    "corrigível sem campo_referencia": (
        "x", "{bonus_dpto}", None, True, "f.valor > 1", "f.valor + 1", "'X'",
        "regra ERRADA: corrigível sem campo_referencia",
    ),
}  # fmt: skip


@pytest.mark.parametrize("problem", MALFORMED_ROWS)
def test_a_malformed_catalog_row_stops_the_run_naming_the_rule(conn, problem):
    """An admin's mistake in a catalog row stops detection, before anything is recorded, with
    a message that names the rule and what is wrong: never PostgreSQL's error about the scan of
    all rules, a rule silently skipped, or a finding recorded on a NULL."""
    rotulo, campos, referencia, corrigivel, condicao, sugestao, regra, message = MALFORMED_ROWS[problem]
    add_sale(conn, "NF_A", valor_bonus="0", bonus_dpto="4000.00")
    conn.execute(
        """INSERT INTO audit.regras_divergencia (codigo, rotulo, descricao, campos, campo_referencia,
                                                 confidence_score, corrigivel, condicao, sugestao, regra, ordem)
           VALUES ('ERRADA', %s, 'x', %s, %s, 0.99, %s, %s, %s, %s, 98)""",
        (rotulo, campos, referencia, corrigivel, condicao, sugestao, regra),
    )
    dia = date(2026, 11, 10)
    with pytest.raises(psycopg.errors.RaiseException, match=re.escape(message)):
        run_session(conn, dia, dia, modo="auto")
    assert divergences(conn) == []
    assert booked(conn, "NF_A") == ("4000.00", "0")


def test_a_field_taken_out_of_a_rule_leaves_its_open_divergences_open_and_says_why(conn):
    """An admin narrows a rule's campos: no run judges that field any more, so its open
    divergences were resolved as "a condição não se verifica mais na origem" (or "substituída")
    while the source still broke the rule. They stay open and say why; once the field is back
    the next run judges them and the reason goes."""
    dia = date(2026, 11, 10)
    add_sale(conn, "NF_TRADE", trade="-100.00", trade_mkt_dpto="-100.00")
    add_sale(conn, "NF_SO_TRADE", trade="-100.00", trade_mkt_dpto="0")
    run_session(conn, dia, dia, modo="manual")
    conn.execute(
        "UPDATE audit.regras_divergencia SET campos = '{valor_bonus,bonus_dpto,trade_mkt_dpto}'"
        " WHERE codigo = 'VALIDACAO_VALOR'"
    )
    for _ in range(2):
        run_session(conn, dia, dia, modo="auto")
    state = _state(conn)
    for venda in ("NF_TRADE", "NF_SO_TRADE"):
        status, resolucao, nao_avaliada = state[(venda, "VALIDACAO_VALOR", "trade")]
        assert (status, resolucao) == ("DETECTED", None), venda
        assert nao_avaliada.startswith("campo trade fora dos campos da regra VALIDACAO_VALOR"), nao_avaliada
    assert state[("NF_TRADE", "VALIDACAO_VALOR", "trade_mkt_dpto")] == ("DETECTED", None, None)

    conn.execute("UPDATE audit.regras_divergencia SET campos = campos || '{trade}' WHERE codigo = 'VALIDACAO_VALOR'")
    run_session(conn, dia, dia, modo="manual")
    state = _state(conn)
    for venda in ("NF_TRADE", "NF_SO_TRADE"):
        assert state[(venda, "VALIDACAO_VALOR", "trade")] == ("DETECTED", None, None), venda
