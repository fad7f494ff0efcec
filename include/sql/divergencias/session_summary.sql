-- email_summary: the session's own figures and the pending-queue thresholds. The report
-- counts only when this attempt wrote it: an export that starts again clears
-- arquivo_relatorio (step_started.sql), but a session cleared before it did still holds the
-- previous attempt's path, and that file is not this run's report. The levels as every reader
-- takes them (audit.niveis_pendencias: valid, and atencao <= critico).
SELECT s.id, s.tipo_sessao, s.modo, s.ambiente, s.data_inicio, s.data_fim, s.total_registros_analisados,
       s.divergencias_detectadas, s.correcoes_aplicadas,
       CASE WHEN 'export_csv' = ANY(s.etapas_concluidas) THEN s.arquivo_relatorio END AS arquivo_relatorio,
       s.log_completo AS avisos,
       (SELECT count(*) FROM audit.divergencias_processadas d
         WHERE d.status_processamento = 'DETECTED') AS pendentes,
       n.atencao AS nivel_atencao, n.critico AS nivel_critico
  FROM audit.sessoes_processamento s
 CROSS JOIN audit.niveis_pendencias() n
 WHERE s.id = %(sessao_id)s
