-- open_session: one audit session per DAG run. A retried or cleared run reopens its own
-- session (same dag_run_id) instead of opening a second one. Returns what every later
-- task needs: id, period and mode.
INSERT INTO audit.sessoes_processamento AS s
       (tipo_sessao, status, data_inicio, data_fim, modo, dag_run_id, ambiente, versao_sistema,
        parametros_execucao)
VALUES (%(tipo_sessao)s, 'RUNNING', %(data_inicio)s::date, %(data_fim)s::date, %(modo)s, %(dag_run_id)s,
        %(ambiente)s, %(versao_sistema)s, %(parametros_execucao)s::jsonb)
ON CONFLICT (dag_run_id) DO UPDATE
   SET status = 'RUNNING',
       fim_processamento = NULL,
       etapas_concluidas = '{}'
RETURNING s.id, s.data_inicio::text, s.data_fim::text, s.modo
