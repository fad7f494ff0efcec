-- detect_divergences: evaluates the rule catalog (audit.regras_divergencia) over the run's
-- period and over the sales of every open (DETECTED) divergence, so each one is re-checked;
-- records the new ones, refreshes the open ones and marks RESOLVED those that no longer
-- hold. Refuses to run on a source that looks broken. One transaction.
-- Parameters: sessao_id, data_inicio, data_fim, tentativa.

-- First, before waiting for anything: this attempt's row (migration 064), locked until the
-- transaction ends and deleted if it commits; a killed worker's is left for the next attempt.
SELECT audit.assumir_etapa(%(tentativa)s);

-- Overlapping runs take turns here and in apply_corrections.
SELECT audit.iniciar_etapa(serializada => true);

-- Thresholds, validated: a missing, inactive or malformed setting stops the step here.
CREATE TEMP TABLE parametros_deteccao ON COMMIT DROP AS
SELECT audit.configuracao_validada('tolerancia_valor')::numeric AS tolerancia_valor,
       audit.configuracao_validada('limite_outlier')::numeric AS limite_outlier;

-- vendas_lidas, regras_disparadas, contexto_vendas (see migration 020).
SELECT audit.avaliar_regras(%(data_inicio)s::date, %(data_fim)s::date);

-- One row per (sale, rule, field). When the view repeats a sale with different values, the
-- same row is chosen every run (the order below), and linhas_conflitantes keeps it from
-- being applied.
CREATE TEMP TABLE candidatas ON COMMIT DROP AS
SELECT DISTINCT ON (d.idnfsexterno, d.tipo_divergencia, d.campo_afetado)
       d.idnfsexterno, d.tipo_divergencia, d.campo_afetado, d.valor_original, d.valor_referencia,
       -- numeric(15,2) columns: a value too large to fit keeps only its text (valor_original);
       -- measured as stored, rounded to cents ('9999999999999.995' rounds to 10^13)
       CASE WHEN abs(round(d.valor_anterior, 2)) < 1e13 THEN d.valor_anterior END AS valor_anterior,
       CASE WHEN abs(round(d.valor_sugerido, 2)) < 1e13 THEN d.valor_sugerido END AS valor_sugerido,
       r.confidence_score, ARRAY[d.regra] AS regras_aplicadas,
       -- a date YYYY-MM cannot write (a typo year 20261, BC, infinity) counts as no date
       to_char(CASE WHEN x.data_final_venda >= '0001-01-01' AND x.data_final_venda < '10000-01-01'
                    THEN x.data_final_venda ELSE d.dta_processamento END, 'YYYY-MM') AS competencia,
       d.dta_processamento,
       -- a sale the view repeats may have a row in the period besides the one kept here
       bool_or(d.no_periodo) OVER (PARTITION BY d.idnfsexterno, d.tipo_divergencia, d.campo_afetado) AS no_periodo,
       jsonb_strip_nulls(jsonb_build_object(
           'competencia_origem', x.mes_origem, 'modelo', x.des_modelo, 'chassi', x.chassi,
           'revenda', x.revenda, 'apontamento', d.apontamento, 'valor_referencia', d.valor_referencia,
           'correcao_automatica', r.corrigivel,
           'linhas_conflitantes', CASE WHEN x.versoes > 1 THEN x.linhas END)) AS dados_contextuais
  FROM regras_disparadas d
  JOIN audit.regras_divergencia r ON r.codigo = d.tipo_divergencia
  LEFT JOIN contexto_vendas x ON x.idnfsexterno = d.idnfsexterno
 ORDER BY d.idnfsexterno, d.tipo_divergencia, d.campo_afetado, d.valor_original, d.valor_referencia,
          d.dta_processamento;

-- Statistics for the joins below, on their keys only (the JSON context would triple the cost).
ANALYZE candidatas (idnfsexterno, tipo_divergencia, campo_afetado);

-- The period as the view returns it now: rows analysed, and sales without a date (odd data
-- for the warnings). A count reads no column, so it is the cheapest pass over the view.
CREATE TEMP TABLE leitura_periodo ON COMMIT DROP AS
SELECT (SELECT count(*) FROM byd.bonus_view v
         WHERE v.dta_processamento >= %(data_inicio)s::date
           AND v.dta_processamento < %(data_fim)s::date + 1) AS linhas,
       (SELECT count(*) FROM byd.bonus_view n WHERE n.dta_processamento IS NULL) AS sem_data,
       (SELECT coalesce(sum(x.linhas - 1), 0) FROM contexto_vendas x) AS linhas_repetidas;

