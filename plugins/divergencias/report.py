"""The CSV report (contract §7), streamed from PostgreSQL with COPY.

Memory stays constant whatever the number of rows: COPY hands over chunks that go
straight to the file, local or in object storage (``divergencias.storage``). The file
appears under its final name only once complete.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql

from divergencias.database import sql_file
from divergencias.storage import write_atomically

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

log = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"
_PROGRESS_EVERY_BYTES = 64 * 1024 * 1024


def report_path(output_dir: ObjectStoragePath, data_inicio: str, data_fim: str, sessao_id: int) -> ObjectStoragePath:
    return output_dir / f"divergencias_{data_inicio}_{data_fim}_sessao{sessao_id}.csv"


def write_report(conn: psycopg.Connection, sessao_id: int, path: ObjectStoragePath | Path) -> int:
    """Write the session's report to ``path``; return its size in bytes."""
    select = sql_file("divergencias/export_csv.sql").strip().rstrip(";")
    copy = sql.SQL("COPY ({}) TO STDOUT WITH (FORMAT csv, HEADER true, ENCODING 'UTF8')").format(sql.SQL(select))
    written = 0
    next_progress = _PROGRESS_EVERY_BYTES
    with write_atomically(path) as out, conn.cursor() as cur:
        out.write(UTF8_BOM)
        # psycopg binds COPY parameters client-side (COPY takes no server-side ones).
        with cur.copy(copy, {"sessao_id": sessao_id}) as stream:
            for chunk in stream:
                out.write(chunk)
                written += len(chunk)
                if written >= next_progress:
                    log.info("CSV: %.0f MB written", written / 2**20)
                    next_progress += _PROGRESS_EVERY_BYTES
    return path.stat().st_size


def export_session_report(conn: psycopg.Connection, sessao_id: int, path: ObjectStoragePath) -> int:
    """Write the report and record its location on the session (``arquivo_relatorio``: the
    local path or URL every worker reads it back by), step done, committed here: ``conn``
    must be in autocommit.

    When this fails, its commit included, no file is left under ``path`` either: the name is
    the session's, so a file there is an earlier attempt's report, which step_started already
    unlinked from the session (a cleared run may have detected and applied anew since), or
    this attempt's, never recorded. Left in the folder, a controller would take it for the
    session's report."""
    if not conn.autocommit:
        raise ValueError("export_session_report commits the report's record itself: pass a connection in autocommit")
    try:
        with conn.transaction():
            size = write_report(conn, sessao_id, path)
            conn.execute(
                "UPDATE audit.sessoes_processamento SET arquivo_relatorio = %s WHERE id = %s", (str(path), sessao_id)
            )
            conn.execute(sql_file("divergencias/mark_step_done.sql"), {"sessao_id": sessao_id, "etapa": "export_csv"})
    except BaseException:
        _remove_unrecorded_report(path)
        raise
    log.info("CSV report %s (%d bytes)", path, size)
    return size


def _remove_unrecorded_report(path: ObjectStoragePath | Path) -> None:
    # Best effort: the export's own error is the one to report, not a storage hiccup here.
    try:
        if path.exists():
            path.unlink()
            log.warning("CSV %s removed: the session does not point at it (the export failed)", path)
    except Exception:
        log.warning("CSV %s could not be removed after the export failed", path, exc_info=True)
