-- A step about to run (again): not done until its own work commits (mark_step_done, in that
-- work's transaction), so a re-run that fails is not taken for the success of an earlier
-- attempt. Committed on its own, before the step's transaction. Steps not run again (a
-- cleared email_summary re-runs open_session, not the data steps) keep their mark. The report
-- an earlier attempt wrote is not this attempt's: the session points at a CSV again only
-- once this export records it (a cleared run may have detected and applied anew).
-- Parameters: sessao_id, etapa.
UPDATE audit.sessoes_processamento
   SET etapas_concluidas = array_remove(etapas_concluidas, %(etapa)s::text),
       arquivo_relatorio = CASE WHEN %(etapa)s::text = 'export_csv' THEN NULL ELSE arquivo_relatorio END
 WHERE id = %(sessao_id)s