-- A broken source (empty view, a join gone wrong) must not empty the queue: stop before
-- writing unless a person confirmed the mass resolution (param confirmar_resolucao_em_massa).
SELECT audit.verificar_fonte(
           (SELECT linhas FROM leitura_periodo),
           (SELECT count(*) FROM audit.divergencias_processadas d
             WHERE d.status_processamento = 'DETECTED'
               AND d.dta_processamento >= %(data_inicio)s::date
               AND d.dta_processamento < %(data_fim)s::date + 1),
           (SELECT count(*) FROM audit.divergencias_processadas d
             WHERE d.status_processamento = 'DETECTED'
               AND NOT EXISTS (SELECT 1 FROM vendas_lidas v WHERE v.idnfsexterno = d.idnfsexterno)),
           (SELECT count(*) FROM audit.divergencias_processadas d WHERE d.status_processamento = 'DETECTED'),
           (SELECT coalesce((s.parametros_execucao ->> 'confirmar_resolucao_em_massa')::boolean, false)
              FROM audit.sessoes_processamento s WHERE s.id = %(sessao_id)s));

-- The operation that records this run's findings; finished below with its count.
CREATE TEMP TABLE operacao_deteccao ON COMMIT DROP AS
SELECT audit.iniciar_operacao('DETECT', 'Detecção de divergências', %(usuario)s, 'AUTOMATION',
                              'audit.divergencias_processadas', %(sessao_id)s,
                              jsonb_build_object('data_inicio', %(data_inicio)s::text,
                                                 'data_fim', %(data_fim)s::text)) AS id;

-- Open rows that name no field their rule judges: the old system recorded its negative and
-- outlier checks once per sale (campo_afetado 'valores_bonus'), and its schema allowed no
-- campo at all.
-- Such a row is judged by its sale: it holds while the sale breaks its rule on any field.
-- A field the rules read but its rule no longer lists (an admin narrowed campos) is not one:
-- no run judges that field, so its row stays open (motivos below).
CREATE TEMP TABLE abertas_da_venda ON COMMIT DROP AS
SELECT d.id, d.idnfsexterno, d.tipo_divergencia
  FROM audit.divergencias_processadas d
  LEFT JOIN audit.regras_divergencia r ON r.codigo = d.tipo_divergencia
 WHERE d.status_processamento = 'DETECTED'
   AND NOT coalesce(d.campo_afetado = ANY (r.campos), false)
   AND NOT coalesce(d.campo_afetado = ANY (audit.campos_das_regras()), false);

-- Open divergences that still hold take the values seen now, so apply_corrections compares
-- the field with what this detection read, and their rule's confidence as the catalog has it
-- now (an admin who lowers it below limite_auto_aplicacao stops them being applied). Rows adopted from the old system get their
-- valor_original and period here on the first run. A reference text gone NULL is absent
-- from the new context, so the old one is dropped rather than kept: apply_corrections and
-- audit.decisao_mantida read it as the source's value.
UPDATE audit.divergencias_processadas d
   SET valor_original = c.valor_original,
       valor_anterior = c.valor_anterior,
       confidence_score = c.confidence_score,
       valor_sugerido = c.valor_sugerido,
       regras_aplicadas = c.regras_aplicadas,
       competencia = c.competencia,
       dta_processamento = c.dta_processamento,
       dados_contextuais = (coalesce(d.dados_contextuais, '{}'::jsonb) - '{linhas_conflitantes,valor_referencia}'::text[])
                           || c.dados_contextuais
  FROM candidatas c
 WHERE d.status_processamento = 'DETECTED'
   AND c.idnfsexterno = d.idnfsexterno
   AND c.tipo_divergencia = d.tipo_divergencia
   AND c.campo_afetado = d.campo_afetado
   AND (d.valor_original, d.valor_anterior, d.confidence_score, d.valor_sugerido, d.regras_aplicadas,
        d.competencia, d.dta_processamento, d.dados_contextuais -> 'linhas_conflitantes',
        d.dados_contextuais ->> 'valor_referencia')
       IS DISTINCT FROM (c.valor_original, c.valor_anterior, c.confidence_score, c.valor_sugerido,
                         c.regras_aplicadas, c.competencia, c.dta_processamento,
                         c.dados_contextuais -> 'linhas_conflitantes', c.valor_referencia);

-- New divergences, of the period only: a sale outside it is read just to re-check the
-- divergences still open on it. Not reopened: one already open, or one a person REJECTED or a rollback
-- undid while the source amounts stay the same (audit.decisao_mantida: equal texts, or the
-- same exact amount however written, never rounded). No ON CONFLICT: runs take turns (iniciar_etapa above) and
-- nothing else records DETECTED rows, so a duplicate can only mean a bug, and
-- uq_divergencias_abertas then fails the step rather than hiding it.
INSERT INTO audit.divergencias_processadas
       (operacao_id, sessao_id, idnfsexterno, tipo_divergencia, campo_afetado, competencia,
        valor_original, valor_anterior, valor_sugerido, status_processamento, decisao_automatica,
        confidence_score, regras_aplicadas, dados_contextuais, dta_processamento, processado_por)
