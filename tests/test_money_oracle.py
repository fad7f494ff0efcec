"""An oracle written from the contract's words (§4 money text, §5 rules), in plain Python
with Decimal, against what a real detection run records on hostile money text.

The oracle knows nothing of the project's SQL. Where the contract leaves a case open, the
oracle takes the reading named in the comment next to it."""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal

import pytest

from devtools.sql_steps import run_session
from tests.helpers import add_sale, booked, business_state, divergences, flag_every_sale

DAY = date(2026, 11, 10)
TOLERANCIA = Decimal("0.01")
LIMITE_OUTLIER = Decimal("100000")
LIMITE_DUPLA = Decimal("50000.00")
CENT = Decimal("0.01")
# exact arithmetic on the longest digit strings below
EXACT = Context(prec=2000)
MONEY = ("valor_bonus", "trade", "bonus_dpto", "trade_mkt_dpto")
PAIRS = (("TRADE_MARKETING_BONUS", "bonus_dpto", "valor_bonus"), ("TRADE_MARKETING_TRADE", "trade_mkt_dpto", "trade"))
EMPTY_WORDS = ("", "NaN", "nan", "None", "null")
TRIMMED = " \t\r\n\xa0"
# The contract's words leave three cases open; the oracle takes these readings:
# - "trim" names no set of characters: the oracle trims space, tab, CR, LF and the no-break
#   space (U+00A0, which Excel and pt-BR currency formatting write); not em spaces, the
#   narrow no-break space, form feed or vertical tab.
# - "an optional `R$ ` prefix": R$ followed by any run of those white spaces, or none, and
#   form feed or vertical tab there too (the project's reading; it does not trim those two
#   at the ends: inconsistent, harmless, left as the contract does not decide it).
# "dots are thousands separators": groups of three; "the comma is the decimal point": one;
# digits on both sides of a decimal point (',5', '5,', '.5', '5.' are not amounts a
# controller writes): the contract is silent on these, the oracle calls them unreadable.
WITH_COMMA = re.compile(r"[0-9]{1,3}(\.[0-9]{3})*,[0-9]+|[0-9]+,[0-9]+")
WITHOUT_COMMA = re.compile(r"[0-9]+(\.[0-9]+)?")


class Unreadable(Exception):
    pass


def read(text: str | None) -> Decimal | None:
    """§4: None for empty, the exact decimal, or Unreadable."""
    if text is None:
        return None
    text = text.strip(TRIMMED)
    if text in EMPTY_WORDS:
        return None
    negative = False
    # "an optional `R$ ` prefix and leading `-`": both orders, since '-R$ 5,00' is how
    # pt-BR currency formatting writes a negative amount; the space after R$ optional.
    if text.startswith("-"):
        negative, text = True, text[1:]
    if text.startswith("R$"):
        text = text[2:].lstrip(TRIMMED + "\f\v")
    if text.startswith("-") and not negative:
        negative, text = True, text[1:]
    if "," in text:
        if not WITH_COMMA.fullmatch(text):
            raise Unreadable(text)
        value = Decimal(text.replace(".", "").replace(",", "."))
    else:
        if not WITHOUT_COMMA.fullmatch(text):
            raise Unreadable(text)
        value = Decimal(text)
    if not representable(value):
        raise Unreadable(text)
    return value.copy_negate() if negative else value


def representable(value: Decimal) -> bool:
    digits = value.as_tuple()
    return -digits.exponent <= 16383 and len(digits.digits) + digits.exponent <= 131071


def in_audit_column(value: Decimal | None) -> Decimal | None:
    """The audit's numeric(15,2) columns (the old schema's): cents, or nothing if too large."""
    if value is None:
        return None
    if abs(value) >= Decimal(10) ** 13:
        return None
    cents = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return None if abs(cents) >= Decimal(10) ** 13 else cents


