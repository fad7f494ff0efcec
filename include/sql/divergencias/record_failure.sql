-- A data step or a rollback that failed: one FAILED operation with the error, written in its
-- own transaction after the step's own was rolled back, so vw_operacoes_resumo.total_erros and
-- the dashboard's erros_hoje count it. A rollback names the session it undoes in filtros
-- (sessao_id NULL), as its ROLLBACK operation does.
-- Parameters: sessao_id, filtros, tipo_operacao, descricao, origem, tabela_afetada, usuario, erro.
INSERT INTO audit.operacoes (tipo_operacao, descricao, usuario, origem, tabela_afetada, sessao_id,
                             filtros_aplicados, status, timestamp_fim, duracao_segundos, erro_mensagem)
VALUES (%(tipo_operacao)s, %(descricao)s, %(usuario)s, %(origem)s, %(tabela_afetada)s, %(sessao_id)s,
        %(filtros)s, 'FAILED', now(), 0, %(erro)s)
RETURNING id
