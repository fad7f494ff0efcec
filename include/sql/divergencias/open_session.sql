-- open_session: one audit session per DAG run. A retried or cleared run reopens its own
-- session (same dag_run_id) instead of opening a second one, keeping the steps done: clearing
-- any task clears this setup too, and the steps not cleared do not run again (each step
-- drops its own mark when it starts, step_started.sql). Returns what every later task
-- needs: id, period and mode.

SELECT audit.iniciar_etapa();

-- Safety net for a run whose close_session could not reach the database, and for the
-- sessions the old system's job left RUNNING when it died: no run lasts six hours (each
-- task times out after one), so such a session is FAILED, not RUNNING. A step a killed worker
-- left behind, of such a session or of one already closed (its step died after close_session
-- ran), is a FAILED operation (migration 064).
WITH abandonadas AS (
UPDATE audit.sessoes_processamento
   SET status = 'FAILED',
       fim_processamento = now(),
       erros_encontrados = greatest(erros_encontrados, 1),
       resultado_geral = CASE WHEN dag_run_id IS NULL AND versao_sistema IS DISTINCT FROM %(versao_sistema)s
                              THEN 'FAILED: sessão deixada em RUNNING pelo sistema anterior, encerrada na adoção'
                              ELSE 'FAILED: sessão abandonada (a execução terminou sem fechar a sessão)' END
 WHERE status = 'RUNNING'
   AND inicio_processamento < now() - interval '6 hours'
   AND dag_run_id IS DISTINCT FROM %(dag_run_id)s
RETURNING id)
SELECT audit.encerrar_etapas_interrompidas(id)
  FROM (SELECT id FROM abandonadas
         UNION
        SELECT e.sessao_id FROM audit.etapas_em_andamento e
          JOIN audit.sessoes_processamento s ON s.id = e.sessao_id AND s.status <> 'RUNNING') AS encerradas;

INSERT INTO audit.sessoes_processamento AS s
       (tipo_sessao, status, data_inicio, data_fim, modo, dag_run_id, ambiente, versao_sistema,
        parametros_execucao, disparado_por)
VALUES (%(tipo_sessao)s, 'RUNNING', %(data_inicio)s::date, %(data_fim)s::date, %(modo)s, %(dag_run_id)s,
        %(ambiente)s, %(versao_sistema)s, %(parametros_execucao)s::jsonb, %(disparado_por)s)
ON CONFLICT (dag_run_id) DO UPDATE
   SET status = 'RUNNING',
       fim_processamento = NULL
-- ISO dates whatever the server's DateStyle: they name the CSV file.
RETURNING s.id, to_char(s.data_inicio, 'YYYY-MM-DD'), to_char(s.data_fim, 'YYYY-MM-DD'), s.modo
