"""Exports of the filtered divergences: CSV streamed from PostgreSQL with COPY (constant
memory), or an Excel workbook (pandas + openpyxl) with pt-BR headers, money as numbers in
a BRL format and dates as dates."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row

from divergencias.database import financial_db, sql_file
from divergencias.report import UTF8_BOM
from divergencias.review.queries import SORT_ORDERS, filter_params, filtered

# Excel's last row, less the header.
EXCEL_MAX_ROWS = 1_048_575
BRL_FORMAT = '"R$" #,##0.00;-"R$" #,##0.00'
DATE_FORMAT = "dd/mm/yyyy hh:mm:ss"
HEADERS = {
    "id": "ID",
    "sessao_id": "Sessão",
    "idnfsexterno": "Nota fiscal (idnfsexterno)",
    "tipo_divergencia": "Tipo de divergência",
    "campo_afetado": "Campo afetado",
    "valor_original": "Valor original (texto)",
    "valor_anterior": "Valor anterior",
    "valor_sugerido": "Valor sugerido",
    "valor_aplicado": "Valor aplicado",
    "competencia": "Competência",
    "status_processamento": "Status",
    "confidence_score": "Confiança",
    "regras_aplicadas": "Regras aplicadas",
    "detectado_em": "Detectado em",
    "processado_em": "Processado em",
    "processado_por": "Processado por",
    "motivo_rejeicao": "Motivo da rejeição",
    "regra": "Regra",
    "diferenca": "Diferença",
}
MONEY_COLUMNS = ("valor_anterior", "valor_sugerido", "valor_aplicado", "diferenca")
DATE_COLUMNS = ("detectado_em", "processado_em")


def _export_query(sort: str) -> sql.Composed:
    select = sql.SQL(sql_file("review/exportar.sql").strip().rstrip(";"))
    return filtered(sql.SQL("{} ORDER BY {}").format(select, sql.SQL(SORT_ORDERS[sort])))


def csv_chunks(filters: dict[str, Any], sort: str) -> Iterator[bytes]:
    """The CSV (UTF-8 with BOM, comma, RFC 4180 quoting, decimal point), chunk by chunk as
    COPY hands it over."""
    copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')").format(_export_query(sort))
    with financial_db() as conn, conn.cursor() as cur:
        yield UTF8_BOM
        with cur.copy(copy, filter_params(filters)) as stream:
            yield from (bytes(chunk) for chunk in stream)


def excel_workbook(filters: dict[str, Any], sort: str) -> bytes | None:
    """The .xlsx file, or None when the rows do not fit in one sheet."""
    import pandas as pd

    with financial_db() as conn, conn.cursor(row_factory=dict_row) as cur:
        query = sql.SQL("{} LIMIT %(max_rows)s").format(_export_query(sort))
        cur.execute(query, {**filter_params(filters), "max_rows": EXCEL_MAX_ROWS + 1})
        rows = cur.fetchall()
    if len(rows) > EXCEL_MAX_ROWS:
        return None
    frame = pd.DataFrame(rows, columns=list(HEADERS))
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        frame.rename(columns=HEADERS).to_excel(writer, sheet_name="Divergências", index=False)
        sheet = writer.sheets["Divergências"]
        for position, column in enumerate(HEADERS, start=1):
            number_format = BRL_FORMAT if column in MONEY_COLUMNS else DATE_FORMAT if column in DATE_COLUMNS else None
            letter = sheet.cell(row=1, column=position).column_letter
            sheet.column_dimensions[letter].width = max(12, len(HEADERS[column]) + 2)
            if number_format:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=position, max_col=position):
                    cell.number_format = number_format
        sheet.freeze_panes = "A2"
    return buffer.getvalue()
