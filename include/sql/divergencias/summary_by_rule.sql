-- email_summary: per rule of the catalog, divergences new in this session, applied and
-- resolved by it, and pending in the whole queue. Every rule appears, with zeros, and so does
-- a code no longer in the catalog (a rule deleted from it, whose open divergences this run
-- resolved): the table adds up to what the CSV lists.
-- Parameter: sessao_id.
SELECT coalesce(r.codigo, d.tipo_divergencia) AS tipo_divergencia,
       coalesce(r.rotulo, d.tipo_divergencia) AS rotulo,
       count(d.id) FILTER (WHERE d.sessao_id = %(sessao_id)s) AS novas,
       count(d.id) FILTER (WHERE d.status_processamento = 'AUTO_APPLIED'
                             AND d.sessao_alteracao_id = %(sessao_id)s) AS aplicadas,
       count(d.id) FILTER (WHERE d.status_processamento = 'DETECTED') AS pendentes,
       count(d.id) FILTER (WHERE d.status_processamento = 'RESOLVED'
                             AND d.sessao_alteracao_id = %(sessao_id)s) AS resolvidas
  FROM audit.regras_divergencia r
  FULL JOIN audit.divergencias_da_sessao(%(sessao_id)s) d ON d.tipo_divergencia = r.codigo
 GROUP BY r.ordem, coalesce(r.codigo, d.tipo_divergencia), coalesce(r.rotulo, d.tipo_divergencia)
 ORDER BY r.ordem NULLS LAST, 1
