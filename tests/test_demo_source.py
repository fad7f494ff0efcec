"""The demo source: schema ``byd`` look-alike and its deterministic sales generator.

Other tests and ``make run`` rely on a 3000-sale demo containing every messy form of the
contract, and on the data being exactly reproducible; these tests pin both.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from devtools.databases import NotASystemDatabase, dsn_for
from devtools.demo_source import DemoRates, create_fixture, generate_sales, is_empty

END = date(2025, 12, 31)
# A whole year, so that every month name (the long ones too) appears at 3000 sales.
DAYS = 365
MONEY = ("valor_bonus", "trade", "bonus_dpto", "trade_mkt_dpto")
UNREADABLE = object()

_EMPTY_FORMS = {"", "NaN", "nan", "None", "null"}
_COMMA_FORM = re.compile(r"-?\d+(\.\d{3})*,\d+")
_DOT_FORM = re.compile(r"-?\d+(\.\d+)?")


def read_money(text: str | None) -> Decimal | None | object:
    """The contract's reading of money text, written independently of the SQL under test."""
    if text is None:
        return None
    value = text.strip()
    if value in _EMPTY_FORMS:
        return None
    value = value.removeprefix("R$ ")
    if _COMMA_FORM.fullmatch(value):
        return Decimal(value.replace(".", "").replace(",", "."))
    if _DOT_FORM.fullmatch(value):
        return Decimal(value)
    return UNREADABLE


def _digest(conn: psycopg.Connection) -> str:
    return conn.execute(
        "SELECT md5(string_agg(b::text, E'\\n' ORDER BY b.idnfsexterno)) FROM byd.bonus_view b"
    ).fetchone()[0]


