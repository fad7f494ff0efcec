"""The rule catalog (audit.regras_divergencia) is the one definition of the rules: a rule
added there is detected, summarised, exported and emailed with nothing else changed."""

from __future__ import annotations

import csv
import io
import re
from datetime import date

import psycopg
import pytest

from devtools.sql_steps import open_session, run_step
from divergencias.settings import PROJECT_ROOT
from tests.helpers import add_sale, add_throwaway_rule, divergences

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
