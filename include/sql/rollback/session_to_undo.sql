-- divergencias_rollback: the session to undo, and how many of its corrections are still
-- applied. Parameter: sessao_id.
SELECT s.id, s.status, s.data_inicio, s.data_fim,
       (SELECT count(*) FROM audit.divergencias_processadas d
          JOIN audit.operacoes o ON o.id = d.operacao_id
         WHERE o.sessao_id = s.id AND o.tipo_operacao IN ('BULK_UPDATE', 'APPROVE')
           AND d.status_processamento IN ('AUTO_APPLIED', 'APPROVED')) AS correcoes_ativas
  FROM audit.sessoes_processamento s
 WHERE s.id = %(sessao_id)s
