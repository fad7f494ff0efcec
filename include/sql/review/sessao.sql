-- sessao: whether a session exists and its status, before a rollback is requested; a session
-- RUNNING for less than six hours is still being processed (rollback/session_to_undo.sql).
-- Parameter: id.
SELECT s.id, s.status, s.tipo_sessao,
       coalesce(s.status = 'RUNNING'
                AND s.inicio_processamento > (now() AT TIME ZONE 'America/Sao_Paulo') - interval '6 hours',
                false) AS em_execucao
  FROM audit.sessoes_processamento s
 WHERE s.id = %(id)s
