-- detect_divergences: evaluates the five rules of contract §5 over the run's period, and
-- over the sales of every open (DETECTED) divergence so each one is re-checked; records
-- the new ones, refreshes the open ones and marks RESOLVED those that no longer hold.
-- One transaction. Parameters: sessao_id, data_inicio, data_fim.

-- Overlapping runs take turns here and in apply_corrections, so two runs never judge the
-- same open divergence differently at the same time.
SELECT pg_advisory_xact_lock(7420261129);

-- The rows to evaluate, read from the view once, each money text parsed once here.
-- dta_processamento is local wall time: the period is [data_inicio 00:00, data_fim + 1 day 00:00).
CREATE TEMP TABLE vendas_avaliadas ON COMMIT DROP AS
WITH fonte AS NOT MATERIALIZED (
    SELECT v.idnfsexterno::text AS idnfsexterno, v.dta_processamento, v.data_final_venda,
           v.competencia::text AS mes_origem, v.des_modelo::text AS des_modelo, v.chassi::text AS chassi,
           v.revenda::text AS revenda, v.bonus_utilizado::text AS bonus_utilizado,
           v.apontamento::text AS apontamento,
           v.valor_bonus::text AS valor_bonus, v.trade::text AS trade,
           v.bonus_dpto::text AS bonus_dpto, v.trade_mkt_dpto::text AS trade_mkt_dpto,
           (v.dta_processamento >= %(data_inicio)s::date
            AND v.dta_processamento < %(data_fim)s::date + 1) IS TRUE AS no_periodo
      FROM byd.bonus_view v
), linhas AS (
    SELECT * FROM fonte
     WHERE dta_processamento >= %(data_inicio)s::date AND dta_processamento < %(data_fim)s::date + 1
    UNION ALL
    -- sales of open divergences outside the period, so every open divergence is re-checked
    SELECT * FROM fonte
     WHERE idnfsexterno IN (SELECT d.idnfsexterno FROM audit.divergencias_processadas d
                             WHERE d.status_processamento = 'DETECTED')
       AND NOT no_periodo
)
SELECT l.*,
       audit.ler_valor_monetario(l.valor_bonus) AS n_valor_bonus,
       audit.ler_valor_monetario(l.trade) AS n_trade,
       audit.ler_valor_monetario(l.bonus_dpto) AS n_bonus_dpto,
       audit.ler_valor_monetario(l.trade_mkt_dpto) AS n_trade_mkt_dpto
  FROM linhas l;

