"""The floors: the least work PostgreSQL itself must do for each phase, on the same data.

Two levels below the pipeline, both measured in the same repetition as the phase:

- **physical**: the bytes the phase cannot avoid moving. Detection: one scan of
  ``byd.bonus_view`` over the period reading the columns the rules read, nothing parsed.
  Apply: one ``UPDATE`` of exactly the fields the pipeline corrected, with the very text it
  wrote. Export: one ``COPY`` of the report's rows and columns, as stored.
- **parse-once** (detection only): the same scan with each of the four money texts parsed
  exactly once. Apply and export parse no money text, so they have no such level.

No floor evaluates a rule or carries a threshold: what the pipeline must find, write or
export is taken from what the pipeline itself did on the same copy (its corrections, its
report query), so the floors never restate the rules and cannot drift from them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date
from typing import NamedTuple

import psycopg
from psycopg import sql

from divergencias.database import sql_file
from divergencias.settings import WRITTEN_FIELDS

# Contract §4: what the rules read from byd.bonus_view (the period filter reads
# dta_processamento besides), and the money texts among them.
MONEY_COLUMNS = ("valor_bonus", "trade", "bonus_dpto", "trade_mkt_dpto")
RULE_COLUMNS = ("apontamento", "bonus_utilizado", *MONEY_COLUMNS)

_PERIOD = sql.SQL("v.dta_processamento >= %(data_inicio)s::date AND v.dta_processamento < %(data_fim)s::date + 1")


def session_options(conn: psycopg.Connection) -> str:
    """Connection options for the floors: the settings detection runs with, so that neither
    side gains from a setting the other lacks. JIT off (audit.iniciar_etapa) and whatever
    the scan's function sets for itself (audit.avaliar_regras: its leader only gathering,
    parallel workers planned for small tables), read from the function, not restated."""
    (settings,) = conn.execute(
        "SELECT coalesce(proconfig, '{}') FROM pg_proc WHERE oid = 'audit.avaliar_regras(date, date)'::regprocedure"
    ).fetchone()
    return " ".join(["-c jit=off", *(f"-c {setting}" for setting in settings)])


class Floor(NamedTuple):
    """Seconds of one floor statement, and what it processed (to check it did the job)."""

    seconds: float
    rows: int
    work: int


def _timed(action: Callable[[], tuple[int, int]]) -> Floor:
    started = time.perf_counter()
    rows, work = action()
    return Floor(time.perf_counter() - started, rows, work)


def _column(name: str) -> sql.Composable:
    return sql.SQL("v.{}::text").format(sql.Identifier(name))


def _scan(values: list[sql.Composable]) -> sql.Composed:
    """One scan of the period through the view, aggregating ``values`` so that each one is
    computed for every row (an unused column would be left out of the plan)."""
    return sql.SQL("SELECT count(*), ({})::bigint FROM byd.bonus_view v WHERE {}").format(
        sql.SQL(" + ").join(sql.SQL("coalesce({}, 0)").format(v) for v in values), _PERIOD
    )


# Every byte of the rule columns is read (length() detoasts and walks the text).
_PHYSICAL_DETECT = _scan([sql.SQL("sum(length({}))").format(_column(c)) for c in RULE_COLUMNS])

# Issue 8 defines parse-once as audit.ler_valor_monetario once per money text: it is a
# single SQL expression PostgreSQL inlines, so this is PostgreSQL evaluating one expression
# per value, the only project function a floor may call. The other rule columns are read
# as in the physical floor.
_PARSE_ONCE_DETECT = _scan(
    [sql.SQL("sum(length({}))").format(_column(c)) for c in RULE_COLUMNS if c not in MONEY_COLUMNS]
    + [sql.SQL("count(audit.ler_valor_monetario({}))").format(_column(c)) for c in MONEY_COLUMNS]
)


def physical_detect(conn: psycopg.Connection, data_inicio: date, data_fim: date) -> Floor:
    """The period's rule columns read once: sales scanned, bytes read."""
    params = {"data_inicio": data_inicio, "data_fim": data_fim}
    return _timed(lambda: conn.execute(_PHYSICAL_DETECT, params).fetchone())


def parse_once_detect(conn: psycopg.Connection, data_inicio: date, data_fim: date) -> Floor:
    """The same scan with every money text parsed once: sales scanned, readable amounts
    plus bytes of the other rule columns."""
    params = {"data_inicio": data_inicio, "data_fim": data_fim}
    return _timed(lambda: conn.execute(_PARSE_ONCE_DETECT, params).fetchone())


