-- operacoes: the audit log for GET auditoria/operacoes, newest first, each filter applied
-- only when given. The before/after lists stay out (a run's can hold a million entries);
-- their sizes say how much each operation wrote. Parameters: tipo_operacao, usuario,
-- status, origem, sessao_id, data_inicio, data_fim, limit, offset.
SELECT count(*) OVER () AS total, o.id, o.tipo_operacao, o.descricao, o.usuario, o.origem, o.tabela_afetada,
       o.registros_afetados, o.status, o.sessao_id, o.rollback_de, o.timestamp_inicio, o.timestamp_fim,
       o.duracao_segundos, o.erro_mensagem, o.filtros_aplicados, o.metadata,
       jsonb_array_length(coalesce(o.dados_posteriores, '[]'::jsonb)) AS campos_gravados
  FROM audit.operacoes o
 WHERE (%(tipo_operacao)s::text IS NULL OR o.tipo_operacao = %(tipo_operacao)s)
   AND (%(usuario)s::text IS NULL OR o.usuario = %(usuario)s)
   AND (%(status)s::text IS NULL OR o.status = %(status)s)
   AND (%(origem)s::text IS NULL OR o.origem = %(origem)s)
   AND (%(sessao_id)s::integer IS NULL OR o.sessao_id = %(sessao_id)s)
   AND (%(data_inicio)s::date IS NULL OR o.timestamp_inicio >= %(data_inicio)s::date)
   AND (%(data_fim)s::date IS NULL OR o.timestamp_inicio < %(data_fim)s::date + 1)
 ORDER BY o.id DESC
 LIMIT %(limit)s OFFSET %(offset)s
