-- sessao: whether a session exists and its status, before a rollback is requested.
-- Parameter: id.
SELECT s.id, s.status, s.tipo_sessao FROM audit.sessoes_processamento s WHERE s.id = %(id)s
