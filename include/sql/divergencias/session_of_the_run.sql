-- The session a DAG run already opened, if any: open_session reopens it (same dag_run_id)
-- with its own type, period and mode, so validate_and_migrate refuses a run that came back
-- as another kind of run (a backfill's --reprocess-behavior turns the day's run into a
-- backfill run with the backfill's conf). Parameter: dag_run_id.
SELECT s.id, s.tipo_sessao, s.modo, to_char(s.data_inicio, 'YYYY-MM-DD'), to_char(s.data_fim, 'YYYY-MM-DD')
  FROM audit.sessoes_processamento s
 WHERE s.dag_run_id = %(dag_run_id)s
