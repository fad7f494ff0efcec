-- desempenho: duration and throughput of the pipeline's recent runs (GET
-- relatorios/metricas/performance), newest first. Parameter: limit.
SELECT s.id, s.tipo_sessao, s.status, s.inicio_processamento, s.fim_processamento,
       extract(epoch FROM s.fim_processamento - s.inicio_processamento)::numeric(12,3) AS duracao_segundos,
       s.total_registros_analisados,
       round(s.total_registros_analisados
             / nullif(extract(epoch FROM s.fim_processamento - s.inicio_processamento), 0)::numeric, 1)
           AS registros_por_segundo,
       s.divergencias_detectadas, s.correcoes_aplicadas
  FROM audit.vw_execucoes s
 ORDER BY s.id DESC
 LIMIT %(limit)s
