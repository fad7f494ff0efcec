-- aprovacoes: the approvals people gave one divergence, oldest first. Parameter: id.
SELECT a.usuario, a.aprovado_em, a.valor, a.comentario, a.operacao_id, a.sessao_id
  FROM audit.aprovacoes a
 WHERE a.divergencia_id = %(id)s
 ORDER BY a.id