def _clear(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE byd.vendas, byd.incentivos, byd.controladoria")


def _generate(conn: psycopg.Connection, n: int = 3000, **kwargs: object) -> None:
    generate_sales(conn, n, end_date=END, days=DAYS, progress=None, **kwargs)


@pytest.fixture
def demo(system_db):
    with psycopg.connect(system_db, autocommit=True) as conn:
        _generate(conn)
        rows = conn.execute("SELECT * FROM byd.bonus_view ORDER BY idnfsexterno").fetchall()
        columns = [c.name for c in conn.execute("SELECT * FROM byd.bonus_view LIMIT 0").description]
        yield conn, [dict(zip(columns, row, strict=True)) for row in rows]


def test_view_columns_and_counts(demo):
    conn, rows = demo
    assert list(rows[0]) == [
        "idnfsexterno",
        "dta_processamento",
        "data_final_venda",
        "competencia",
        "des_modelo",
        "chassi",
        "revenda",
        "bonus_utilizado",
        "apontamento",
        "valor_bonus",
        "trade",
        "bonus_dpto",
        "trade_mkt_dpto",
    ]
    for table in ("vendas", "incentivos", "controladoria"):
        query = sql.SQL("SELECT count(*) FROM byd.{}").format(sql.Identifier(table))
        assert conn.execute(query).fetchone()[0] == 3000
    assert rows[0]["idnfsexterno"] == "NF0000000001"
    assert rows[-1]["idnfsexterno"] == "NF0000003000"
    assert all(re.fullmatch(r"LGXC[0-9A-HJ-NPR-Z]{13}", r["chassi"]) for r in rows)
    assert all(r["revenda"].startswith("BYD ") and r["des_modelo"].startswith("BYD ") for r in rows)


def test_every_messy_form_is_present_at_3000(demo):
    _, rows = demo
    texts = [r[c] for r in rows for c in MONEY]
    values = [read_money(t) for t in texts]
    present = {
        "NaN": "NaN" in texts,
        "nan/None/null": {"nan", "None", "null"} <= set(texts),
        "empty": "" in texts,
        "1.234,56": any(re.fullmatch(r"\d{1,3}(\.\d{3})+,\d{2}", t) for t in texts),
        "R$ prefix": any(t.startswith("R$ ") and read_money(t) is not UNREADABLE for t in texts),
        "pandas 17000.0": any(re.fullmatch(r"\d+\.\d", t) for t in texts),
        "spaces": any(t != t.strip() for t in texts),
        "unreadable": any(v is UNREADABLE for v in values),
        "negative": any(isinstance(v, Decimal) and v < 0 for v in values),
        "outlier": any(isinstance(v, Decimal) and v > 100000 for v in values),
        "pendente": any(r["bonus_utilizado"] == "PENDENTE VERIFICACAO" for r in rows),
        "Fevereiro/Setembro": {"Fevereiro", "Setembro", "Março"} <= {r["competencia"] for r in rows},
        "00:00:00": any(r["dta_processamento"].time().isoformat() == "00:00:00" for r in rows),
        "23:59:59": any(r["dta_processamento"].time().isoformat() == "23:59:59" for r in rows),
        "no data_final_venda": any(r["data_final_venda"] is None for r in rows),
    }
    assert [name for name, ok in present.items() if not ok] == []
    months = {r["competencia"] for r in rows} - {None}
    assert len(months) == 12


def test_every_money_text_has_a_contract_form(demo):
    """Unreadable text is only ever one of the deliberate ones, so the pipeline can classify all."""
    _, rows = demo
    deliberate = {"abc", "12,34,56", "1.2.3", "R$ 12a", "--5", "1e5", "R$"}
    unreadable = {r[c] for r in rows for c in MONEY if read_money(r[c]) is UNREADABLE}
    assert unreadable and unreadable <= deliberate


def test_view_reads_money_like_the_contract(demo):
    conn, rows = demo
    texts = sorted({r[c] for r in rows for c in MONEY} | {"R$", "1e5", " 1.234,56 ", "R$ -1.500,00"})
    read = dict(conn.execute("SELECT t, byd.valor_demo(t) FROM unnest(%s::text[]) AS t", (texts,)).fetchall())
    for text in texts:
        expected = read_money(text)
        expected = None if expected is UNREADABLE else (expected or Decimal(0))
        assert read[text] == expected, text


def test_apontamento_and_divergence_mix(demo):
    _, rows = demo

    def differs(a: str, b: str) -> bool:
        va, vb = read_money(a), read_money(b)
        if va is UNREADABLE or vb is UNREADABLE:
            return True
        return (va or 0) != (vb or 0)

    for r in rows:
        expected = differs(r["valor_bonus"], r["bonus_dpto"]) or differs(r["trade"], r["trade_mkt_dpto"])
        assert r["apontamento"] == ("Revisar Divergência!" if expected else "Certo!"), r["idnfsexterno"]
    review = sum(r["apontamento"] == "Revisar Divergência!" for r in rows)
    assert 0 < review < len(rows) / 2

    gaps = set()
    for r in rows:
        for registered, booked in (("valor_bonus", "bonus_dpto"), ("trade", "trade_mkt_dpto")):
            a, b = read_money(r[registered]), read_money(r[booked])
            if a is not UNREADABLE and b is not UNREADABLE:
                gaps.add(abs((a or 0) - (b or 0)))
    # One cent is within the pipeline's tolerance (no divergence), two cents is just beyond it.
    assert {Decimal("0.01"), Decimal("0.02")} <= gaps


def test_same_seed_same_bytes_chunking_and_other_seed(system_db):
    with psycopg.connect(system_db, autocommit=True) as conn:
        _generate(conn)
        one_shot = _digest(conn)
        _clear(conn)
        lines: list[str] = []
        _generate(conn, chunk=700)
        chunked = _digest(conn)
        _clear(conn)
        generate_sales(conn, 3000, end_date=END, days=DAYS, chunk=700, progress=lines.append)
        assert _digest(conn) == chunked == one_shot
        assert lines[0] == "demo: 700/3,000 vendas (23 %)" and lines[-1] == "demo: 3,000/3,000 vendas (100 %)"
        assert len(lines) == 5
        _clear(conn)
        _generate(conn, seed=43)
        assert _digest(conn) != one_shot


def test_rerun_keeps_existing_rows_and_extends(system_db):
    """A rerun must not undo the pipeline's corrections, and a larger n only adds sales."""
    with psycopg.connect(system_db, autocommit=True) as conn:
        assert is_empty(conn)
        _generate(conn, 500)
        assert not is_empty(conn)
        conn.execute("UPDATE byd.controladoria SET bonus_dpto = 'corrigido' WHERE idnfsexterno = 'NF0000000007'")
        _generate(conn, 800)
        assert conn.execute("SELECT count(*) FROM byd.vendas").fetchone()[0] == 800
        assert (
            conn.execute("SELECT bonus_dpto FROM byd.controladoria WHERE idnfsexterno = 'NF0000000007'").fetchone()[0]
            == "corrigido"
        )


def test_rates_roughly_as_asked(system_db):
    with psycopg.connect(system_db, autocommit=True) as conn:
        _generate(conn, 4000, rates=DemoRates(trade_marketing=0.2, pendente=0.1, negativo_outlier=0, ilegivel=0))
        pending, review, extreme = conn.execute(
            """SELECT count(*) FILTER (WHERE bonus_utilizado = 'PENDENTE VERIFICACAO'),
                      count(*) FILTER (WHERE apontamento <> 'Certo!'),
                      count(*) FILTER (WHERE least(byd.valor_demo(valor_bonus), byd.valor_demo(trade),
                                                   byd.valor_demo(bonus_dpto), byd.valor_demo(trade_mkt_dpto)) < 0)
               FROM byd.bonus_view"""
        ).fetchone()
        assert 320 < pending < 480 and 680 < review < 920 and extreme == 0


def test_refuses_a_database_the_system_did_not_create(system_db):
    admin = dsn_for(system_db, "postgres")
    name = f"demo_unmarked_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(dsn_for(admin, name), autocommit=True) as conn:
            with pytest.raises(NotASystemDatabase):
                create_fixture(conn)
            with pytest.raises(NotASystemDatabase):
                generate_sales(conn, 10, progress=None)
            assert conn.execute("SELECT to_regnamespace('byd')").fetchone()[0] is None
            assert is_empty(conn)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
