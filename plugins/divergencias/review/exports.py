"""Exports of the filtered divergences: CSV streamed from PostgreSQL with COPY, or an Excel
workbook (openpyxl, write-only) with pt-BR headers, money as numbers in a BRL format and
dates as dates. Both open the database before any byte is sent, so an unreachable database
is a 503 and not an empty 200, and both keep memory flat whatever the number of rows."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, suppress
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

import psycopg
from psycopg import sql
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from divergencias.database import connect_financial_db, sql_file
from divergencias.report import UTF8_BOM
from divergencias.review.queries import SORT_ORDERS, filter_params, filtered, unavailable_as_503

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

# Excel's last row, less the header.
EXCEL_MAX_ROWS = 1_048_575
SHEET_NAME = "Divergências"
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
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Rows per round trip of the server-side cursor: what the Excel export holds in memory.
FETCH_ROWS = 2000
# Bytes per chunk when the finished workbook is sent.
FILE_CHUNK_BYTES = 64 * 1024


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
        # COPY writes times in the session's DateStyle, which the server may set to 'SQL, DMY':
        # ISO, as the run's CSV writes them (to_char).
        conn.execute("SELECT set_config('datestyle', 'ISO, YMD', false)")
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


def excel_file(filters: dict[str, Any], sort: str) -> Export | None:
    """The .xlsx, or None when the rows do not fit in one sheet (counted first, nothing
    written). Rows come through a server-side cursor FETCH_ROWS at a time into a write-only
    workbook saved in an anonymous temporary file, so memory does not grow with the rows and
    the file disappears once closed, even if the process dies."""
    params = filter_params(filters)
    with unavailable_as_503(), closing(connect_financial_db()) as conn:
        # One snapshot for the count and the rows, so the count is the rows' count.
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        count = filtered(sql.SQL("SELECT count(*) FROM (SELECT 1 FROM filtradas LIMIT %(max_rows)s) AS linhas"))
        (total,) = conn.execute(count, {**params, "max_rows": EXCEL_MAX_ROWS + 1}).fetchone()
        if total > EXCEL_MAX_ROWS:
            return None
        output = tempfile.TemporaryFile(prefix="divergencias_", suffix=".xlsx")
        try:
            with conn.cursor(name="exportar_excel") as cursor:
                cursor.itersize = FETCH_ROWS
                cursor.execute(_export_query(sort), params)
                _write_workbook(cursor, output)
        except BaseException:
            output.close()
            raise
    size = output.seek(0, os.SEEK_END)
    output.seek(0)
    return Export(_file_chunks(output), output.close, size)


def _write_workbook(cursor: psycopg.ServerCursor, output: IO[bytes]) -> None:
    """The sheet as the export always had it: pt-BR headers in a frozen first row, columns
    at least as wide as their header, money in BRL and dates as dates."""
    # Imported here: the plugin (and the rest of the API) loads even where openpyxl is
    # missing (the image installs it: requirements-runtime.in).
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.utils import get_column_letter

    columns = [column.name for column in cursor.description]
    formats = [BRL_FORMAT if c in MONEY_COLUMNS else DATE_FORMAT if c in DATE_COLUMNS else None for c in columns]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_NAME)

    def cell(value: Any, number_format: str | None) -> Any:
        # numeric NaN/Infinity have no Excel number (openpyxl would write an empty <v/>): an empty cell.
        if isinstance(value, Decimal) and not value.is_finite():
            value = None
        # Control characters have no place in a sheet's XML (openpyxl refuses the whole
        # file): each one shows as U+FFFD, so the cell says something was there.
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
        if isinstance(value, Decimal):
            # openpyxl writes a Decimal as "%.16g" of its float (81794322.29 as 81794322.29000001):
            # its own digits, marked as a number, are the amount to the cent for any reader.
            formatted = WriteOnlyCell(sheet, format(value, "f"))
            formatted.data_type = "n"
        elif number_format is None:
            return value
        else:
            formatted = WriteOnlyCell(sheet, value)
        # Empty cells keep the format too, so a value typed in later shows as money or a date.
        if number_format is not None:
            formatted.number_format = number_format
        return formatted

    try:
        # A write-only sheet takes its widths and panes only before the first row.
        for position, column in enumerate(columns, start=1):
            sheet.column_dimensions[get_column_letter(position)].width = max(12, len(HEADERS[column]) + 2)
        sheet.freeze_panes = "A2"
        sheet.append([HEADERS[column] for column in columns])
        for row in cursor:
            sheet.append([cell(value, number_format) for value, number_format in zip(row, formats, strict=True)])
        workbook.save(output)
    except BaseException:
        _discard(sheet)
        raise


def _discard(sheet: WriteOnlyWorksheet) -> None:
    """openpyxl writes a write-only sheet's rows to a temporary file of its own that only
    save() (or the interpreter's exit) removes; an export that failed halfway removes it now."""
    # Already failing: the first error is the one to report, not one from the clean-up.
    with suppress(Exception):
        if not sheet.closed:
            sheet.close()
    writer = getattr(sheet, "_writer", None)
    if writer is not None and os.path.exists(writer.out):
        with suppress(OSError, ValueError):
            writer.cleanup()


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(FILE_CHUNK_BYTES):
        yield chunk
