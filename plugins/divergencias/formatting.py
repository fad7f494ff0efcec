"""How controllers read money, dates and codes: pt-BR, through babel (CLDR), never by hand.

Used by the email templates (filters ``brl``, ``data_br`` and ``plural``) and their subjects,
and by the review API (session types), so the email and the page say the same.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, localcontext

from babel.dates import format_date
from babel.numbers import format_currency

LOCALE = "pt_BR"
EMPTY = "—"

# What a controller reads for sessoes_processamento.tipo_sessao.
SESSION_TYPE_LABELS = {
    "DAILY_AUTO": "Diária automática",
    "MANUAL_RUN": "Execução manual",
    "REPROCESSING": "Reprocessamento",
    "MANUAL_APPROVAL": "Aprovação manual",
}


def session_type_label(code: str | None) -> str:
    """The pt-BR name of a session type; an unknown code as it is, an em dash for none."""
    if code is None:
        return EMPTY
    return SESSION_TYPE_LABELS.get(code, code)


def brl(value: Decimal | int | None) -> str:
    """``R$ 1.234,56`` and ``-R$ 7.031,33``; an em dash for no value.

    CLDR puts a no-break space after ``R$``, so an amount never wraps inside a table cell.
    Never rounded to cents, as the review page shows it: 100000.004 is above limite_outlier
    and -0.004 is negative, which R$ 100.000,00 and R$ 0,00 would hide.
    """
    if value is None:
        return EMPTY
    amount = Decimal(value)
    # babel rounds in the current decimal context, 28 digits by default: an amount with more
    # digits (the summary lists source amounts up to numeric's own size) raised InvalidOperation.
    with localcontext() as context:
        context.prec = max(context.prec, len(amount.as_tuple().digits), amount.adjusted() + 1) + 2
        return format_currency(amount, "BRL", locale=LOCALE, decimal_quantization=False)


def br_date(value: date | None) -> str:
    """``31/10/2026`` (a datetime shows its date); empty for no value."""
    return format_date(value, "dd/MM/yyyy", locale=LOCALE) if value is not None else ""


def plural(count: int, singular: str, plural_form: str) -> str:
    """The words a count takes in Portuguese: ``singular`` for exactly one, else
    ``plural_form`` (zero takes the plural: "0 pendentes", "1 pendente")."""
    return singular if count == 1 else plural_form
