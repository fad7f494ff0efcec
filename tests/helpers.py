"""Building blocks for tests: sales written straight into the demo ``byd`` tables."""

from __future__ import annotations

import time
from datetime import date, datetime

import psycopg

DEFAULT_MOMENT = datetime(2026, 11, 10, 10, 30)


def add_sale(
    conn: psycopg.Connection,
    idnfsexterno: str,
    *,
    valor_bonus: str | None = "5000.00",
    trade: str | None = "0",
    bonus_dpto: str | None = "5000.00",
    trade_mkt_dpto: str | None = "0",
    bonus_utilizado: str = "SIM",
    dta_processamento: datetime | None = DEFAULT_MOMENT,
    data_final_venda: datetime | None = DEFAULT_MOMENT,
    revenda: str = "BYD Paulista",
    booked: bool = True,
) -> None:
    """One sale; ``booked=False`` leaves it without a byd.controladoria row."""
    conn.execute(
        """INSERT INTO byd.vendas (idnfsexterno, dta_processamento, data_final_venda, des_modelo, chassi, revenda)
           VALUES (%s, %s, %s, 'BYD DOLPHIN', 'LGXCE4CB0R0000001', %s)""",
        (idnfsexterno, dta_processamento, data_final_venda, revenda),
    )
    conn.execute(
        "INSERT INTO byd.incentivos (idnfsexterno, valor_bonus, trade, bonus_utilizado) VALUES (%s, %s, %s, %s)",
        (idnfsexterno, valor_bonus, trade, bonus_utilizado),
    )
    if booked:
        conn.execute(
            "INSERT INTO byd.controladoria (idnfsexterno, bonus_dpto, trade_mkt_dpto) VALUES (%s, %s, %s)",
            (idnfsexterno, bonus_dpto, trade_mkt_dpto),
        )


def booked(conn: psycopg.Connection, idnfsexterno: str) -> tuple[str | None, str | None]:
    return conn.execute(
        "SELECT bonus_dpto, trade_mkt_dpto FROM byd.controladoria WHERE idnfsexterno = %s", (idnfsexterno,)
    ).fetchone()


def divergences(conn: psycopg.Connection, idnfsexterno: str | None = None) -> list[dict]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT * FROM audit.divergencias_processadas
                WHERE %(id)s::text IS NULL OR idnfsexterno = %(id)s
                ORDER BY idnfsexterno, tipo_divergencia, campo_afetado, id""",
            {"id": idnfsexterno},
        ).fetchall()


def by_key(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {(r["tipo_divergencia"], r["campo_afetado"]): r for r in rows}


def business_state(conn: psycopg.Connection) -> tuple[list[tuple], list[tuple]]:
    """What a run leaves behind, without ids and timestamps: the booked values and every
    divergence's key, status and values."""
    booked_rows = conn.execute(
        "SELECT idnfsexterno, bonus_dpto, trade_mkt_dpto FROM byd.controladoria ORDER BY 1"
    ).fetchall()
    found = conn.execute(
        """SELECT idnfsexterno, tipo_divergencia, campo_afetado, status_processamento, valor_original,
                  valor_sugerido, valor_aplicado
             FROM audit.divergencias_processadas ORDER BY 1, 2, 3, 4"""
    ).fetchall()
    return booked_rows, found


def run_session_at(dsn: str, start_at: float, data_inicio: date, data_fim: date) -> int:
    """A whole run in its own process, started at a wall-clock moment shared with others."""
    from devtools.sql_steps import run_session

    while time.time() < start_at:
        time.sleep(0.002)
    with psycopg.connect(dsn, autocommit=True) as conn:
        return run_session(conn, data_inicio, data_fim)["sessao_id"]


def flag_every_sale(conn: psycopg.Connection) -> None:
    """Replace the demo view with one whose apontamento is 'Revisar Divergência!' on every
    sale, as a business's view may be: the money texts alone then decide what fires (the
    demo view's own reading is not under test)."""
    conn.execute("DROP VIEW IF EXISTS byd.bonus_view")
    conn.execute(
        """CREATE VIEW byd.bonus_view AS
           SELECT v.idnfsexterno, v.dta_processamento, v.data_final_venda, NULL::text AS competencia,
                  v.des_modelo, v.chassi, v.revenda, i.bonus_utilizado,
                  'Revisar Divergência!'::text AS apontamento, i.valor_bonus, i.trade, c.bonus_dpto, c.trade_mkt_dpto
             FROM byd.vendas v
             LEFT JOIN byd.incentivos i ON i.idnfsexterno = v.idnfsexterno
             LEFT JOIN byd.controladoria c ON c.idnfsexterno = v.idnfsexterno"""
    )


def add_throwaway_rule(conn: psycopg.Connection) -> None:
    """A sixth rule added to the catalog as a migration would: BONUS_ALTO_NAO_UTILIZADO, a
    valor_bonus above 7,000 on a sale whose bonus_utilizado is 'NAO'; not correctable."""
    conn.execute(
        """INSERT INTO audit.regras_divergencia
               (codigo, rotulo, descricao, campos, confidence_score, corrigivel, condicao, regra, ordem)
           VALUES ('BONUS_ALTO_NAO_UTILIZADO', 'Bônus alto não utilizado', 'Regra descartável do teste.',
                   '{valor_bonus}', 0.60, false,
                   'f.valor > 7000 AND v.bonus_utilizado = ''NAO''', '''BONUS_ALTO''', 99)"""
    )
