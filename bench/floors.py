"""The floors: the least work PostgreSQL must do for each phase on the same data.

Each floor is one plain statement doing the phase's irreducible job (scan and test the
period's sales; write the corrected fields; stream the report's rows), so a phase's
ratio to its floor shows how much the pipeline's bookkeeping (audit rows, re-checks,
locks, JSON context) costs on top. These statements are the benchmark's own yardsticks;
the phases themselves always run the DAG's SQL files.
"""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import psycopg

# Contract §5 thresholds (audit.configuracoes_sistema defaults), exact decimals.
TOLERANCE = Decimal("0.01")
OUTLIER_LIMIT = Decimal("100000")
AUTO_APPLY_CONFIDENCE = Decimal("0.95")

# The five rules as one boolean per sale: the minimum a detector has to evaluate.
_DETECT_FLOOR = """
SELECT count(*)
  FROM byd.bonus_view v
 WHERE v.dta_processamento >= %(data_inicio)s::date
   AND v.dta_processamento < %(data_fim)s::date + 1
   AND (   (v.apontamento = 'Revisar Divergência!'
            AND NOT audit.texto_monetario_ilegivel(v.bonus_dpto::text)
            AND NOT audit.texto_monetario_ilegivel(v.valor_bonus::text)
            AND abs(coalesce(audit.ler_valor_monetario(v.bonus_dpto::text), 0)
                    - coalesce(audit.ler_valor_monetario(v.valor_bonus::text), 0)) > %(tolerance)s)
        OR (v.apontamento = 'Revisar Divergência!'
            AND NOT audit.texto_monetario_ilegivel(v.trade_mkt_dpto::text)
            AND NOT audit.texto_monetario_ilegivel(v.trade::text)
            AND abs(coalesce(audit.ler_valor_monetario(v.trade_mkt_dpto::text), 0)
                    - coalesce(audit.ler_valor_monetario(v.trade::text), 0)) > %(tolerance)s)
        OR btrim(v.bonus_utilizado::text) = 'PENDENTE VERIFICACAO'
        OR audit.ler_valor_monetario(v.valor_bonus::text) NOT BETWEEN 0 AND %(outlier)s
        OR audit.ler_valor_monetario(v.trade::text) NOT BETWEEN 0 AND %(outlier)s
        OR audit.ler_valor_monetario(v.bonus_dpto::text) NOT BETWEEN 0 AND %(outlier)s
        OR audit.ler_valor_monetario(v.trade_mkt_dpto::text) NOT BETWEEN 0 AND %(outlier)s
        OR audit.texto_monetario_ilegivel(v.valor_bonus::text)
        OR audit.texto_monetario_ilegivel(v.trade::text)
        OR audit.texto_monetario_ilegivel(v.bonus_dpto::text)
        OR audit.texto_monetario_ilegivel(v.trade_mkt_dpto::text))
"""

# Exactly the corrections apply_corrections would write (same eligibility: open
# trade-marketing divergence of the period, confidence, suggested value in range, field
# unchanged since detection), one row per sale, computed before the clock starts.
_APPLY_FLOOR_PREPARE = """
CREATE TEMP TABLE bench_corrections AS
SELECT d.idnfsexterno,
       max(audit.texto_monetario_canonico(d.valor_sugerido)) FILTER (WHERE d.campo_afetado = 'bonus_dpto')
           AS bonus_dpto,
       max(audit.texto_monetario_canonico(d.valor_sugerido)) FILTER (WHERE d.campo_afetado = 'trade_mkt_dpto')
           AS trade_mkt_dpto,
       count(*) AS fields
  FROM audit.divergencias_processadas d
  JOIN byd.controladoria c ON c.idnfsexterno = d.idnfsexterno
 WHERE d.status_processamento = 'DETECTED'
   AND d.tipo_divergencia IN ('TRADE_MARKETING_BONUS', 'TRADE_MARKETING_TRADE')
   AND d.dta_processamento >= %(data_inicio)s::date
   AND d.dta_processamento < %(data_fim)s::date + 1
   AND d.confidence_score >= %(confidence)s
   AND d.valor_sugerido BETWEEN 0 AND %(outlier)s
   AND abs(d.valor_sugerido - coalesce(audit.ler_valor_monetario(d.valor_original), 0))
       < audit.configuracao_validada('limite_dupla_aprovacao')::numeric
   AND CASE d.campo_afetado WHEN 'bonus_dpto' THEN c.bonus_dpto::text ELSE c.trade_mkt_dpto::text END
       IS NOT DISTINCT FROM d.valor_original
 GROUP BY d.idnfsexterno
"""

