-- apply_corrections: in modo auto, writes the safe corrections of the run's period into
-- byd.controladoria, all or none (one transaction), with one BULK_UPDATE operation that
-- keeps every field's text before and after. modo manual changes nothing in byd.
-- Parameters: sessao_id, data_inicio, data_fim, modo.

SELECT pg_advisory_xact_lock(7420261129);

-- Lock the booked rows and read them, in one pass: from here to commit nobody can change
-- them, so the check "the field still holds what detection read" stays true until the write.
CREATE TEMP TABLE lancamentos ON COMMIT DROP AS
SELECT c.idnfsexterno::text AS idnfsexterno, c.bonus_dpto::text AS bonus_dpto,
       c.trade_mkt_dpto::text AS trade_mkt_dpto
  FROM byd.controladoria c
 WHERE c.idnfsexterno IN (
        SELECT d.idnfsexterno FROM audit.divergencias_processadas d
         WHERE d.status_processamento = 'DETECTED'
           AND d.tipo_divergencia IN ('TRADE_MARKETING_BONUS', 'TRADE_MARKETING_TRADE')
           AND d.dta_processamento >= %(data_inicio)s::date
           AND d.dta_processamento < %(data_fim)s::date + 1)
   AND %(modo)s = 'auto'
   FOR UPDATE;

ANALYZE lancamentos;

-- Each correctable divergence of the period with the reason it cannot be applied, if any.
-- Grouped by divergence: production's controladoria does not promise one row per sale.
CREATE TEMP TABLE correcoes ON COMMIT DROP AS
WITH config AS (
    SELECT audit.configuracao('limite_auto_aplicacao')::numeric AS limite_auto_aplicacao,
           audit.configuracao('limite_outlier')::numeric AS limite_outlier
)
SELECT d.id AS divergencia_id, d.idnfsexterno, d.campo_afetado, d.valor_original, d.valor_sugerido,
       audit.texto_monetario_canonico(d.valor_sugerido) AS valor_novo,
       CASE
           WHEN d.confidence_score < cfg.limite_auto_aplicacao
               THEN 'confiança abaixo do limite de aplicação automática'
           WHEN d.valor_sugerido IS NULL OR d.valor_sugerido < 0 OR d.valor_sugerido > cfg.limite_outlier
               THEN 'valor sugerido inválido (negativo, acima do limite ou ilegível)'
           WHEN count(l.idnfsexterno) = 0
               THEN 'venda sem lançamento em byd.controladoria'
           WHEN bool_or(CASE d.campo_afetado WHEN 'bonus_dpto' THEN l.bonus_dpto ELSE l.trade_mkt_dpto END
                        IS DISTINCT FROM d.valor_original)
               THEN 'campo alterado após a detecção: o valor atual foi preservado'
       END AS motivo_nao_aplicada
  FROM audit.divergencias_processadas d
 CROSS JOIN config cfg
  LEFT JOIN lancamentos l ON l.idnfsexterno = d.idnfsexterno
 WHERE %(modo)s = 'auto'
   AND d.status_processamento = 'DETECTED'
   AND d.tipo_divergencia IN ('TRADE_MARKETING_BONUS', 'TRADE_MARKETING_TRADE')
   AND d.dta_processamento >= %(data_inicio)s::date
   AND d.dta_processamento < %(data_fim)s::date + 1
 GROUP BY d.id, cfg.limite_auto_aplicacao, cfg.limite_outlier;

-- Temp tables have no statistics until analysed; the joins below need them.
ANALYZE correcoes;

UPDATE audit.divergencias_processadas d
   SET dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb)
                           || jsonb_build_object('motivo_nao_aplicada', c.motivo_nao_aplicada)
  FROM correcoes c
 WHERE d.id = c.divergencia_id
   AND c.motivo_nao_aplicada IS NOT NULL
   AND d.dados_contextuais ->> 'motivo_nao_aplicada' IS DISTINCT FROM c.motivo_nao_aplicada;

-- One operation for the whole batch; only when there is something to apply.
CREATE TEMP TABLE operacao_correcao ON COMMIT DROP AS
SELECT audit.registrar_operacao('BULK_UPDATE', 'Correção automática de divergências de trade marketing',
                                'airflow:divergencias_diarias', 'AUTOMATION', 'byd.controladoria',
                                count(*)::int, NULL) AS id
  FROM correcoes
 WHERE motivo_nao_aplicada IS NULL
HAVING count(*) > 0;

UPDATE audit.operacoes o
   SET sessao_id = %(sessao_id)s,
       filtros_aplicados = jsonb_build_object('data_inicio', %(data_inicio)s::text, 'data_fim', %(data_fim)s::text)
  FROM operacao_correcao oc
 WHERE o.id = oc.id;

-- The write, with its before/after record on the operation (audit.gravar_controladoria,
-- shared with rollbacks).
CREATE TEMP TABLE escritas_controladoria ON COMMIT DROP AS
SELECT oc.id AS operacao_id, c.divergencia_id, c.idnfsexterno, c.campo_afetado,
       c.valor_original AS valor_anterior, c.valor_novo AS valor
  FROM correcoes c CROSS JOIN operacao_correcao oc
 WHERE c.motivo_nao_aplicada IS NULL;

SELECT audit.gravar_controladoria();

UPDATE audit.divergencias_processadas d
   SET status_processamento = 'AUTO_APPLIED',
       valor_aplicado = c.valor_sugerido,
       decisao_automatica = true,
       processado_em = now(),
       processado_por = 'airflow:divergencias_diarias',
       operacao_id = oc.id,
       sessao_alteracao_id = %(sessao_id)s,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb) - 'motivo_nao_aplicada'
  FROM correcoes c, operacao_correcao oc
 WHERE d.id = c.divergencia_id
   AND c.motivo_nao_aplicada IS NULL;

-- A corrected field holds a value within [0, limite_outlier] by construction: a negative
-- or outlier divergence open on that same field no longer holds.
UPDATE audit.divergencias_processadas d
   SET status_processamento = 'RESOLVED',
       processado_em = now(),
       processado_por = 'airflow:divergencias_diarias',
       sessao_alteracao_id = %(sessao_id)s,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb)
                           || jsonb_build_object('motivo_resolucao', 'campo corrigido automaticamente')
  FROM correcoes c
 WHERE c.motivo_nao_aplicada IS NULL
   AND d.idnfsexterno = c.idnfsexterno
   AND d.campo_afetado = c.campo_afetado
   AND d.tipo_divergencia = 'VALIDACAO_VALOR'
   AND d.status_processamento = 'DETECTED';

SELECT audit.finalizar_operacao(id, 'SUCCESS', NULL) FROM operacao_correcao;

UPDATE audit.sessoes_processamento s
   SET correcoes_aplicadas = (SELECT count(*) FROM audit.divergencias_processadas d
                               WHERE d.sessao_alteracao_id = s.id
                                 AND d.status_processamento = 'AUTO_APPLIED'),
       etapas_concluidas = array_append(array_remove(s.etapas_concluidas, 'apply_corrections'),
                                        'apply_corrections')
 WHERE s.id = %(sessao_id)s;
