-- historico: every status change of one divergence (audit.historico_divergencias, written by
-- the status triggers), oldest first. Parameter: id.
SELECT h.registrado_em, h.status_anterior, h.status_novo, h.usuario, h.sessao_id, h.operacao_id, h.detalhes
  FROM audit.historico_divergencias h
 WHERE h.divergencia_id = %(id)s
 ORDER BY h.registrado_em, h.id