-- Every rule that fires, one row per (sale, rule, field): the contract's rules table.
-- Only sales on which some rule can fire are expanded into the eleven rule rows.
CREATE TEMP TABLE candidatas ON COMMIT DROP AS
WITH config AS (
    SELECT audit.configuracao('tolerancia_valor')::numeric AS tolerancia,
           audit.configuracao('limite_outlier')::numeric AS limite_outlier
), lidas AS MATERIALIZED (
    SELECT a.*,
           a.n_valor_bonus IS NULL AND NOT audit.texto_monetario_vazio(a.valor_bonus) AS i_valor_bonus,
           a.n_trade IS NULL AND NOT audit.texto_monetario_vazio(a.trade) AS i_trade,
           a.n_bonus_dpto IS NULL AND NOT audit.texto_monetario_vazio(a.bonus_dpto) AS i_bonus_dpto,
           a.n_trade_mkt_dpto IS NULL AND NOT audit.texto_monetario_vazio(a.trade_mkt_dpto) AS i_trade_mkt_dpto
      FROM vendas_avaliadas a
     CROSS JOIN config c
     WHERE a.apontamento = 'Revisar Divergência!'
        OR btrim(a.bonus_utilizado) = 'PENDENTE VERIFICACAO'
        OR NOT (a.n_valor_bonus BETWEEN 0 AND c.limite_outlier AND a.n_trade BETWEEN 0 AND c.limite_outlier
                AND a.n_bonus_dpto BETWEEN 0 AND c.limite_outlier
                AND a.n_trade_mkt_dpto BETWEEN 0 AND c.limite_outlier)
        OR a.n_valor_bonus IS NULL OR a.n_trade IS NULL OR a.n_bonus_dpto IS NULL OR a.n_trade_mkt_dpto IS NULL
)
SELECT l.idnfsexterno, r.tipo_divergencia, r.campo_afetado, r.valor_original,
       -- numeric(15,2) columns: a value too large to fit keeps only its text (valor_original)
       CASE WHEN abs(r.valor_anterior) < 1e13 THEN r.valor_anterior END AS valor_anterior,
       CASE WHEN abs(r.valor_sugerido) < 1e13 THEN r.valor_sugerido END AS valor_sugerido,
       r.confidence_score, ARRAY[r.regra] AS regras_aplicadas,
       to_char(coalesce(l.data_final_venda, l.dta_processamento), 'YYYY-MM') AS competencia,
       l.dta_processamento, l.no_periodo,
       jsonb_strip_nulls(jsonb_build_object(
           'competencia_origem', l.mes_origem, 'modelo', l.des_modelo, 'chassi', l.chassi,
           'revenda', l.revenda, 'apontamento', l.apontamento, 'valor_referencia', r.valor_referencia,
           'correcao_automatica', r.correcao_automatica)) AS dados_contextuais
  FROM lidas l
 CROSS JOIN config c
 CROSS JOIN LATERAL (VALUES
    ('TRADE_MARKETING_BONUS', 'bonus_dpto', 'TRADE_MARKETING_BONUS', l.bonus_dpto, l.n_bonus_dpto,
     coalesce(l.n_valor_bonus, 0.00), 0.95, l.valor_bonus, true,
     l.apontamento = 'Revisar Divergência!' AND NOT l.i_bonus_dpto AND NOT l.i_valor_bonus
       AND abs(coalesce(l.n_bonus_dpto, 0) - coalesce(l.n_valor_bonus, 0)) > c.tolerancia),
    ('TRADE_MARKETING_TRADE', 'trade_mkt_dpto', 'TRADE_MARKETING_TRADE', l.trade_mkt_dpto, l.n_trade_mkt_dpto,
     coalesce(l.n_trade, 0.00), 0.95, l.trade, true,
     l.apontamento = 'Revisar Divergência!' AND NOT l.i_trade_mkt_dpto AND NOT l.i_trade
       AND abs(coalesce(l.n_trade_mkt_dpto, 0) - coalesce(l.n_trade, 0)) > c.tolerancia),
    ('PENDENTE_VERIFICACAO', 'bonus_utilizado', 'PENDENTE_VERIFICACAO', l.bonus_utilizado, NULL,
     NULL, 0.50, NULL, false,
     btrim(l.bonus_utilizado) = 'PENDENTE VERIFICACAO'),
    ('VALIDACAO_VALOR', 'valor_bonus', CASE WHEN l.n_valor_bonus < 0 THEN 'VALOR_NEGATIVO' ELSE 'VALOR_OUTLIER' END,
     l.valor_bonus, l.n_valor_bonus, NULL, 0.70, NULL, false,
     l.n_valor_bonus < 0 OR l.n_valor_bonus > c.limite_outlier),
    ('VALIDACAO_VALOR', 'trade', CASE WHEN l.n_trade < 0 THEN 'VALOR_NEGATIVO' ELSE 'VALOR_OUTLIER' END,
     l.trade, l.n_trade, NULL, 0.70, NULL, false,
     l.n_trade < 0 OR l.n_trade > c.limite_outlier),
    ('VALIDACAO_VALOR', 'bonus_dpto', CASE WHEN l.n_bonus_dpto < 0 THEN 'VALOR_NEGATIVO' ELSE 'VALOR_OUTLIER' END,
     l.bonus_dpto, l.n_bonus_dpto, NULL, 0.70, NULL, false,
     l.n_bonus_dpto < 0 OR l.n_bonus_dpto > c.limite_outlier),
    ('VALIDACAO_VALOR', 'trade_mkt_dpto', CASE WHEN l.n_trade_mkt_dpto < 0 THEN 'VALOR_NEGATIVO' ELSE 'VALOR_OUTLIER' END,
     l.trade_mkt_dpto, l.n_trade_mkt_dpto, NULL, 0.70, NULL, false,
     l.n_trade_mkt_dpto < 0 OR l.n_trade_mkt_dpto > c.limite_outlier),
    ('VALOR_INVALIDO', 'valor_bonus', 'VALOR_INVALIDO', l.valor_bonus, NULL, NULL, 1.00, NULL, false, l.i_valor_bonus),
    ('VALOR_INVALIDO', 'trade', 'VALOR_INVALIDO', l.trade, NULL, NULL, 1.00, NULL, false, l.i_trade),
    ('VALOR_INVALIDO', 'bonus_dpto', 'VALOR_INVALIDO', l.bonus_dpto, NULL, NULL, 1.00, NULL, false, l.i_bonus_dpto),
    ('VALOR_INVALIDO', 'trade_mkt_dpto', 'VALOR_INVALIDO', l.trade_mkt_dpto, NULL, NULL, 1.00, NULL, false,
     l.i_trade_mkt_dpto)
 ) AS r(tipo_divergencia, campo_afetado, regra, valor_original, valor_anterior, valor_sugerido,
        confidence_score, valor_referencia, correcao_automatica, dispara)
 WHERE r.dispara;

-- The operation that records this run's findings; finished below with its count.
CREATE TEMP TABLE operacao_deteccao ON COMMIT DROP AS
SELECT audit.registrar_operacao('DETECT', 'Detecção de divergências', 'airflow:divergencias_diarias',
                                'AUTOMATION', 'audit.divergencias_processadas', 0, NULL) AS id;

UPDATE audit.operacoes o
   SET sessao_id = %(sessao_id)s,
       filtros_aplicados = jsonb_build_object('data_inicio', %(data_inicio)s::text, 'data_fim', %(data_fim)s::text)
  FROM operacao_deteccao od
 WHERE o.id = od.id;

