-- 006: the one place that writes byd.controladoria (redefined by 008). Callers fill a temp
-- table escritas_controladoria (idnfsexterno, campo_afetado, valor) in their own
-- transaction and call this. jsonb_populate_record converts the text to the column's own
-- type, so text columns (production) and numeric ones both work. PL/pgSQL because the
-- body may only be checked once byd exists.
CREATE OR REPLACE FUNCTION audit.gravar_controladoria() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    linhas integer;
BEGIN
    UPDATE byd.controladoria c
       SET bonus_dpto = CASE WHEN n.tem_bonus_dpto
                             THEN (jsonb_populate_record(NULL::byd.controladoria,
                                       jsonb_build_object('bonus_dpto', n.bonus_dpto))).bonus_dpto
                             ELSE c.bonus_dpto END,
           trade_mkt_dpto = CASE WHEN n.tem_trade_mkt_dpto
                                 THEN (jsonb_populate_record(NULL::byd.controladoria,
                                           jsonb_build_object('trade_mkt_dpto', n.trade_mkt_dpto))).trade_mkt_dpto
                                 ELSE c.trade_mkt_dpto END
      FROM (SELECT e.idnfsexterno,
                   bool_or(e.campo_afetado = 'bonus_dpto') AS tem_bonus_dpto,
                   max(e.valor) FILTER (WHERE e.campo_afetado = 'bonus_dpto') AS bonus_dpto,
                   bool_or(e.campo_afetado = 'trade_mkt_dpto') AS tem_trade_mkt_dpto,
                   max(e.valor) FILTER (WHERE e.campo_afetado = 'trade_mkt_dpto') AS trade_mkt_dpto
              FROM escritas_controladoria e
             GROUP BY e.idnfsexterno) AS n
     WHERE c.idnfsexterno = n.idnfsexterno;
    GET DIAGNOSTICS linhas = ROW_COUNT;
    RETURN linhas;
END
$$;
