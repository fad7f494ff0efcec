"""The contract's reading of money stored as text (audit.ler_valor_monetario & co)."""

from decimal import Decimal

import pytest

CASES = [
    # text, empty, value, unreadable
    (None, True, None, False),
    ("", True, None, False),
    ("   ", True, None, False),
    ("NaN", True, None, False),
    ("nan", True, None, False),
    ("None", True, None, False),
    ("null", True, None, False),
    ("1.234,56", False, Decimal("1234.56"), False),
    ("R$ 1.234,56", False, Decimal("1234.56"), False),
    ("  17000.00 ", False, Decimal("17000.00"), False),
    ("17000.0", False, Decimal("17000.0"), False),
    ("1.234", False, Decimal("1.234"), False),
    ("1234,5", False, Decimal("1234.5"), False),
    ("1.500.000,00", False, Decimal("1500000.00"), False),
    ("-1500.00", False, Decimal("-1500.00"), False),
    ("R$ -5,00", False, Decimal("-5.00"), False),
    ("-R$ 5,00", False, Decimal("-5.00"), False),
    ("abc", False, None, True),
    ("12,34,56", False, None, True),
    ("1.2.3", False, None, True),
    ("12.34,5", False, None, True),
    ("R$ 12a", False, None, True),
    ("--5", False, None, True),
    ("1e5", False, None, True),
    ("R$", False, None, True),
    ("NULL", False, None, True),
    # the fast path's edges (migration 023): plain digits with one inner point only
    ("007", False, Decimal("7"), False),
    ("12345678901234567890.5", False, Decimal("12345678901234567890.5"), False),
    (".5", False, None, True),
    ("5.", False, None, True),
    (".", False, None, True),
    ("+5", False, None, True),
    ("1..2", False, None, True),
    # no-break spaces (U+00A0: Excel's and pt-BR currency formatting's space) are spaces
    ("\xa01.234,56\xa0", False, Decimal("1234.56"), False),
    ("R$\xa01.234,56", False, Decimal("1234.56"), False),
    ("-R$\xa07.031,33", False, Decimal("-7031.33"), False),
    (" 17000.00\xa0", False, Decimal("17000.00"), False),
    ("\xa0", True, None, False),
    ("\xa0NaN\xa0", True, None, False),
    ("1\xa0234,56", False, None, True),
    # more digits than numeric holds with room for a difference (057): unreadable, not an error
    ("9" * 131071, False, Decimal("9" * 131071), False),
    ("9" * 131072, False, None, True),
    ("-R$ 1" + ".000" * 43691 + ",5", False, None, True),
    ("0," + "0" * 16382 + "1", False, Decimal("0." + "0" * 16382 + "1"), False),
    ("0," + "0" * 16383 + "1", False, None, True),
    ("1." + "0" * 16384, False, None, True),
]


@pytest.mark.parametrize(("text", "empty", "value", "unreadable"), CASES)
def test_money_text_is_read_as_the_contract_says(conn, text, empty, value, unreadable):
    row = conn.execute(
        """SELECT audit.texto_monetario_vazio(%(t)s), audit.ler_valor_monetario(%(t)s),
                  audit.texto_monetario_ilegivel(%(t)s)""",
        {"t": text},
    ).fetchone()
    assert row == (empty, value, unreadable)
    if value is not None:
        assert isinstance(row[1], Decimal)


def test_canonical_text_has_two_decimals(conn):
    assert conn.execute("SELECT audit.texto_monetario_canonico(17000)").fetchone()[0] == "17000.00"
    assert conn.execute("SELECT audit.texto_monetario_canonico(1234.5)").fetchone()[0] == "1234.50"


@pytest.mark.parametrize("value", ["1234567.5", "-7031.33", "0", "0.01", "100000.00", "100000.004", "-0.004", "0.005"])
def test_an_amount_as_the_email_and_the_review_page_show_it_reads_back_as_itself(conn, value):
    """brl() writes 'R$' and a no-break space; a controller who pastes it into the sheet
    gets that same text in the source."""
    from divergencias.formatting import brl

    assert conn.execute("SELECT audit.ler_valor_monetario(%s)", (brl(Decimal(value)),)).fetchone()[0] == Decimal(value)


def test_money_in_emails_reads_as_brazilian_reais():
    from divergencias.formatting import brl

    assert brl(Decimal("1234567.5")) == "R$\xa01.234.567,50"
    assert brl(Decimal("-7031.33")) == "-R$\xa07.031,33"
    assert brl(0) == "R$\xa00,00"
    assert brl(None) == "—"
    # never rounded to cents: 100000.004 is over limite_outlier, -0.004 is negative
    assert brl(Decimal("100000.004")) == "R$\xa0100.000,004"
    assert brl(Decimal("-0.004")) == "-R$\xa00,004"


def test_dates_in_emails_read_as_brazilian():
    from datetime import date, datetime

    from divergencias.formatting import br_date

    assert br_date(date(2026, 3, 7)) == "07/03/2026"
    assert br_date(datetime(2026, 12, 31, 23, 59)) == "31/12/2026"
    assert br_date(None) == ""


# Collations whose regular expressions class every Unicode digit and space as \d and \s:
# a database (or a byd column) created with ICU, or PostgreSQL 18's builtin PG_UNICODE_FAST.
UNICODE_COLLATIONS = ("und-x-icu", "pg_unicode_fast")


def _unicode_collation(conn) -> str:
    row = conn.execute(
        "SELECT collname FROM pg_collation WHERE collname = ANY(%s) ORDER BY collname LIMIT 1",
        (list(UNICODE_COLLATIONS),),
    ).fetchone()
    if row is None:
        pytest.skip("this server has no ICU nor builtin Unicode collation")
    return row[0]


@pytest.mark.parametrize(("text", "empty", "value", "unreadable"), CASES + [("١٢٣", False, None, True)])
def test_the_reading_does_not_depend_on_the_collation(conn, text, empty, value, unreadable):
    """Under an ICU collation '١٢٣' (Arabic-Indic) or '５' (full-width) matched the parser's
    \\d, and the cast to numeric then failed: one such cell stopped the whole detection."""
    collation = _unicode_collation(conn)
    row = conn.execute(
        f"""SELECT audit.texto_monetario_vazio(t), audit.ler_valor_monetario(t), audit.texto_monetario_ilegivel(t)
              FROM (SELECT %(t)s::text COLLATE "{collation}" AS t) AS x""",
        {"t": text},
    ).fetchone()
    assert row == (empty, value, unreadable)


@pytest.mark.parametrize("text", ["１２３", "R$ ５,００", "٥٠٠٠", "-١", "1.２34,56"])
def test_digits_of_other_scripts_are_unreadable_whatever_the_collation(conn, text):
    collation = _unicode_collation(conn)
    row = conn.execute(
        f"""SELECT audit.ler_valor_monetario(t), audit.texto_monetario_ilegivel(t)
              FROM (SELECT %(t)s::text COLLATE "{collation}" AS t) AS x""",
        {"t": text},
    ).fetchone()
    assert row == (None, True)
