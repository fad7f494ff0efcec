-- 004: the monitoring views the old deployment guide taught controllers to query.
-- Columns are listed explicitly so later migrations can add to the tables freely.
CREATE OR REPLACE VIEW audit.vw_divergencias_abertas AS
SELECT d.id, d.sessao_id, d.idnfsexterno, d.tipo_divergencia, d.campo_afetado, d.competencia,
       d.valor_original, d.valor_anterior, d.valor_sugerido, d.status_processamento,
       d.confidence_score, d.regras_aplicadas, d.detectado_em, d.dados_contextuais,
       (current_date - d.detectado_em::date) AS dias_pendente
  FROM audit.divergencias_processadas d
 WHERE d.status_processamento IN ('DETECTED', 'APPROVED')
   AND d.processado_em IS NULL
 ORDER BY d.detectado_em, d.id;

CREATE OR REPLACE VIEW audit.vw_operacoes_resumo AS
SELECT o.timestamp_inicio::date AS data,
       o.tipo_operacao,
       o.origem,
       o.status,
       count(*) AS total_operacoes,
       coalesce(sum(o.registros_afetados), 0) AS total_registros_afetados,
       avg(o.duracao_segundos) AS duracao_media_segundos,
       count(*) FILTER (WHERE o.status = 'FAILED') AS total_falhas
  FROM audit.operacoes o
 GROUP BY 1, 2, 3, 4;

CREATE OR REPLACE VIEW audit.vw_dashboard_monitoramento AS
SELECT current_date AS data_consulta,
       (SELECT count(*) FROM audit.vw_divergencias_abertas) AS divergencias_abertas,
       (SELECT count(*) FROM audit.sessoes_processamento
         WHERE inicio_processamento::date = current_date) AS execucoes_hoje,
       (SELECT status FROM audit.sessoes_processamento
         WHERE tipo_sessao = 'DAILY_AUTO'
         ORDER BY inicio_processamento DESC LIMIT 1) AS status_ultima_execucao,
       (SELECT count(*) FROM audit.operacoes
         WHERE timestamp_inicio::date = current_date AND status = 'FAILED') AS erros_hoje;
