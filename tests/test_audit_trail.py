"""The auditor's path: one sale's field through every kind of change (an automatic
correction, approvals single and four-eyes with a chosen value, a rejection, a resolution by
detection, rollbacks and a conflict a rollback left alone), reconstructed from schema audit
alone with the README's own queries: who, when (São Paulo wall time), why, the text before
and after, and which operation and session."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

from devtools.sql_steps import run_session, run_sql
from divergencias.database import sql_file
from divergencias.review import decisions
from divergencias.settings import PROJECT_ROOT
from tests.helpers import add_sale

DAY = date(2026, 11, 10)
NF = "NF_AUDIT"
README_NF = "'NF0000001234'"


def _readme_queries(section: str) -> list[str]:
    """The SQL statements of the README's ``section`` (up to the next heading)."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    body = readme.split(f"### {section}\n", 1)[1].split("\n#", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", body, flags=re.DOTALL)
    return [statement.strip() for block in blocks for statement in block.split(";") if statement.strip()]


def _rollback(conn, sessao_id: int, motivo: str, usuario: str) -> None:
    """rollback_session.sql as the rollback DAG runs it for ``usuario``."""
    run_sql(
        conn,
        sql_file("rollback/rollback_session.sql"),
        {"sessao_id": sessao_id, "motivo": motivo, "usuario": usuario},
    )


def _reference(conn, valor_bonus: str) -> None:
    conn.execute("UPDATE byd.incentivos SET valor_bonus = %s WHERE idnfsexterno = %s", (valor_bonus, NF))


def _open_divergence(conn) -> int:
    (ident,) = conn.execute(
        """SELECT id FROM audit.divergencias_processadas
            WHERE idnfsexterno = %s AND campo_afetado = 'bonus_dpto' AND status_processamento = 'DETECTED'""",
        (NF,),
    ).fetchone()
    return ident


def _every_kind_of_change(conn) -> dict[str, int]:
    add_sale(conn, NF, valor_bonus="5000.00", bonus_dpto="NaN")
    corrected = run_session(conn, DAY, DAY)["sessao_id"]
    _rollback(conn, corrected, "bônus lançado em duplicidade", "airflow:controladora")
    _reference(conn, "6000.00")
    run_session(conn, DAY, DAY, modo="manual")
    single = decisions.approve([_open_divergence(conn)], Decimal("5500.00"), "conferido com a nota", "controladora")
    _rollback(conn, single["sessao_id"], "valor errado", "airflow:aprovador")
    _reference(conn, "90000.00")
    run_session(conn, DAY, DAY)
    large = _open_divergence(conn)
    decisions.approve([large], Decimal("60000.00"), "primeira conferência", "controladora")
    four_eyes = decisions.approve([large], Decimal("60000.00"), "segunda conferência", "aprovador")
    conn.execute("UPDATE byd.controladoria SET bonus_dpto = ' 61.000,00 ' WHERE idnfsexterno = %s", (NF,))
    _rollback(conn, four_eyes["sessao_id"], "aprovado por engano", "airflow:controladora")
    _reference(conn, "70000.00")
    run_session(conn, DAY, DAY, modo="manual")
    decisions.reject([_open_divergence(conn)], "a controladoria está certa", "controladora")
    _reference(conn, "50")
    run_session(conn, DAY, DAY, modo="manual")
    _reference(conn, "61000")
    resolving = run_session(conn, DAY, DAY, modo="manual")["sessao_id"]
    return {
        "corrected": corrected,
        "single": single["sessao_id"],
        "four_eyes": four_eyes["sessao_id"],
        "resolving": resolving,
    }