def expected(sale: dict) -> tuple[dict, dict]:
    """Divergences {(tipo, campo): (status, regras, valor_original, valor_anterior,
    valor_sugerido)} and booked texts after one auto run, apontamento 'Revisar Divergência!'."""
    found, after = {}, {c: sale[c] for c in ("bonus_dpto", "trade_mkt_dpto")}
    values = {}
    for column in MONEY:
        try:
            values[column] = read(sale[column])
        except Unreadable:
            found[("VALOR_INVALIDO", column)] = ["DETECTED", ["VALOR_INVALIDO"], sale[column], None, None]
            continue
        value = values[column]
        if value is not None and (value < 0 or value > LIMITE_OUTLIER):
            rule = "VALOR_NEGATIVO" if value < 0 else "VALOR_OUTLIER"
            found[("VALIDACAO_VALOR", column)] = ["DETECTED", [rule], sale[column], in_audit_column(value), None]
    for tipo, field, reference in PAIRS:
        if field not in values or reference not in values:
            continue
        current, suggested = values[field] or Decimal(0), values[reference] or Decimal(0)
        if abs(EXACT.subtract(current, suggested)) <= TOLERANCIA:
            continue
        # "valor_sugerido = valor_bonus" and "written back with two decimals" cannot both hold
        # for a reference with more decimals: the oracle leaves it for a person, as the
        # contract's own "the suggested value is itself valid" suggests (ambiguous).
        applied = (
            0 <= suggested <= LIMITE_OUTLIER
            and suggested == suggested.quantize(CENT, context=EXACT)
            and abs(EXACT.subtract(suggested, current)) < LIMITE_DUPLA
        )
        found[(tipo, field)] = [
            "AUTO_APPLIED" if applied else "DETECTED",
            [tipo],
            sale[field],
            in_audit_column(values[field]),
            in_audit_column(suggested),
        ]
        if applied:
            # canonical text, two decimals; its value check no longer holds and is resolved
            after[field] = f"{suggested.quantize(CENT, rounding=ROUND_HALF_UP, context=EXACT):.2f}"
            if ("VALIDACAO_VALOR", field) in found:
                found[("VALIDACAO_VALOR", field)][0] = "RESOLVED"
    return {k: tuple(v) for k, v in found.items()}, after


HOSTILE = [
    # white space of every kind around and inside
    "\t5000.00",
    "5000.00\t",
    "\n5000.00\n",
    "\r\n5000,00",
    "\xa05000.00",
    " \t\xa05.000,00 \n",
    "5 000.00",
    "5\t000,00",
    "5000.\n00",
    "5\xa0000,00",
    "\u20035000.00",
    "\u200b5000.00",
    "\u202f5.000,00",
    "\x0c5000",
    "5000\x0b",
    "R$\x0c5000",
    "\u3000R$ 5000",
    # R$ and signs
    "R$ 5000.00",
    "R$5000.00",
    "R$  5000.00",
    "R$\t5000",
    "R$\xa05000",
    "r$ 5000",
    "R $5000",
    "R$-5",
    "R$ -5",
    "-R$ 5",
    "-R$5",
    "- 5",
    "\u22125",
    "+5",
    "--5",
    "-",
    "R$",
    "R$ ",
    "-R$ -5",
    "5-",
    # separators
    "1.234",
    "1.234.567",
    "1.234,5",
    "1,2,3",
    ",5",
    "5,",
    ".5",
    "5.",
    "12.34,5",
    "1234.567,8",
    "5.000,00",
    "5000,00",
    "5.000",
    "05000",
    "1e3",
    "0x10",
    "\u0661\u0662\u0663",
    "\uff11\uff12\uff13",
    "Infinity",
    # the empty words, and look-alikes that are not
    "NaN",
    "nan",
    "None",
    "null",
    " NaN ",
    "\tnull\n",
    "\xa0None\xa0",
    "",
    "  ",
    None,
    "NAN",
    "NULL",
    "none",
    "Nan",
    "N/A",
    # very long digit strings
    "1" * 30,
    "1" * 30 + ".5",
    "0." + "0" * 40 + "1",
    "9" * 1000,
    "1" + ".000" * 10 + ",5",
    # at and beyond what numeric holds with room for a difference (131071 digits before the
    # point, 16383 after): the contract's words read them all, but nothing can hold the
    # latter to compare them; the oracle calls those unreadable (migration 057)
    "9" * 131071,
    "0." + "0" * 16382 + "1",
    "0" * 140000 + "5",
    "-" + "1" * 30,
    "1" + ".000" * 43690,
    "1" + ".000" * 43690 + ",5",
    "9" * 131072,
    "9" * 131073 + ",5",
    "1." + "0" * 16384,
    "0," + "0" * 16383 + "1",
    "-R$ " + "9" * 140000,
    # limite_outlier and sign edges
    "100000",
    "100000.00",
    "100000.001",
    "100000,001",
    "99999.999",
    "100.000,00",
    "-0",
    "-0,00",
    "-0.00",
    "0",
    "-0.001",
    "0.00",
    # tolerancia_valor edges against 5000.00
    "5000.01",
    "4999.99",
    "5000.011",
    "5000.0100",
    "5.000,01",
    "4.999,989",
    "5000.005",
]


