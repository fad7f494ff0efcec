"""The CSV report (contract §7), streamed from PostgreSQL with COPY.

Memory stays constant whatever the number of rows: COPY hands over chunks that go
straight to disk. The file appears under its final name only once complete.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psycopg
from psycopg import sql

from divergencias.database import sql_file

log = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
_PROGRESS_EVERY_BYTES = 64 * 1024 * 1024


def report_path(output_dir: Path, data_inicio: str, data_fim: str, sessao_id: int) -> Path:
    return output_dir / f"divergencias_{data_inicio}_{data_fim}_sessao{sessao_id}.csv"


def write_report(conn: psycopg.Connection, sessao_id: int, path: Path) -> int:
    """Write the session's report to ``path``; return its size in bytes."""
    select = sql_file("divergencias/export_csv.sql").strip().rstrip(";")
    copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')").format(sql.SQL(select))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    written = 0
    next_progress = _PROGRESS_EVERY_BYTES
    try:
        with partial.open("wb") as out, conn.cursor() as cur:
            out.write(UTF8_BOM)
            # psycopg binds COPY parameters client-side (COPY takes no server-side ones).
            with cur.copy(copy, {"sessao_id": sessao_id}) as stream:
                for chunk in stream:
                    out.write(chunk)
                    written += len(chunk)
                    if written >= next_progress:
                        log.info("CSV: %.0f MB written", written / 2**20)
                        next_progress += _PROGRESS_EVERY_BYTES
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return path.stat().st_size


def export_session_report(conn: psycopg.Connection, sessao_id: int, path: Path) -> int:
    """Write the report and record it on the session (``arquivo_relatorio``, step done)."""
    size = write_report(conn, sessao_id, path)
    conn.execute("UPDATE audit.sessoes_processamento SET arquivo_relatorio = %s WHERE id = %s", (str(path), sessao_id))
    conn.execute(sql_file("divergencias/mark_step_done.sql"), {"sessao_id": sessao_id, "etapa": "export_csv"})
    log.info("CSV report %s (%d bytes)", path, size)
    return size
