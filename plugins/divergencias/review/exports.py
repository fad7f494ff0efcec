"""Exports of the filtered divergences: CSV streamed from PostgreSQL with COPY (constant
memory), or an Excel workbook (pandas + openpyxl) with pt-BR headers, money as numbers in
a BRL format and dates as dates. Both open the database before any byte is sent, so an
unreachable database is a 503 and not an empty 200."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from divergencias.database import connect_financial_db, financial_db, sql_file
from divergencias.report import UTF8_BOM
from divergencias.review.queries import SORT_ORDERS, filter_params, filtered, unavailable_as_503

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


@dataclass
class Export:
    """An export ready to send: its bytes in order, what to call once they are sent or
    abandoned, and its size when known."""

    chunks: Iterator[bytes]
    close: Callable[[], None]
    size: int | None = None


class ExportResponse(StreamingResponse):
    """Sends an Export and closes it however the response ends: sent, failed, or cut short
    by a client that went away. Starlette never closes a sync body iterator and skips the
    background task when sending fails, so the close can live in neither."""

    def __init__(self, export: Export, media_type: str, filename: str) -> None:
        headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
        if export.size is not None:
            headers["Content-Length"] = str(export.size)
        super().__init__(export.chunks, media_type=media_type, headers=headers)
        self._close = export.close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # Called here, not awaited in a thread: an await could itself be cancelled and
            # leave the export open, and closing a socket or a file does not wait. No worker
            # thread is reading the export by now: a cancelled Starlette stream waits for the
            # thread's current read to return.
            self._close()


def _export_query(sort: str) -> sql.Composed:
    select = sql.SQL(sql_file("review/exportar.sql").strip().rstrip(";"))
    return filtered(sql.SQL("{} ORDER BY {}").format(select, sql.SQL(SORT_ORDERS[sort])))


def open_csv(filters: dict[str, Any], sort: str) -> Export:
    """The CSV (UTF-8 with BOM, comma, RFC 4180 quoting, decimal point), chunk by chunk as
    COPY hands it over. The connection is opened and the COPY started here, before the
    response starts: a database that cannot be reached is the 503 every route gives, and a
    failing query an error status, instead of a 200 with an empty body."""
    copy_sql = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')").format(
        _export_query(sort)
    )
    with unavailable_as_503(), ExitStack() as stack:
        conn = stack.enter_context(closing(connect_financial_db()))
        conn.read_only = True
        cursor = stack.enter_context(conn.cursor())
        copy = stack.enter_context(cursor.copy(copy_sql, filter_params(filters)))
        # Opened: from now on the response owns the connection. Closing it needs no round trip
        # (a COPY left unfinished is left, not drained), so it is safe after a disconnect.
        opened = stack.pop_all()

    def chunks() -> Iterator[bytes]:
        yield UTF8_BOM
        for chunk in copy:
            yield bytes(chunk)

    return Export(chunks(), opened.close)


def excel_workbook(filters: dict[str, Any], sort: str) -> bytes | None:
    """The .xlsx file, or None when the rows do not fit in one sheet."""
    import pandas as pd

    with unavailable_as_503(), financial_db() as conn, conn.cursor(row_factory=dict_row) as cur:
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