-- Open divergences whose condition no longer holds are RESOLVED, saying why.
UPDATE audit.divergencias_processadas d
   SET status_processamento = 'RESOLVED',
       processado_em = now(),
       processado_por = 'airflow:divergencias_diarias',
       sessao_alteracao_id = %(sessao_id)s,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb) || jsonb_build_object(
           'motivo_resolucao',
           CASE WHEN d.idnfsexterno IN (SELECT a.idnfsexterno FROM vendas_avaliadas a)
                THEN 'a condição não se verifica mais na origem'
                ELSE 'venda não encontrada na origem (byd.bonus_view)' END)
 WHERE d.status_processamento = 'DETECTED'
   AND NOT EXISTS (SELECT 1 FROM candidatas c
                    WHERE c.idnfsexterno = d.idnfsexterno
                      AND c.tipo_divergencia = d.tipo_divergencia
                      AND c.campo_afetado = d.campo_afetado);

-- Open divergences that still hold take the values seen now, so apply_corrections
-- compares the field with what this detection read.
UPDATE audit.divergencias_processadas d
   SET valor_original = c.valor_original,
       valor_anterior = c.valor_anterior,
       valor_sugerido = c.valor_sugerido,
       regras_aplicadas = c.regras_aplicadas,
       competencia = c.competencia,
       dta_processamento = c.dta_processamento,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb) || c.dados_contextuais
  FROM candidatas c
 WHERE d.status_processamento = 'DETECTED'
   AND c.idnfsexterno = d.idnfsexterno
   AND c.tipo_divergencia = d.tipo_divergencia
   AND c.campo_afetado = d.campo_afetado
   AND (d.valor_original, d.valor_anterior, d.valor_sugerido, d.regras_aplicadas, d.dta_processamento)
       IS DISTINCT FROM (c.valor_original, c.valor_anterior, c.valor_sugerido, c.regras_aplicadas,
                         c.dta_processamento);

-- New divergences. Not reopened: one already open, or one a person REJECTED or a rollback
-- undid, while its values stay the same.
INSERT INTO audit.divergencias_processadas
       (operacao_id, sessao_id, idnfsexterno, tipo_divergencia, campo_afetado, competencia,
        valor_original, valor_anterior, valor_sugerido, status_processamento, decisao_automatica,
        confidence_score, regras_aplicadas, dados_contextuais, dta_processamento)
SELECT od.id, %(sessao_id)s, c.idnfsexterno, c.tipo_divergencia, c.campo_afetado, c.competencia,
       c.valor_original, c.valor_anterior, c.valor_sugerido, 'DETECTED', false,
       c.confidence_score, c.regras_aplicadas, c.dados_contextuais, c.dta_processamento
  FROM candidatas c
 CROSS JOIN operacao_deteccao od
 WHERE NOT EXISTS (
        SELECT 1 FROM audit.divergencias_processadas d
         WHERE d.idnfsexterno = c.idnfsexterno
           AND d.tipo_divergencia = c.tipo_divergencia
           AND d.campo_afetado = c.campo_afetado
           AND (d.status_processamento = 'DETECTED'
                OR (d.status_processamento IN ('REJECTED', 'ROLLED_BACK')
                    AND d.valor_original IS NOT DISTINCT FROM c.valor_original
                    AND d.valor_sugerido IS NOT DISTINCT FROM c.valor_sugerido)))
 ORDER BY c.dta_processamento, c.idnfsexterno, c.tipo_divergencia, c.campo_afetado
ON CONFLICT (idnfsexterno, tipo_divergencia, campo_afetado) WHERE status_processamento = 'DETECTED'
DO NOTHING;

UPDATE audit.operacoes o
   SET registros_afetados = (SELECT count(*) FROM audit.divergencias_processadas d WHERE d.operacao_id = o.id)
  FROM operacao_deteccao od
 WHERE o.id = od.id;

SELECT audit.finalizar_operacao(id, 'SUCCESS', NULL) FROM operacao_deteccao;

-- Odd source data that no rule records, kept on the session and shown in the email.
UPDATE audit.sessoes_processamento s
   SET log_completo = nullif(concat_ws(E'\n',
           (SELECT 'AVISO: ' || count(*) || ' venda(s) sem dta_processamento em byd.bonus_view: '
                   || 'ficam fora de qualquer período.'
              FROM byd.bonus_view v WHERE v.dta_processamento IS NULL HAVING count(*) > 0),
           (SELECT 'AVISO: ' || (count(*) - count(DISTINCT idnfsexterno))
                   || ' linha(s) repetida(s) de idnfsexterno no período em byd.bonus_view: '
                   || 'cada divergência foi registrada uma única vez.'
              FROM vendas_avaliadas WHERE no_periodo HAVING count(*) > count(DISTINCT idnfsexterno))), '')
 WHERE s.id = %(sessao_id)s;

UPDATE audit.sessoes_processamento s
   SET total_registros_analisados = (SELECT count(*) FROM vendas_avaliadas WHERE no_periodo),
       divergencias_detectadas = (SELECT count(*) FROM audit.divergencias_processadas d
                                   WHERE d.sessao_id = s.id),
       etapas_concluidas = array_append(array_remove(s.etapas_concluidas, 'detect_divergences'),
                                        'detect_divergences')
 WHERE s.id = %(sessao_id)s;
