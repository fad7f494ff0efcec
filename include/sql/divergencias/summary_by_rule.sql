-- email_summary: per rule, divergences new in this session, applied and resolved by it,
-- and pending in the whole queue. Every rule appears, with zeros. Parameter: sessao_id.
SELECT r.tipo_divergencia,
       count(d.id) FILTER (WHERE d.sessao_id = %(sessao_id)s) AS novas,
       count(d.id) FILTER (WHERE d.status_processamento = 'AUTO_APPLIED'
                             AND d.sessao_alteracao_id = %(sessao_id)s) AS aplicadas,
       count(d.id) FILTER (WHERE d.status_processamento = 'DETECTED') AS pendentes,
       count(d.id) FILTER (WHERE d.status_processamento = 'RESOLVED'
                             AND d.sessao_alteracao_id = %(sessao_id)s) AS resolvidas
  FROM (VALUES (1, 'TRADE_MARKETING_BONUS'), (2, 'TRADE_MARKETING_TRADE'), (3, 'PENDENTE_VERIFICACAO'),
               (4, 'VALIDACAO_VALOR'), (5, 'VALOR_INVALIDO')) AS r(ordem, tipo_divergencia)
  LEFT JOIN audit.divergencias_processadas d
         ON d.tipo_divergencia = r.tipo_divergencia
        AND (d.sessao_id = %(sessao_id)s OR d.sessao_alteracao_id = %(sessao_id)s
             OR d.status_processamento = 'DETECTED')
 GROUP BY r.ordem, r.tipo_divergencia
 ORDER BY r.ordem
