-- saude: the pipeline's last session and its status, for the open health check. Approvals
-- open sessions of their own (MANUAL_APPROVAL), which say nothing of how the runs went.
SELECT s.id, s.tipo_sessao, s.status, s.inicio_processamento, s.fim_processamento
  FROM audit.sessoes_processamento s
 WHERE s.tipo_sessao <> 'MANUAL_APPROVAL'
 ORDER BY s.id DESC
 LIMIT 1