_APPLY_FLOOR = """
UPDATE byd.controladoria c
   SET bonus_dpto = coalesce(n.bonus_dpto, c.bonus_dpto),
       trade_mkt_dpto = coalesce(n.trade_mkt_dpto, c.trade_mkt_dpto)
  FROM bench_corrections n
 WHERE c.idnfsexterno = n.idnfsexterno
"""

# The report's 17 columns and rows, unformatted and unordered: just the bytes out.
_EXPORT_FLOOR = """
COPY (SELECT d.id, d.sessao_id, d.idnfsexterno, d.tipo_divergencia, d.campo_afetado, d.valor_original,
             d.valor_anterior, d.valor_sugerido, d.valor_aplicado, d.competencia, d.status_processamento,
             d.confidence_score, d.regras_aplicadas, d.detectado_em, d.processado_em,
             d.processado_por, d.motivo_rejeicao
        FROM audit.divergencias_processadas d
       WHERE d.sessao_id = %(sessao_id)s
          OR d.sessao_alteracao_id = %(sessao_id)s
          OR d.status_processamento = 'DETECTED')
TO STDOUT WITH (FORMAT csv)
"""


def detect_floor(conn: psycopg.Connection, data_inicio: date, data_fim: date) -> tuple[float, int]:
    """Seconds of one scan that evaluates every rule's predicate; and how many sales fire."""
    params = {"data_inicio": data_inicio, "data_fim": data_fim, "tolerance": TOLERANCE, "outlier": OUTLIER_LIMIT}
    started = time.perf_counter()
    firing = conn.execute(_DETECT_FLOOR, params).fetchone()[0]
    return time.perf_counter() - started, firing


def apply_floor(conn: psycopg.Connection, data_inicio: date, data_fim: date) -> tuple[float, int, int]:
    """Seconds of the bare UPDATE of the applicable corrections, rolled back so the real
    apply phase that follows finds the state detection left; the sales it updated; and
    the fields it corrected (to compare with the corrections apply_corrections makes).

    ``conn`` must be in autocommit so the temp table outlives the rolled-back write.
    """
    conn.execute("DROP TABLE IF EXISTS bench_corrections")
    conn.execute(
        _APPLY_FLOOR_PREPARE,
        {
            "data_inicio": data_inicio,
            "data_fim": data_fim,
            "confidence": AUTO_APPLY_CONFIDENCE,
            "outlier": OUTLIER_LIMIT,
        },
    )
    conn.execute("ANALYZE bench_corrections")
    fields = conn.execute("SELECT coalesce(sum(fields), 0)::bigint FROM bench_corrections").fetchone()[0]
    with conn.transaction():
        started = time.perf_counter()
        updated = conn.execute(_APPLY_FLOOR).rowcount
        elapsed = time.perf_counter() - started
        raise psycopg.Rollback()
    return elapsed, updated, fields


def export_floor(conn: psycopg.Connection, sessao_id: int) -> tuple[float, int]:
    """Seconds to stream the report's rows with a bare COPY, chunks read and discarded;
    and the bytes received."""
    received = 0
    started = time.perf_counter()
    with conn.cursor() as cur, cur.copy(_EXPORT_FLOOR, {"sessao_id": sessao_id}) as stream:
        for chunk in stream:
            received += len(chunk)
    return time.perf_counter() - started, received
