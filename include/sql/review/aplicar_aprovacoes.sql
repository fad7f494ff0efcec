-- aplicar_aprovacoes: writes the approvals the API checked (ids, valores, aplicar: one entry
-- per divergence), in the caller's transaction. Every approval is kept in
-- audit.aprovacoes. Those to apply get a MANUAL_APPROVAL session of their own and one APPROVE
-- operation whose before/after audit.gravar_controladoria records while writing the field,
-- so divergencias_rollback undoes an approval by its session like any run's corrections.
-- Parameters: ids, valores, aplicar, usuario, comentario, versao. Returns the session and
-- operation, if any.
CREATE TEMP TABLE decisoes ON COMMIT DROP AS
SELECT * FROM unnest(%(ids)s::integer[], %(valores)s::numeric[], %(aplicar)s::boolean[])
           AS x(divergencia_id, valor, aplicar);

CREATE TEMP TABLE aplicacao (sessao_id integer, operacao_id integer) ON COMMIT DROP;

WITH sessao AS (
    INSERT INTO audit.sessoes_processamento
           (tipo_sessao, status, fim_processamento, duracao_total_segundos, correcoes_aplicadas,
            resultado_geral, versao_sistema, parametros_execucao, disparado_por)
    SELECT 'MANUAL_APPROVAL', 'COMPLETED', now(), 0, count(*),
           'COMPLETED: ' || count(*) || ' correção(ões) aprovada(s) por ' || %(usuario)s::text,
           %(versao)s, jsonb_build_object('usuario', %(usuario)s::text,
                                          'divergencias', jsonb_agg(x.divergencia_id ORDER BY x.divergencia_id)),
           %(usuario)s
      FROM decisoes x
     WHERE x.aplicar
    HAVING count(*) > 0
    RETURNING id, correcoes_aplicadas
), operacao AS (
    INSERT INTO audit.operacoes
           (tipo_operacao, descricao, usuario, origem, tabela_afetada, registros_afetados, sessao_id, metadata, status)
    SELECT 'APPROVE', 'Aprovação manual de ' || s.correcoes_aplicadas || ' divergência(s)', %(usuario)s, 'API',
           'byd.controladoria', s.correcoes_aplicadas, s.id,
           jsonb_strip_nulls(jsonb_build_object('comentario', %(comentario)s::text)), 'PENDING'
      FROM sessao s
    RETURNING id, sessao_id
)
INSERT INTO aplicacao SELECT sessao_id, id FROM operacao;

CREATE TEMP TABLE escritas_controladoria ON COMMIT DROP AS
SELECT a.operacao_id, d.id AS divergencia_id, d.idnfsexterno, d.campo_afetado,
       d.valor_original AS valor_anterior, audit.texto_monetario_canonico(x.valor) AS valor
  FROM decisoes x
  JOIN audit.divergencias_processadas d ON d.id = x.divergencia_id
 CROSS JOIN aplicacao a
 WHERE x.aplicar;

SELECT audit.gravar_controladoria();

UPDATE audit.divergencias_processadas d
   SET status_processamento = 'APPROVED',
       valor_aplicado = x.valor,
       decisao_automatica = false,
       processado_em = now(),
       processado_por = %(usuario)s,
       operacao_id = a.operacao_id,
       sessao_alteracao_id = a.sessao_id,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb) - 'motivo_nao_aplicada'
                           || jsonb_strip_nulls(jsonb_build_object('comentario_aprovacao', %(comentario)s::text))
  FROM decisoes x CROSS JOIN aplicacao a
 WHERE d.id = x.divergencia_id
   AND x.aplicar;

-- The field now holds a valid amount: value checks still open on it no longer hold. They
-- point at the operation that closed them, so its rollback reopens them. Those of a rule
-- switched off, or on a field it no longer lists, stay open, as detection and
-- apply_corrections leave them.
UPDATE audit.divergencias_processadas d
   SET status_processamento = 'RESOLVED',
       processado_em = now(),
       processado_por = %(usuario)s,
       operacao_id = a.operacao_id,
       sessao_alteracao_id = a.sessao_id,
       dados_contextuais = coalesce(d.dados_contextuais, '{}'::jsonb)
                           || jsonb_build_object('motivo_resolucao', 'campo corrigido por aprovação manual')
  FROM escritas_controladoria e CROSS JOIN aplicacao a, audit.regras_divergencia r
 WHERE d.idnfsexterno = e.idnfsexterno
   AND d.campo_afetado = e.campo_afetado
   AND r.codigo = d.tipo_divergencia AND NOT r.corrigivel AND r.ativo AND d.campo_afetado = ANY (r.campos)
   AND d.status_processamento = 'DETECTED';

-- Contract §6: correcoes_pendentes is the whole DETECTED queue the session leaves, as
-- close_session counts it for a run; known only now that the approved and resolved left it.
UPDATE audit.sessoes_processamento s
   SET correcoes_pendentes = (SELECT count(*) FROM audit.divergencias_processadas d
                               WHERE d.status_processamento = 'DETECTED')
  FROM aplicacao a
 WHERE s.id = a.sessao_id;

INSERT INTO audit.aprovacoes (divergencia_id, usuario, valor, comentario, operacao_id, sessao_id, valores_vistos)
SELECT x.divergencia_id, %(usuario)s, x.valor, %(comentario)s, a.operacao_id, a.sessao_id, audit.valores_aprovados(d)
  FROM decisoes x
  JOIN audit.divergencias_processadas d ON d.id = x.divergencia_id
  LEFT JOIN aplicacao a ON x.aplicar
 ORDER BY x.divergencia_id;

SELECT audit.finalizar_operacao(operacao_id, 'SUCCESS', NULL) FROM aplicacao;

SELECT sessao_id, operacao_id FROM aplicacao
