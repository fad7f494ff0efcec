-- apply_corrections: in modo auto, writes the safe corrections of the run's period into
-- byd.controladoria, all or none (one transaction), with one BULK_UPDATE operation that
-- keeps every field's text before and after. modo manual changes nothing in byd.
-- Correctable rules are those the catalog (audit.regras_divergencia) marks corrigivel and
-- ativo, on the fields it lists: a rule switched off, or a field taken out of its campos, was
-- not evaluated by detection, so nothing of it is applied.
-- Parameters: sessao_id, data_inicio, data_fim, modo, usuario, tentativa.

-- First, before waiting for anything: this attempt's row (migration 064), locked until the
-- transaction ends and deleted if it commits; a killed worker's is left for the next attempt.
SELECT audit.assumir_etapa(%(tentativa)s);

SELECT audit.iniciar_etapa(serializada => true);

-- The correctable divergences of the period, and whether a person already decided them
-- (audit.decisao_mantida: rejected, or rolled back, with the same values).
CREATE TEMP TABLE corrigiveis ON COMMIT DROP AS
-- The confidence is the catalog's, read here: an admin's change between detection and this
-- step holds too (detection already copied it onto the open rows).
SELECT d.id, d.idnfsexterno, d.campo_afetado, d.valor_original, d.valor_sugerido, r.confidence_score,
       -- The suggestion as the source holds it (the rule's reference text, read as detection
       -- read it): valor_sugerido keeps it rounded to cents, and -0.004 rounds to a valid 0.00.
       -- Empty reads 0 as in the rule; a NULL text is left out of the context, so absent too.
       audit.valor_atual_campo(d.dados_contextuais ->> 'valor_referencia') AS referencia,
       d.dados_contextuais ? 'linhas_conflitantes' AS linhas_conflitantes, decidida.id IS NOT NULL AS decisao_mantida
  FROM audit.divergencias_processadas d
  JOIN audit.regras_divergencia r
    ON r.codigo = d.tipo_divergencia AND r.corrigivel AND r.ativo AND d.campo_afetado = ANY (r.campos)
  LEFT JOIN (SELECT DISTINCT a.id
               FROM audit.divergencias_processadas a
               JOIN audit.divergencias_processadas f
                 ON (f.idnfsexterno, f.tipo_divergencia, f.campo_afetado)
                    = (a.idnfsexterno, a.tipo_divergencia, a.campo_afetado)
              WHERE a.status_processamento = 'DETECTED'
                AND audit.decisao_mantida(f, a.valor_original, a.dados_contextuais ->> 'valor_referencia',
                                          a.valor_anterior, a.valor_sugerido)) AS decidida ON decidida.id = d.id
 WHERE %(modo)s = 'auto'
   AND d.status_processamento = 'DETECTED'
   AND d.dta_processamento >= %(data_inicio)s::date
   AND d.dta_processamento < %(data_fim)s::date + 1;

-- Lock the booked rows and read them, in one pass: from here to commit nobody can change
-- them, so the check "the field still holds what detection read" stays true until the write.
CREATE TEMP TABLE lancamentos ON COMMIT DROP AS
SELECT c.idnfsexterno::text AS idnfsexterno, c.bonus_dpto::text AS bonus_dpto,
       c.trade_mkt_dpto::text AS trade_mkt_dpto
  FROM byd.controladoria c
 WHERE c.idnfsexterno IN (SELECT k.idnfsexterno FROM corrigiveis k)
   FOR UPDATE;

-- Statistics on the join keys only: the joins below need them, the other columns do not.
ANALYZE lancamentos (idnfsexterno);

-- Each correctable divergence with the reason it cannot be applied, if any. Every check is
-- written so that a NULL (a missing value, an unknown setting) refuses: a correction is
-- applied only when all of them are true. Grouped by divergence: production's
-- controladoria does not promise one row per sale.
CREATE TEMP TABLE correcoes ON COMMIT DROP AS
-- MATERIALIZED: read once; inlined, the settings would be re-validated for every row.
WITH config AS MATERIALIZED (
    SELECT audit.configuracao_validada('limite_auto_aplicacao')::numeric AS limite_auto_aplicacao,
           audit.configuracao_validada('limite_outlier')::numeric AS limite_outlier,
           audit.configuracao_validada('limite_dupla_aprovacao')::numeric AS limite_dupla_aprovacao
)
SELECT k.id AS divergencia_id, k.idnfsexterno, k.campo_afetado, k.valor_original, k.valor_sugerido,
       audit.texto_monetario_canonico(k.valor_sugerido) AS valor_novo,
       CASE
           WHEN (k.confidence_score >= cfg.limite_auto_aplicacao) IS NOT TRUE
               THEN 'confiança abaixo do limite de aplicação automática'
           WHEN (k.referencia BETWEEN 0 AND cfg.limite_outlier) IS NOT TRUE
               THEN 'valor sugerido inválido (negativo, acima do limite ou ilegível)'
           -- Two decimals that are not the source's value: the next run would find them still
           -- divergent (a tolerance below half a cent) and write them again, every run.
           WHEN (k.valor_sugerido = k.referencia) IS NOT TRUE
               THEN 'valor de referência com mais de duas casas decimais: revisar'
           WHEN (abs(k.valor_sugerido - coalesce(audit.ler_valor_monetario(k.valor_original), 0))
                 < cfg.limite_dupla_aprovacao) IS NOT TRUE
               THEN 'variação a partir de limite_dupla_aprovacao: exige a aprovação de duas pessoas'
           WHEN k.decisao_mantida
               THEN 'uma pessoa rejeitou (ou desfez) esta correção com os mesmos valores: decisão mantida'
           WHEN k.linhas_conflitantes
               THEN 'venda repetida em byd.bonus_view com valores diferentes: revisar a origem'
           WHEN count(l.idnfsexterno) = 0
               THEN 'venda sem lançamento em byd.controladoria'
           WHEN bool_or(CASE k.campo_afetado WHEN 'bonus_dpto' THEN l.bonus_dpto ELSE l.trade_mkt_dpto END
                        IS DISTINCT FROM k.valor_original)
               THEN 'campo alterado após a detecção: o valor atual foi preservado'
       END AS motivo_nao_aplicada
  FROM corrigiveis k
 CROSS JOIN config cfg
  LEFT JOIN lancamentos l ON l.idnfsexterno = k.idnfsexterno
 GROUP BY k.id, k.idnfsexterno, k.campo_afetado, k.valor_original, k.valor_sugerido, k.confidence_score,
          k.referencia, k.linhas_conflitantes, k.decisao_mantida, cfg.limite_auto_aplicacao, cfg.limite_outlier,
          cfg.limite_dupla_aprovacao;

