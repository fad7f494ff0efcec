-- email_summary: the session's own figures and the pending-queue thresholds.
SELECT s.id, s.tipo_sessao, s.modo, s.ambiente, s.data_inicio, s.data_fim, s.total_registros_analisados,
       s.divergencias_detectadas, s.correcoes_aplicadas, s.arquivo_relatorio, s.log_completo AS avisos,
       (SELECT count(*) FROM audit.divergencias_processadas d
         WHERE d.status_processamento = 'DETECTED') AS pendentes,
       audit.configuracao_validada('pendentes_nivel_atencao')::int AS nivel_atencao,
       audit.configuracao_validada('pendentes_nivel_critico')::int AS nivel_critico
  FROM audit.sessoes_processamento s
 WHERE s.id = %(sessao_id)s
