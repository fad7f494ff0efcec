-- 058: one definition of "the pipeline's runs". Every session is a run of the daily DAG
-- (DAILY_AUTO, MANUAL_RUN, REPROCESSING) except those an approval through the review API
-- opens for itself (MANUAL_APPROVAL, 030), which say nothing of how the runs went. The
-- dashboard (051), the health check, the performance report and the summary's last run each
-- restated that; they now read this view, so a new kind of session is decided here once.
CREATE VIEW audit.vw_execucoes AS
SELECT s.*
  FROM audit.sessoes_processamento s
 WHERE s.tipo_sessao <> 'MANUAL_APPROVAL';

COMMENT ON VIEW audit.vw_execucoes IS
    'Execuções do pipeline: todas as sessões menos as abertas por uma aprovação manual (MANUAL_APPROVAL).';

-- Same columns, same types as 051: replaced in place, grants and dependent objects kept.
CREATE OR REPLACE VIEW audit.vw_dashboard_monitoramento AS
SELECT (now() AT TIME ZONE 'America/Sao_Paulo')::date AS data_consulta,
       (SELECT count(*) FROM audit.vw_divergencias_abertas) AS divergencias_abertas,
       (SELECT count(*) FROM audit.vw_execucoes
         WHERE inicio_processamento::date = (now() AT TIME ZONE 'America/Sao_Paulo')::date) AS execucoes_hoje,
       (SELECT status FROM audit.sessoes_processamento
         WHERE tipo_sessao = 'DAILY_AUTO'
         ORDER BY inicio_processamento DESC LIMIT 1) AS status_ultima_execucao,
       (SELECT count(*) FROM audit.operacoes
         WHERE timestamp_inicio::date = (now() AT TIME ZONE 'America/Sao_Paulo')::date
           AND status = 'FAILED') AS erros_hoje;
