-- saude: the last session and its status for the open health check.
SELECT s.id, s.tipo_sessao, s.status, s.inicio_processamento, s.fim_processamento
  FROM audit.sessoes_processamento s
 ORDER BY s.id DESC
 LIMIT 1