def _sales() -> dict[str, dict]:
    sales = {}
    for i, text in enumerate(HOSTILE):
        common = {"trade": "0", "trade_mkt_dpto": "0"}
        sales[f"NF_REF_{i:03}"] = {**common, "valor_bonus": text, "bonus_dpto": "5000.00"}
        sales[f"NF_BOOK_{i:03}"] = {**common, "valor_bonus": "5000.00", "bonus_dpto": text}
        sales[f"NF_TRADE_{i:03}"] = {"valor_bonus": "0", "bonus_dpto": "0", "trade": "300", "trade_mkt_dpto": text}
    # limite_dupla_aprovacao: a change of exactly 50000 waits for two people
    for key, reference, field in (
        ("NF_DUPLA_IGUAL", "50000.00", ""),
        ("NF_DUPLA_ABAIXO", "49999.99", None),
        ("NF_DUPLA_NEG", "10000.00", "-40000,00"),
        ("NF_DUPLA_NEG_ABAIXO", "10000.00", "-39999.99"),
    ):
        sales[key] = {"valor_bonus": reference, "bonus_dpto": field, "trade": "0", "trade_mkt_dpto": "0"}
    return sales


def _recorded(conn, sale: str) -> dict:
    return {
        (d["tipo_divergencia"], d["campo_afetado"]): (
            d["status_processamento"],
            d["regras_aplicadas"],
            d["valor_original"],
            d["valor_anterior"],
            d["valor_sugerido"],
        )
        for d in divergences(conn, sale)
    }


def _booked(conn, sale: str) -> dict:
    return dict(zip(("bonus_dpto", "trade_mkt_dpto"), booked(conn, sale), strict=True))


def test_a_run_records_what_the_contract_says_for_hostile_money_text(conn):
    flag_every_sale(conn)
    sales = _sales()
    for key, sale in sales.items():
        add_sale(conn, key, **sale)
    run_session(conn, DAY, DAY)
    disagreements = []
    for key, sale in sales.items():
        want, want_booked = expected(sale)
        got, got_booked = _recorded(conn, key), _booked(conn, key)
        if got != want or got_booked != want_booked:
            disagreements.append((key, sale, want, got, want_booked, got_booked))
    assert disagreements == []

    # idempotence: a second run over the same period records and applies nothing more
    state = business_state(conn)
    again = run_session(conn, DAY, DAY)
    counters = conn.execute(
        "SELECT divergencias_detectadas, correcoes_aplicadas FROM audit.sessoes_processamento WHERE id = %s",
        (again["sessao_id"],),
    ).fetchone()
    assert counters == (0, 0)
    assert business_state(conn) == state


@pytest.mark.parametrize(
    ("final", "processing", "competencia"),
    [
        ("2026-02-27 15:00", "2026-11-10 10:00", "2026-02"),
        (None, "2026-11-10 10:00", "2026-11"),
        ("10000-01-01 00:00", "2026-11-10 10:00", "2026-11"),
        ("0044-03-15 00:00 BC", "2026-11-10 10:00", "2026-11"),
        ("0001-01-01 00:00", "2026-11-10 23:59:59", "0001-01"),
        ("9999-12-31 23:59:59", "2026-11-10 00:00", "9999-12"),
    ],
)
def test_competencia_is_year_month_of_the_final_sale_date_else_of_processing(conn, final, processing, competencia):
    add_sale(conn, "NF1", bonus_dpto="1")
    conn.execute(
        "UPDATE byd.vendas SET data_final_venda = %s::timestamp, dta_processamento = %s::timestamp",
        (final, processing),
    )
    run_session(conn, DAY, DAY)
    (d,) = divergences(conn, "NF1")
    assert d["competencia"] == competencia
