-- A data step that failed: one FAILED operation with the error, written in its own
-- transaction after the step's own was rolled back, so vw_operacoes_resumo.total_erros and
-- the dashboard's erros_hoje count it.
-- Parameters: sessao_id, tipo_operacao, descricao, tabela_afetada, usuario, erro.
INSERT INTO audit.operacoes (tipo_operacao, descricao, usuario, origem, tabela_afetada, sessao_id, status,
                             timestamp_fim, duracao_segundos, erro_mensagem)
VALUES (%(tipo_operacao)s, %(descricao)s, %(usuario)s, 'AUTOMATION', %(tabela_afetada)s, %(sessao_id)s, 'FAILED',
        now(), 0, %(erro)s)
RETURNING id