SELECT od.id, %(sessao_id)s, c.idnfsexterno, c.tipo_divergencia, c.campo_afetado, c.competencia,
       c.valor_original, c.valor_anterior, c.valor_sugerido, 'DETECTED', false,
       c.confidence_score, c.regras_aplicadas, c.dados_contextuais, c.dta_processamento, NULL
  FROM candidatas c
 CROSS JOIN operacao_deteccao od
 WHERE c.no_periodo
   AND NOT EXISTS (
        SELECT 1 FROM audit.divergencias_processadas d
         WHERE d.idnfsexterno = c.idnfsexterno
           AND d.tipo_divergencia = c.tipo_divergencia
           AND d.campo_afetado = c.campo_afetado
           AND (d.status_processamento = 'DETECTED'
                OR audit.decisao_mantida(d, c.valor_original, c.valor_referencia, c.valor_anterior,
                                         c.valor_sugerido)))
 ORDER BY c.dta_processamento, c.idnfsexterno, c.tipo_divergencia, c.campo_afetado;

-- Statistics that still describe a much smaller table (analysed empty before a first run,
-- or before a long backfill) make PostgreSQL plan the joins below and apply_corrections'
-- as if few divergences were open, with nested loops that grow with the square of the rows
-- (45 s at a million sales). Refreshed here, in this transaction, only then: autovacuum
-- keeps them current between daily runs, and a never-analysed table is estimated by size.
DO $$
BEGIN
    IF (SELECT c.reltuples >= 0 AND coalesce(s.n_mod_since_analyze, 0) + (SELECT count(*) FROM operacao_deteccao od
                                                                       JOIN audit.divergencias_processadas d ON d.operacao_id = od.id)
                                      > 2 * c.reltuples + 1000
          FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
         WHERE c.oid = 'audit.divergencias_processadas'::regclass) THEN
        ANALYZE audit.divergencias_processadas;
    END IF;
END
$$;

