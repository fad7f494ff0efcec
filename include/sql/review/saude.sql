-- saude: the pipeline's last run and its status, for the open health check (an approval's
-- session says nothing of how the runs went: audit.vw_execucoes leaves it out).
SELECT s.id, s.tipo_sessao, s.status, s.inicio_processamento, s.fim_processamento
  FROM audit.vw_execucoes s
 ORDER BY s.id DESC
 LIMIT 1
