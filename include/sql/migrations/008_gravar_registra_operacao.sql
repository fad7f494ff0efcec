-- 008: the one writer of byd.controladoria also records what it wrote. Callers fill the
-- temp table escritas_controladoria (operacao_id, divergencia_id, idnfsexterno,
-- campo_afetado, valor_anterior, valor); each operation named there gets every field's
-- text before (dados_anteriores) and after (dados_posteriores). Corrections and rollbacks
-- can no longer write byd without that record.
CREATE OR REPLACE FUNCTION audit.gravar_controladoria() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    linhas integer;
BEGIN
    UPDATE audit.operacoes o
       SET dados_anteriores = e.antes,
           dados_posteriores = e.depois
      FROM (SELECT operacao_id,
                   jsonb_agg(jsonb_build_object('divergencia_id', divergencia_id, 'idnfsexterno', idnfsexterno,
                                                'campo', campo_afetado, 'valor', valor_anterior)
                             ORDER BY divergencia_id) AS antes,
                   jsonb_agg(jsonb_build_object('divergencia_id', divergencia_id, 'idnfsexterno', idnfsexterno,
                                                'campo', campo_afetado, 'valor', valor)
                             ORDER BY divergencia_id) AS depois
              FROM escritas_controladoria
             GROUP BY operacao_id) AS e
     WHERE o.id = e.operacao_id;

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