-- Temp tables have no statistics until analysed; the joins below need them (keys only).
ANALYZE correcoes (divergencia_id, idnfsexterno, campo_afetado, motivo_nao_aplicada);

UPDATE audit.divergencias_processadas d
   SET dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb)
                           || jsonb_build_object('motivo_nao_aplicada', c.motivo_nao_aplicada)
  FROM correcoes c
 WHERE d.id = c.divergencia_id
   AND c.motivo_nao_aplicada IS NOT NULL
   AND d.dados_contextuais ->> 'motivo_nao_aplicada' IS DISTINCT FROM c.motivo_nao_aplicada;

-- One operation for the whole batch; only when there is something to apply.
CREATE TEMP TABLE operacao_correcao ON COMMIT DROP AS
SELECT audit.iniciar_operacao('BULK_UPDATE', 'Correção automática de divergências', %(usuario)s, 'AUTOMATION',
                              'byd.controladoria', %(sessao_id)s,
                              jsonb_build_object('data_inicio', %(data_inicio)s::text,
                                                 'data_fim', %(data_fim)s::text)) AS id
  FROM correcoes
 WHERE motivo_nao_aplicada IS NULL
HAVING count(*) > 0;

-- The write, with its before/after record on the operation (audit.gravar_controladoria,
-- shared with rollbacks and approvals).
CREATE TEMP TABLE escritas_controladoria ON COMMIT DROP AS
SELECT oc.id AS operacao_id, c.divergencia_id, c.idnfsexterno, c.campo_afetado,
       c.valor_original AS valor_anterior, c.valor_novo AS valor
  FROM correcoes c CROSS JOIN operacao_correcao oc
 WHERE c.motivo_nao_aplicada IS NULL;

UPDATE audit.operacoes o
   SET registros_afetados = (SELECT count(*) FROM escritas_controladoria)
  FROM operacao_correcao oc
 WHERE o.id = oc.id;

SELECT audit.gravar_controladoria();

UPDATE audit.divergencias_processadas d
   SET status_processamento = 'AUTO_APPLIED',
       valor_aplicado = c.valor_sugerido,
       decisao_automatica = true,
       processado_em = now(),
       processado_por = %(usuario)s,
       operacao_id = oc.id,
       sessao_alteracao_id = %(sessao_id)s,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb) - 'motivo_nao_aplicada'
  FROM correcoes c, operacao_correcao oc
 WHERE d.id = c.divergencia_id
   AND c.motivo_nao_aplicada IS NULL;

-- A corrected field holds a readable value within [0, limite_outlier] by construction:
-- the value checks open on that same field (negative, outlier, unreadable) no longer hold.
-- They point at the operation that closed them, so its rollback reopens them. Those of a rule
-- switched off, or on a field it no longer lists, stay open, as detection leaves them: no run
-- judges them.
UPDATE audit.divergencias_processadas d
   SET status_processamento = 'RESOLVED',
       processado_em = now(),
       processado_por = %(usuario)s,
       operacao_id = oc.id,
       sessao_alteracao_id = %(sessao_id)s,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb)
                           || jsonb_build_object('motivo_resolucao', 'campo corrigido automaticamente')
  -- The rule's fields as rows joined by equality, not "= ANY (r.campos)": the planner gave
  -- that filter a default selectivity, estimated one row, and looped over the corrections for
  -- every open divergence (73 s at 1M instead of a hash join).
  FROM correcoes c, operacao_correcao oc, audit.regras_divergencia r, unnest(r.campos) AS campo_regra(campo)
 WHERE c.motivo_nao_aplicada IS NULL
   AND d.idnfsexterno = c.idnfsexterno
   AND d.campo_afetado = c.campo_afetado
   AND r.codigo = d.tipo_divergencia AND NOT r.corrigivel AND r.ativo AND campo_regra.campo = d.campo_afetado
   AND d.status_processamento = 'DETECTED';

SELECT audit.finalizar_operacao(id, 'SUCCESS', NULL) FROM operacao_correcao;

UPDATE audit.sessoes_processamento s
   SET correcoes_aplicadas = (SELECT count(*) FROM audit.divergencias_processadas d
                               WHERE d.sessao_alteracao_id = s.id
                                 AND d.status_processamento = 'AUTO_APPLIED'),
       etapas_concluidas = array_append(array_remove(s.etapas_concluidas, 'apply_corrections'),
                                        'apply_corrections')
 WHERE s.id = %(sessao_id)s;
