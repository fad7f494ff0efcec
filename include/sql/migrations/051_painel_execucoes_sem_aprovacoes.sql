-- 051: vw_dashboard_monitoramento.execucoes_hoje counts the pipeline's runs of the day, as the
-- old guide defined it when every session was a run of its job. Each approval through the
-- review API opens a MANUAL_APPROVAL session of its own (030), so a controller approving
-- twenty divergences one by one read 21 runs today; the review API's own "last run" and
-- performance figures already leave those sessions out. Same columns, same types: replaced in
-- place, grants and dependent objects kept.
CREATE OR REPLACE VIEW audit.vw_dashboard_monitoramento AS
SELECT (now() AT TIME ZONE 'America/Sao_Paulo')::date AS data_consulta,
       (SELECT count(*) FROM audit.vw_divergencias_abertas) AS divergencias_abertas,
       (SELECT count(*) FROM audit.sessoes_processamento
         WHERE inicio_processamento::date = (now() AT TIME ZONE 'America/Sao_Paulo')::date
           AND tipo_sessao <> 'MANUAL_APPROVAL') AS execucoes_hoje,
       (SELECT status FROM audit.sessoes_processamento
         WHERE tipo_sessao = 'DAILY_AUTO'
         ORDER BY inicio_processamento DESC LIMIT 1) AS status_ultima_execucao,
       (SELECT count(*) FROM audit.operacoes
         WHERE timestamp_inicio::date = (now() AT TIME ZONE 'America/Sao_Paulo')::date
           AND status = 'FAILED') AS erros_hoje;