def test_every_change_of_one_field_is_reconstructed_from_schema_audit(conn):
    # Neither the database nor the auditor's connection is in São Paulo: every writer pins it.
    conn.execute("SELECT set_config('timezone', 'Asia/Tokyo', false)")
    conn.execute(f"ALTER DATABASE {conn.info.dbname} SET timezone = 'Asia/Tokyo'")
    sessions = _every_kind_of_change(conn)

    story_sql, *_ = _readme_queries("The audit trail")
    story = conn.execute(story_sql.replace(README_NF, "%(nf)s"), {"nf": NF}).fetchall()
    # registrado_em, tipo_divergencia, campo_afetado, status_anterior, status_novo, usuario, sessao_id,
    # tipo_operacao, detalhes
    assert [(row[3], row[4], row[5], row[7]) for row in story] == [
        (None, "DETECTED", "airflow:divergencias_diarias", "DETECT"),
        ("DETECTED", "AUTO_APPLIED", "airflow:divergencias_diarias", "BULK_UPDATE"),
        ("AUTO_APPLIED", "ROLLED_BACK", "airflow:controladora", "ROLLBACK"),
        (None, "DETECTED", "airflow:divergencias_diarias", "DETECT"),
        ("DETECTED", "APPROVED", "controladora", "APPROVE"),
        ("APPROVED", "ROLLED_BACK", "airflow:aprovador", "ROLLBACK"),
        (None, "DETECTED", "airflow:divergencias_diarias", "DETECT"),
        ("DETECTED", "APPROVED", "aprovador", "APPROVE"),
        (None, "DETECTED", "airflow:divergencias_diarias", "DETECT"),
        ("DETECTED", "REJECTED", "controladora", "REJECT"),
        (None, "DETECTED", "airflow:divergencias_diarias", "DETECT"),
        ("DETECTED", "RESOLVED", "airflow:divergencias_diarias", "DETECT"),
    ]
    assert [row[8].get("valor_original") for row in story if row[3] is None] == ["NaN", "NaN", "NaN"] + [
        " 61.000,00 "
    ] * 2
    assert story[2][8]["motivo"] == "bônus lançado em duplicidade"
    assert story[9][8]["motivo_rejeicao"] == "a controladoria está certa"
    assert story[11][8]["motivo"] == "a condição não se verifica mais na origem"
    assert story[11][6] == sessions["resolving"]

    # Every write of byd.controladoria: who, why, the field's text before and after, byte for byte.
    writes = conn.execute(
        """SELECT tipo_operacao, usuario, sessao_id, filtros_aplicados ->> 'sessao_id',
                  coalesce(metadata ->> 'motivo', metadata ->> 'comentario'),
                  dados_anteriores -> 0 ->> 'valor', dados_posteriores -> 0 ->> 'valor', registros_afetados
             FROM audit.operacoes
            WHERE tabela_afetada = 'byd.controladoria' AND tipo_operacao <> 'DETECT'
            ORDER BY id"""
    ).fetchall()
    corrected, single, four_eyes = sessions["corrected"], sessions["single"], sessions["four_eyes"]
    assert writes == [
        ("BULK_UPDATE", "airflow:divergencias_diarias", corrected, None, None, "NaN", "5000.00", 1),
        ("ROLLBACK", "airflow:controladora", None, str(corrected), "bônus lançado em duplicidade", "5000.00", "NaN", 1),
        ("APPROVE", "controladora", single, None, "conferido com a nota", "NaN", "5500.00", 1),
        ("ROLLBACK", "airflow:aprovador", None, str(single), "valor errado", "5500.00", "NaN", 1),
        ("APPROVE", "aprovador", four_eyes, None, "segunda conferência", "NaN", "60000.00", 1),
        ("ROLLBACK", "airflow:controladora", None, str(four_eyes), "aprovado por engano", None, None, 0),
    ]
    # The four-eyes pair and the field the last rollback left alone, with why.
    assert conn.execute(
        "SELECT usuario, valor, comentario, sessao_id FROM audit.aprovacoes ORDER BY id"
    ).fetchall() == [
        ("controladora", Decimal("5500.00"), "conferido com a nota", single),
        ("controladora", Decimal("60000.00"), "primeira conferência", None),
        ("aprovador", Decimal("60000.00"), "segunda conferência", four_eyes),
    ]
    ((conflict,),) = conn.execute(
        "SELECT metadata -> 'campos_em_conflito' FROM audit.operacoes WHERE registros_afetados = 0"
    ).fetchall()
    assert [(c["idnfsexterno"], c["campo"], c["valor_escrito"], c["motivo"]) for c in conflict] == [
        (NF, "bonus_dpto", "60000.00", "campo alterado depois da correção: valor atual preservado")
    ]

    # When: São Paulo wall time, each history row inside its operation's span.
    outside = conn.execute(
        """SELECT h.id FROM audit.historico_divergencias h JOIN audit.operacoes o ON o.id = h.operacao_id
            WHERE h.registrado_em NOT BETWEEN o.timestamp_inicio AND o.timestamp_fim"""
    ).fetchall()
    assert outside == []
    (sao_paulo_now,) = conn.execute("SELECT (now() AT TIME ZONE 'America/Sao_Paulo')").fetchone()
    assert all(abs(row[0] - sao_paulo_now) < timedelta(minutes=5) for row in story)

    monitoring = _readme_queries("Monitoring queries")
    for query in monitoring:
        conn.execute(query.replace(README_NF, "%(nf)s"), {"nf": NF}).fetchall()
    changed = conn.execute(monitoring[-1].replace(README_NF, "%(nf)s"), {"nf": NF}).fetchall()
    # tipo_divergencia, campo_afetado, status_processamento, valor_original, valor_aplicado, processado_por,
    # processado_em, operacao, tipo_operacao, sessao_id
    assert [(row[2], row[3], row[4], row[5], row[8]) for row in changed] == [
        ("ROLLED_BACK", "NaN", Decimal("5000.00"), "airflow:controladora", "ROLLBACK"),
        ("ROLLED_BACK", "NaN", Decimal("5500.00"), "airflow:aprovador", "ROLLBACK"),
        ("APPROVED", "NaN", Decimal("60000.00"), "aprovador", "APPROVE"),
        ("REJECTED", " 61.000,00 ", None, "controladora", "REJECT"),
        ("RESOLVED", " 61.000,00 ", None, "airflow:divergencias_diarias", "DETECT"),
    ]
