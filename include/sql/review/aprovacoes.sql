-- aprovacoes: the approvals people gave one divergence, oldest first, each with what it is
-- now (situacao): the one that applied the value, a first approval still waiting
-- (audit.aprovacao_pendente), a first approval for the values the divergence still shows
-- (confirmed, or the divergence was closed otherwise), one given before the divergence was
-- closed and reopened by a rollback (migration 040), or one given for values a later run
-- replaced; these two no longer count. Parameter: id.
SELECT a.usuario, a.aprovado_em, a.valor, a.comentario, a.operacao_id, a.sessao_id,
       CASE WHEN a.operacao_id IS NOT NULL THEN 'aplicou'
            WHEN audit.aprovacao_pendente(a, d) THEN 'aguardando 2ª'
            WHEN d.status_processamento = 'DETECTED' AND coalesce(a.valores_vistos = audit.valores_aprovados(d), false)
                THEN 'sem efeito: divergência reaberta'
            WHEN coalesce(a.valores_vistos = audit.valores_aprovados(d), true) THEN '1ª aprovação'
            ELSE 'sem efeito: valores mudaram'
       END AS situacao
  FROM audit.aprovacoes a
  JOIN audit.divergencias_processadas d ON d.id = a.divergencia_id
 WHERE a.divergencia_id = %(id)s
 ORDER BY a.id