def prepare_apply(conn: psycopg.Connection, sessao_id: int) -> int:
    """Untimed: the fields session ``sessao_id`` corrected and the text it wrote in them,
    read back from byd.controladoria into ``bench_correcoes`` (one row per sale, NULL for a
    field left alone). Returns the number of fields.

    Run it right after the pipeline's apply, on a connection in autocommit (the temp table
    must outlive the rolled-back floor)."""
    fields = sql.SQL(", ").join(
        sql.SQL("CASE WHEN {name} = ANY(f.campos) THEN c.{col}::text END AS {col}").format(
            name=sql.Literal(field), col=sql.Identifier(field)
        )
        for field in WRITTEN_FIELDS
    )
    conn.execute("DROP TABLE IF EXISTS bench_correcoes")
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE bench_correcoes AS "
            "SELECT c.idnfsexterno, {fields} "
            "  FROM byd.controladoria c "
            "  JOIN (SELECT d.idnfsexterno, array_agg(d.campo_afetado::text) AS campos "
            "          FROM audit.divergencias_processadas d "
            "         WHERE d.sessao_alteracao_id = %(sessao_id)s AND d.status_processamento = 'AUTO_APPLIED' "
            "         GROUP BY d.idnfsexterno) f ON f.idnfsexterno = c.idnfsexterno"
        ).format(fields=fields),
        {"sessao_id": sessao_id},
    )
    conn.execute("ANALYZE bench_correcoes")
    counted = sql.SQL(" + ").join(sql.SQL("count({})").format(sql.Identifier(f)) for f in WRITTEN_FIELDS)
    return conn.execute(sql.SQL("SELECT {} FROM bench_correcoes").format(counted)).fetchone()[0]


_PHYSICAL_APPLY = sql.SQL(
    "UPDATE byd.controladoria c SET {} FROM bench_correcoes n WHERE c.idnfsexterno = n.idnfsexterno"
).format(
    sql.SQL(", ").join(sql.SQL("{f} = coalesce(n.{f}, c.{f})").format(f=sql.Identifier(f)) for f in WRITTEN_FIELDS)
)


def physical_apply(conn: psycopg.Connection, fields: int) -> Floor:
    """One UPDATE writing ``bench_correcoes`` (see ``prepare_apply``) into byd.controladoria,
    rolled back so the state the pipeline left is unchanged: rows updated, fields written."""
    with conn.transaction():
        floor = _timed(lambda: (conn.execute(_PHYSICAL_APPLY).rowcount, fields))
        raise psycopg.Rollback()
    return floor


def prepare_export(conn: psycopg.Connection, sessao_id: int) -> tuple[sql.Composed, int]:
    """Untimed: the ids of the report's rows, taken from the export's own query (so the
    floor never restates which rows a session's report holds) into ``bench_relatorio``.
    Returns the floor's COPY of those rows and of the report's columns as stored, and the
    number of rows."""
    report = sql.SQL(sql_file("divergencias/export_csv.sql").strip().rstrip(";"))
    conn.execute("DROP TABLE IF EXISTS bench_relatorio")
    conn.execute(
        sql.SQL("CREATE TEMP TABLE bench_relatorio AS SELECT r.id FROM ({}\n) AS r").format(report),
        {"sessao_id": sessao_id},
    )
    conn.execute("ANALYZE bench_relatorio")
    rows = conn.execute("SELECT count(*) FROM bench_relatorio").fetchone()[0]
    with conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM ({}\n) AS r LIMIT 0").format(report), {"sessao_id": sessao_id})
        header = [column.name for column in cur.description]
    stored = {
        name
        for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = 'audit' AND table_name = 'divergencias_processadas'"
        )
    }
    if missing := [name for name in header if name not in stored]:
        raise RuntimeError(f"report columns not stored as such in audit.divergencias_processadas: {missing}")
    copy = sql.SQL(
        "COPY (SELECT {} FROM audit.divergencias_processadas d WHERE d.id IN (SELECT id FROM bench_relatorio)) "
        "TO STDOUT WITH (FORMAT csv)"
    ).format(sql.SQL(", ").join(sql.SQL("d.{}").format(sql.Identifier(name)) for name in header))
    return copy, rows


def physical_export(conn: psycopg.Connection, copy: sql.Composed) -> Floor:
    """Stream the report's rows with the bare COPY of ``prepare_export``, chunks read and
    discarded: rows sent, bytes received."""

    def stream() -> tuple[int, int]:
        received = 0
        with conn.cursor() as cur:
            with cur.copy(copy) as out:
                for chunk in out:
                    received += len(chunk)
            # COPY's command tag: the rows the server sent.
            return cur.rowcount, received

    return _timed(stream)
