"""What the review API reads: include/sql/review/*.sql, filters bound as parameters and
the sort order taken from an allow-list only."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from fastapi import HTTPException, status
from psycopg import sql
from psycopg.rows import dict_row

from divergencias.database import financial_db, sql_file
from divergencias.settings import WRITTEN_FIELDS

log = logging.getLogger(__name__)

# ``ordenar`` values: the only ORDER BY clauses the list and the exports use.
SORT_ORDERS = {
    "-diferenca": "diferenca DESC NULLS LAST, id",
    "diferenca": "diferenca ASC NULLS LAST, id",
    "-detectado_em": "detectado_em DESC, id DESC",
    "detectado_em": "detectado_em, id",
    "-dta_processamento": "dta_processamento DESC NULLS LAST, id DESC",
    "dta_processamento": "dta_processamento NULLS LAST, id",
    "id": "id",
    "-id": "id DESC",
    "idnfsexterno": "idnfsexterno, id",
    "competencia": "competencia NULLS LAST, id",
}
DEFAULT_SORT = "-detectado_em"
FILTERS = (
    "status_processamento",
    "tipo_divergencia",
    "competencia",
    "idnfsexterno",
    "data_inicio",
    "data_fim",
    "diferenca_minima",
)


@contextmanager
def unavailable_as_503() -> Iterator[None]:
    """A database that cannot be reached (or drops the connection) as a 503 with the
    message every route gives, instead of a bare 500."""
    try:
        yield
    except psycopg.OperationalError as error:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "Banco financial_db indisponível.") from error


@contextmanager
def invalid_setting_as_503(consequence: str) -> Iterator[None]:
    """A setting missing, inactive or invalid (audit.configuracao_validada raises
    invalid_parameter_value naming it) as a 503 that names it and says what it prevented,
    instead of a figure or a decision computed with NULL."""
    try:
        yield
    except psycopg.errors.InvalidParameterValue as error:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"{error.diag.message_primary}: {consequence}"
        ) from error


@contextmanager
def reading() -> Iterator[psycopg.Connection]:
    """A read transaction on financial_db; 503 when the database cannot be reached. One
    snapshot for all its queries, so a list's total and its page agree even when a decision
    or a run commits in between. In São Paulo time, as the pipeline writes its times: now()
    and current_date (gerado_em, the daily chart's window) agree with every recorded time
    whatever the server's zone."""
    with unavailable_as_503(), financial_db() as conn:
        conn.row_factory = dict_row
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.execute("SELECT set_config('timezone', 'America/Sao_Paulo', true)")
        yield conn


def filtered(query: sql.Composable) -> sql.Composed:
    """``query`` reading the CTE ``filtradas``: divergencias.sql with the request's filters."""
    base = sql.SQL(sql_file("review/divergencias.sql"))
    return sql.SQL("WITH filtradas AS ({}) {}").format(base, query)


def filter_params(filters: dict[str, Any], divergence_id: int | None = None) -> dict[str, Any]:
    return {
        "id": divergence_id,
        "campos_gravados": list(WRITTEN_FIELDS),
        **{key: filters.get(key) for key in FILTERS},
    }


def with_tokens(conn: psycopg.Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each divergence with its token_valores, read as a decision reads it on arrival
    (valores_decididos.sql): a client sends it back in "vistos" to have a decision on values
    it never saw refused."""
    found = conn.execute(sql_file("review/valores_decididos.sql"), {"ids": [row["id"] for row in rows]}).fetchall()
    tokens = {row["id"]: row["token_valores"] for row in found}
    return [{**row, "token_valores": tokens[row["id"]]} for row in rows]


def list_divergences(filters: dict[str, Any], sort: str, limit: int, offset: int) -> dict[str, Any]:
    page = sql.SQL("SELECT * FROM filtradas ORDER BY {} LIMIT %(limit)s OFFSET %(offset)s").format(
        sql.SQL(SORT_ORDERS[sort])
    )
    params = {**filter_params(filters), "limit": limit, "offset": offset}
    with reading() as conn:
        total = conn.execute(filtered(sql.SQL("SELECT count(*) AS n FROM filtradas")), params).fetchone()["n"]
        items = with_tokens(conn, conn.execute(filtered(page), params).fetchall())
    return {"total": total, "limit": limit, "offset": offset, "itens": items}


def divergence_detail(divergence_id: int) -> dict[str, Any]:
    params = filter_params({}, divergence_id)
    with reading() as conn:
        row = conn.execute(filtered(sql.SQL("SELECT * FROM filtradas")), params).fetchone()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"Divergência {divergence_id} não encontrada.")
        (row,) = with_tokens(conn, [row])
        row["regra"] = conn.execute(sql_file("review/regra.sql"), {"codigo": row["tipo_divergencia"]}).fetchone()
        row["historico"] = conn.execute(sql_file("review/historico.sql"), {"id": divergence_id}).fetchall()
        row["aprovacoes"] = conn.execute(sql_file("review/aprovacoes.sql"), {"id": divergence_id}).fetchall()
    return row


def rules() -> list[dict[str, Any]]:
    with reading() as conn:
        return conn.execute(sql_file("review/regras.sql")).fetchall()


def paged(file: str, params: dict[str, Any]) -> dict[str, Any]:
    """An audit list whose SQL counts its matches in a ``total`` column."""
    with reading() as conn:
        rows = conn.execute(sql_file(file), params).fetchall()
        if not rows and params["offset"]:
            # A page past the end has no row to read the count from: the first page's count,
            # so total stays what the filters match and not 0.
            first = conn.execute(sql_file(file), {**params, "limit": 1, "offset": 0}).fetchone()
            rows_total = first["total"] if first else 0
            return {"total": rows_total, "limit": params["limit"], "offset": params["offset"], "itens": []}
    total = rows[0].pop("total") if rows else 0
    for row in rows[1:]:
        del row["total"]
    return {"total": total, "limit": params["limit"], "offset": params["offset"], "itens": rows}


def session_to_undo(session_id: int) -> dict[str, Any]:
    """The session a rollback request names, read as the rollback DAG reads it (whether it
    is still running, among the rest); 404 when there is none."""
    with reading() as conn:
        row = conn.execute(sql_file("rollback/session_to_undo.sql"), {"sessao_id": session_id}).fetchone()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"Sessão {session_id} não encontrada.")
    return row


def summary() -> dict[str, Any]:
    """503 when a criticality level is missing or invalid: a level compared with nothing
    would report a wrong criticality, so the summary names the setting to fix instead."""
    with reading() as conn, invalid_setting_as_503("o resumo das métricas não pode ser calculado."):
        return conn.execute(sql_file("review/metricas_resumo.sql")).fetchone()


def daily(days: int) -> list[dict[str, Any]]:
    with reading() as conn:
        return conn.execute(sql_file("review/metricas_diarias.sql"), {"dias": days}).fetchall()


def performance(limit: int) -> list[dict[str, Any]]:
    with reading() as conn:
        return conn.execute(sql_file("review/desempenho.sql"), {"limit": limit}).fetchall()


def health() -> dict[str, Any]:
    """Open to anyone: says whether the database answers and how the last session ended,
    nothing more (no error text, no connection details)."""
    try:
        with financial_db() as conn:
            conn.row_factory = dict_row
            last = conn.execute(sql_file("review/saude.sql")).fetchone()
    except Exception:  # noqa: BLE001 - any failure means "not healthy", and no detail leaks
        log.warning("health check: financial_db unreachable", exc_info=True)
        return {"status": "erro", "banco": "indisponível", "ultima_sessao": None}
    return {"status": "ok", "banco": "ok", "ultima_sessao": last}
