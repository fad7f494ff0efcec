-- sessoes: the runs (and manual approvals) for GET auditoria/sessoes and the page, newest
-- first. correcoes_ativas = corrections of the session still applied, i.e. what a rollback
-- would undo. Parameters: status, tipo_sessao, limit, offset.
SELECT count(*) OVER () AS total, s.id, s.tipo_sessao, s.status, s.inicio_processamento, s.fim_processamento,
       s.duracao_total_segundos, s.data_inicio, s.data_fim, s.modo, s.dag_run_id,
       s.total_registros_analisados, s.divergencias_detectadas, s.correcoes_aplicadas, s.correcoes_pendentes,
       s.erros_encontrados, s.resultado_geral, s.arquivo_relatorio, s.ambiente, s.disparado_por,
       (SELECT count(*) FROM audit.operacoes o
          JOIN audit.divergencias_processadas d ON d.operacao_id = o.id
         WHERE o.sessao_id = s.id AND o.tipo_operacao IN ('BULK_UPDATE', 'APPROVE')
           AND d.status_processamento IN ('AUTO_APPLIED', 'APPROVED')) AS correcoes_ativas
  FROM audit.sessoes_processamento s
 WHERE (%(status)s::text IS NULL OR s.status = %(status)s)
   AND (%(tipo_sessao)s::text IS NULL OR s.tipo_sessao = %(tipo_sessao)s)
 ORDER BY s.id DESC
 LIMIT %(limit)s OFFSET %(offset)s
