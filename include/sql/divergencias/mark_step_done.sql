-- Records that a step's work is done, in the same transaction as that work.
-- Parameters: sessao_id, etapa.
UPDATE audit.sessoes_processamento
   SET etapas_concluidas = array_append(array_remove(etapas_concluidas, %(etapa)s::text), %(etapa)s::text)
 WHERE id = %(sessao_id)s
