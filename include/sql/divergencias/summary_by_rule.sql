-- email_summary: per rule of the catalog, divergences new in this session, applied and
-- resolved by it, and pending in the whole queue. Every rule appears, with zeros, and so does
-- a code the catalog does not have (the old system's own rules, or one deleted from it),
-- whose divergences stay open: the table adds up to what the CSV lists. situacao says when
-- no run evaluated the rule (switched off, or not in the catalog): its zeros mean "not
-- looked for", not "none found".
-- Parameter: sessao_id.
SELECT coalesce(r.codigo, d.tipo_divergencia) AS tipo_divergencia,
       coalesce(r.rotulo, d.tipo_divergencia) AS rotulo,
       CASE WHEN r.codigo IS NULL THEN 'fora do catálogo: não avaliada'
            WHEN NOT r.ativo THEN 'regra inativa: não avaliada' END AS situacao,
       count(d.id) FILTER (WHERE d.sessao_id = %(sessao_id)s) AS novas,
       count(d.id) FILTER (WHERE d.status_processamento = 'AUTO_APPLIED'
                             AND d.sessao_alteracao_id = %(sessao_id)s) AS aplicadas,
       count(d.id) FILTER (WHERE d.status_processamento = 'DETECTED') AS pendentes,
       count(d.id) FILTER (WHERE d.status_processamento = 'RESOLVED'
                             AND d.sessao_alteracao_id = %(sessao_id)s) AS resolvidas
  FROM audit.regras_divergencia r
  FULL JOIN audit.divergencias_da_sessao(%(sessao_id)s) d ON d.tipo_divergencia = r.codigo
 GROUP BY r.ordem, coalesce(r.codigo, d.tipo_divergencia), coalesce(r.rotulo, d.tipo_divergencia), 3
 ORDER BY r.ordem NULLS LAST, 1