-- Open rows no run judges say why, for the person who must decide them (never applied:
-- apply_corrections reads only the catalog's active correctable rules): a rule the catalog
-- does not have (the old system's own), one switched off (ativo = false), or a field taken out
-- of its rule's campos. Once the rule judges the row again, the reason is dropped here, before
-- the row may be resolved below, rather than left to contradict what the run decided.
WITH motivos AS (
    SELECT d.id,
           CASE WHEN r.codigo IS NULL
                THEN 'regra ' || d.tipo_divergencia || ' fora do catálogo (audit.regras_divergencia): nenhuma '
                     || 'execução a avalia; fica aberta até uma pessoa decidir'
                WHEN NOT r.ativo
                THEN 'regra ' || d.tipo_divergencia || ' inativa em audit.regras_divergencia (ativo = false): '
                     || 'nenhuma execução a avalia nem a corrige enquanto estiver inativa; fica aberta até '
                     || 'uma pessoa decidir ou a regra ser reativada'
                WHEN d.id NOT IN (SELECT a.id FROM abertas_da_venda a)
                     AND NOT coalesce(d.campo_afetado = ANY (r.campos), false)
                THEN 'campo ' || d.campo_afetado || ' fora dos campos da regra '
                     || d.tipo_divergencia || ' em audit.regras_divergencia: nenhuma execução o avalia nem o '
                     || 'corrige; fica aberta até uma pessoa decidir ou o campo voltar à regra'
           END AS motivo
      FROM audit.divergencias_processadas d
      LEFT JOIN audit.regras_divergencia r ON r.codigo = d.tipo_divergencia
     WHERE d.status_processamento = 'DETECTED'
       AND (r.codigo IS NULL OR NOT r.ativo OR NOT coalesce(d.campo_afetado = ANY (r.campos), false)
            OR d.dados_contextuais ? 'motivo_nao_avaliada')
)
UPDATE audit.divergencias_processadas d
   SET dados_contextuais = CASE WHEN m.motivo IS NULL THEN d.dados_contextuais - 'motivo_nao_avaliada'
                                ELSE coalesce(d.dados_contextuais, '{}'::jsonb)
                                     || jsonb_build_object('motivo_nao_avaliada', m.motivo) END
  FROM motivos m
 WHERE d.id = m.id
   AND d.dados_contextuais ->> 'motivo_nao_avaliada' IS DISTINCT FROM m.motivo;

-- Open divergences resolved by this run, each with why: the condition no longer holds, the
-- sale is gone, or (a row judged by its sale, abertas_da_venda) its rule's divergences of
-- that sale are now open field by field, which replace it rather than stand beside it.
-- A rule the catalog does not have, has switched off, or that no longer lists the row's field
-- was not evaluated on it, so no run can say its condition is gone: such a row is resolved
-- only when its sale is gone.
CREATE TEMP TABLE resolvidas ON COMMIT DROP AS
SELECT d.id,
       CASE WHEN d.idnfsexterno IN (SELECT v.idnfsexterno FROM vendas_lidas v)
            THEN 'a condição não se verifica mais na origem'
            ELSE 'venda não encontrada na origem (byd.bonus_view)' END AS motivo
  FROM audit.divergencias_processadas d
 WHERE d.status_processamento = 'DETECTED'
   AND (EXISTS (SELECT 1 FROM audit.regras_divergencia r
                 WHERE r.codigo = d.tipo_divergencia AND r.ativo
                   AND (d.campo_afetado = ANY (r.campos) OR d.id IN (SELECT a.id FROM abertas_da_venda a)))
        OR NOT EXISTS (SELECT 1 FROM vendas_lidas v WHERE v.idnfsexterno = d.idnfsexterno))
   AND NOT EXISTS (SELECT 1 FROM candidatas c
                    WHERE c.idnfsexterno = d.idnfsexterno
                      AND c.tipo_divergencia = d.tipo_divergencia
                      AND c.campo_afetado = d.campo_afetado)
   AND NOT EXISTS (SELECT 1 FROM abertas_da_venda a
                     JOIN candidatas c ON c.idnfsexterno = a.idnfsexterno AND c.tipo_divergencia = a.tipo_divergencia
                    WHERE a.id = d.id)
UNION ALL
SELECT a.id, 'substituída pelas divergências por campo da mesma venda e regra: registro(s) '
             || string_agg(p.id::text, ', ' ORDER BY p.id)
  FROM abertas_da_venda a
  JOIN audit.divergencias_processadas p
    ON p.idnfsexterno = a.idnfsexterno AND p.tipo_divergencia = a.tipo_divergencia
 WHERE p.status_processamento = 'DETECTED'
   AND p.id NOT IN (SELECT id FROM abertas_da_venda)
 GROUP BY a.id;

-- operacao_id: the history names this run's detection as what resolved it, not the operation
-- that recorded it (another session's) or the rollback that reopened it.
UPDATE audit.divergencias_processadas d
   SET status_processamento = 'RESOLVED',
       processado_em = now(),
       processado_por = %(usuario)s,
       operacao_id = od.id,
       sessao_alteracao_id = %(sessao_id)s,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb) || jsonb_build_object('motivo_resolucao', r.motivo)
  FROM resolvidas r CROSS JOIN operacao_deteccao od
 WHERE d.id = r.id
   AND d.status_processamento = 'DETECTED';

UPDATE audit.operacoes o
   SET registros_afetados = (SELECT count(*) FROM audit.divergencias_processadas d WHERE d.operacao_id = o.id)
  FROM operacao_deteccao od
 WHERE o.id = od.id;

SELECT audit.finalizar_operacao(id, 'SUCCESS', NULL) FROM operacao_deteccao;

-- Odd source data that no rule records, kept on the session and shown in the email.
UPDATE audit.sessoes_processamento s
   SET total_registros_analisados = p.linhas,
       log_completo = nullif(concat_ws(E'\n',
           CASE WHEN p.sem_data > 0 THEN 'AVISO: ' || p.sem_data || ' venda(s) sem dta_processamento em '
                                         || 'byd.bonus_view: ficam fora de qualquer período.' END,
           CASE WHEN p.linhas_repetidas > 0 THEN 'AVISO: ' || p.linhas_repetidas
                || ' linha(s) repetida(s) de idnfsexterno em byd.bonus_view, em vendas com divergência: '
                || 'cada divergência foi registrada uma única vez.' END,
           (SELECT 'AVISO: ' || count(*) || ' venda(s) com linhas divergentes em byd.bonus_view ('
                   || string_agg(a.idnfsexterno, ', ' ORDER BY a.idnfsexterno) FILTER (WHERE a.ordem <= 10)
                   || CASE WHEN count(*) > 10 THEN ', …' ELSE '' END
                   || '): suas divergências ficam para revisão, nunca aplicadas automaticamente.'
              FROM (SELECT idnfsexterno, row_number() OVER (ORDER BY idnfsexterno) AS ordem
                      FROM contexto_vendas WHERE versoes > 1) a
            HAVING count(*) > 0)), ''),
       divergencias_detectadas = (SELECT count(*) FROM audit.divergencias_processadas d
                                   WHERE d.sessao_id = s.id),
       etapas_concluidas = array_append(array_remove(s.etapas_concluidas, 'detect_divergences'),
                                        'detect_divergences')
  FROM leitura_periodo p
 WHERE s.id = %(sessao_id)s;
