-- A step about to run (again): not done until its own work commits (mark_step_done, in that
-- work's transaction), so a re-run that fails is not taken for the success of an earlier
-- attempt. Committed on its own, before the step's transaction. Steps not run again (a
-- cleared email_summary re-runs open_session, not the data steps) keep their mark.
-- Parameters: sessao_id, etapa.
UPDATE audit.sessoes_processamento
   SET etapas_concluidas = array_remove(etapas_concluidas, %(etapa)s::text)
 WHERE id = %(sessao_id)s
