-- A data step's attempt, committed before its transaction starts: the transaction takes and
-- deletes this row (audit.assumir_etapa), a failure the worker records deletes it too, and one
-- left behind by a killed worker becomes a FAILED operation (audit.encerrar_etapas_interrompidas,
-- migration 064). Returns the attempt's id, the step's parameter tentativa.
-- Parameters: sessao_id, etapa, tipo_operacao, descricao, origem, tabela_afetada, usuario.
INSERT INTO audit.etapas_em_andamento (sessao_id, etapa, tipo_operacao, descricao, origem, tabela_afetada, usuario)
VALUES (%(sessao_id)s, %(etapa)s, %(tipo_operacao)s, %(descricao)s, %(origem)s, %(tabela_afetada)s, %(usuario)s)
RETURNING id
