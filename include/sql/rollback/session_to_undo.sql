-- divergencias_rollback: the session to undo, how many of its corrections are still applied,
-- and whether any operation of this system recorded them: the old system's sessions count
-- corrections (correcoes_aplicadas) that no operation of theirs links to a divergence, so
-- nothing here can undo them. Whether its run is still running: audit.sessao_em_execucao (047).
-- Parameter: sessao_id.
SELECT s.id, s.status, s.data_inicio, s.data_fim, coalesce(s.correcoes_aplicadas, 0) AS correcoes_aplicadas,
       audit.sessao_em_execucao(s) AS em_execucao,
       (SELECT count(*) FROM audit.divergencias_processadas d
          JOIN audit.operacoes o ON o.id = d.operacao_id
         WHERE o.sessao_id = s.id AND o.tipo_operacao IN ('BULK_UPDATE', 'APPROVE')
           AND d.status_processamento IN ('AUTO_APPLIED', 'APPROVED')) AS correcoes_ativas,
       EXISTS (SELECT 1 FROM audit.operacoes o
                WHERE o.sessao_id = s.id AND o.tipo_operacao IN ('BULK_UPDATE', 'APPROVE')) AS correcoes_registradas
  FROM audit.sessoes_processamento s
 WHERE s.id = %(sessao_id)s
