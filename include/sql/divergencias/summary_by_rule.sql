-- email_summary: per rule of the catalog, divergences new in this session, applied and
-- resolved by it, and pending in the whole queue. Every rule appears, with zeros.
-- Parameter: sessao_id.
SELECT r.codigo AS tipo_divergencia, r.rotulo,
       count(d.id) FILTER (WHERE d.sessao_id = %(sessao_id)s) AS novas,
       count(d.id) FILTER (WHERE d.status_processamento = 'AUTO_APPLIED'
                             AND d.sessao_alteracao_id = %(sessao_id)s) AS aplicadas,
       count(d.id) FILTER (WHERE d.status_processamento = 'DETECTED') AS pendentes,
       count(d.id) FILTER (WHERE d.status_processamento = 'RESOLVED'
                             AND d.sessao_alteracao_id = %(sessao_id)s) AS resolvidas
  FROM audit.regras_divergencia r
  LEFT JOIN audit.divergencias_da_sessao(%(sessao_id)s) d ON d.tipo_divergencia = r.codigo
 GROUP BY r.ordem, r.codigo, r.rotulo
 ORDER BY r.ordem, r.codigo
